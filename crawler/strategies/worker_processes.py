"""Worker processes a crawl starts: deaf to the terminal's stop signals, gone with the crawl.

A terminal sends Ctrl-C (and a hangup) to its whole foreground process group, workers included;
the crawl alone decides when to stop, and tells its workers. So a worker is started with the stop
signals blocked (the mask is inherited through fork and exec, so a Ctrl-C that comes while its
interpreter imports waits instead of raising KeyboardInterrupt there) and its initializer ignores
them, discarding one already waiting, before unblocking them; the standard library starts its
resource tracker the same way. A worker exits by itself within half a second of its crawl being
killed outright, which cannot shut it down. Terminating one kills it, since it ignores SIGTERM.
"""

from __future__ import annotations

import multiprocessing.context
import os
import signal
import threading
import time

from crawler.stopping.signals import STOP_SIGNALS

PARENT_CHECK_SECONDS = 0.5


class WorkerProcess(multiprocessing.context.SpawnProcess):
    """A spawned worker that starts with the stop signals blocked, and is killed to terminate.

    The blocked mask is inherited through fork and exec, so a Ctrl-C that comes while the new
    interpreter imports (before any initializer can run) waits instead of raising
    KeyboardInterrupt there; the initializer ignores the signals, which discards it, before it
    unblocks them. The standard library starts its resource tracker the same way.
    """

    def start(self) -> None:
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            super().start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def terminate(self) -> None:
        """Kill the worker: it ignores SIGTERM (the terminal's signals are the crawl's), and a
        pool that lost a worker terminates the others, then waits for them to exit."""
        self.kill()


class WorkerContext(multiprocessing.context.SpawnContext):
    """The spawn start method, with workers started deaf to the stop signals."""

    Process = WorkerProcess


def start_worker(parent: int) -> None:
    """Worker initializer: the crawl process `parent` decides when to stop, and a worker
    outlives it by at most half a second (a crawl killed with SIGKILL cannot shut its pool
    down, and may die before this even runs)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def exit_when_orphaned() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=exit_when_orphaned, name="parent-watch", daemon=True).start()


__all__ = ["WorkerContext", "WorkerProcess", "start_worker"]
