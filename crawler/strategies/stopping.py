"""Ctrl-C, SIGTERM and SIGHUP for the blocking strategies: a stop request to poll, and a grace
deadline.

A signal only records the request (the loops poll it); the core is never touched from a handler.
When the grace period runs out while the main thread is blocked in a request, SIGALRM raises
`GraceExpired` there, and only there: the exception can interrupt I/O, not bookkeeping.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

from crawler.strategies import RunContext


class GraceExpired(BaseException):
    """The stop's grace period ended while a request was still out (not an Exception, so no
    `except Exception` in a client library swallows it)."""


class StopRequests:
    """Records a stop signal for a blocking strategy and arms the grace alarm."""

    def __init__(self, context: RunContext, grace: float) -> None:
        self.context = context
        self.grace = grace
        self.deadline: float | None = None
        self._in_io = False
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        """Say whether a stop was asked for."""
        return self.context.stopped_by is not None

    @property
    def grace_over(self) -> bool:
        """Say whether the grace period of a stop has run out."""
        return self.deadline is not None and time.monotonic() >= self.deadline

    def __enter__(self) -> StopRequests:
        if self.context.handle_signals and threading.current_thread() is threading.main_thread():
            for signum in self.context.stop_signals:
                self._previous[signum] = signal.signal(signum, self._on_stop)
            self._previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, self._on_alarm)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if signal.SIGALRM in self._previous:
            signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        if self.context.stopped_by is None:
            self.context.stopped_by = signum
            self.deadline = time.monotonic() + self.grace
            signal.setitimer(signal.ITIMER_REAL, max(self.grace, 0.001))

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        if self._in_io:
            raise GraceExpired

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Mark a stretch of blocking I/O that the grace alarm may interrupt."""
        if self.grace_over:
            raise GraceExpired
        self._in_io = True
        try:
            yield
        finally:
            self._in_io = False
