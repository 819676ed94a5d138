"""A lock that says how often, and for how long, threads waited for it.

The `threads` strategy keeps its core consistent with one lock: every worker takes it to report
a request sent and a response received, and the dispatcher takes it to ask for the next request.
Whether that lock is a bottleneck is a measurement, not a guess: this wrapper first tries the
lock without blocking, which costs no more than a plain acquire when it is free, and only when
another thread holds it does it read the clock around the wait. Its counters are changed while
the lock is held, so they need no lock of their own.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType


class MeasuredLock:
    """A `threading.Lock` that counts its acquisitions, its contended ones and their waits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.acquired = 0
        self.contended = 0  # acquisitions that found the lock held and had to wait
        self.waited_s = 0.0  # the time those waits took, summed over threads

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the lock as `threading.Lock.acquire` does, counting a wait if there was one."""
        if self._lock.acquire(False):
            self.acquired += 1
            return True
        if not blocking:
            return False
        started = time.perf_counter()
        if not self._lock.acquire(True, timeout):
            return False
        self.waited_s += time.perf_counter() - started
        self.acquired += 1
        self.contended += 1
        return True

    def release(self) -> None:
        """Let the lock go."""
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def summary(self) -> dict[str, float | int]:
        """Return the counters, as `--stats-json` reports them under `lock`."""
        return {
            "acquired": self.acquired,
            "contended": self.contended,
            "wait_s": round(self.waited_s, 4),
        }
