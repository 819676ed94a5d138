"""Ctrl-C, SIGTERM, SIGHUP and --time-limit for the blocking strategies: a stop request to poll,
and a grace deadline.

A signal only records the request (the loops poll it); the core is never touched from a handler.
When the grace period runs out while the main thread is blocked in a request, SIGALRM raises
`GraceExpired` there, and only there: the exception can interrupt I/O, not bookkeeping. A second
Ctrl-C ends the grace period at once. The time limit arms the same alarm, so a sync crawl blocked
in a slow request still stops on time; the loops also poll it, for a crawl without signals.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from crawler.context import RunContext

# Longest single sleep of a blocking strategy's loop, so a stop request is noticed promptly.
POLL_SECONDS = 0.05


class GraceExpired(BaseException):
    """The stop's grace period ended while a request was still out (not an Exception, so no
    `except Exception` in a client library swallows it)."""


class StopRequests:
    """Records a stop signal for a blocking strategy and arms the grace alarm."""

    def __init__(
        self, context: RunContext, grace: float, in_flight: Callable[[], int] = lambda: 1
    ) -> None:
        self.context = context
        self.grace = grace
        self.in_flight = in_flight
        self.deadline: float | None = None
        self._in_io = False
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        """Say whether a stop was asked for (a signal, or the time limit once polled)."""
        return self.context.stopping

    def poll(self, now: float, in_flight: int) -> None:
        """Start the stop of a time limit that has passed (the alarm may not have fired yet)."""
        if self.context.time_is_up(now):
            self._start_stop(None, in_flight)

    @property
    def grace_over(self) -> bool:
        """Say whether the grace period of a stop has run out."""
        return self.deadline is not None and time.monotonic() >= self.deadline

    def __enter__(self) -> StopRequests:
        if self.context.handle_signals and threading.current_thread() is threading.main_thread():
            for signum in self.context.stop_signals:
                self._previous[signum] = signal.signal(signum, self._on_stop)
            self._previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, self._on_alarm)
            if self.context.stop_at is not None:
                signal.setitimer(
                    signal.ITIMER_REAL, max(self.context.stop_at - time.monotonic(), 0.001)
                )
        return self

    def __exit__(self, *exc_info: object) -> None:
        if signal.SIGALRM in self._previous:
            signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self._start_stop(signum, self.in_flight())

    def _start_stop(self, signum: int | None, in_flight: int) -> None:
        first = not self.context.stopping
        self.context.request_stop(signum, in_flight, self.grace)
        if first:
            self.deadline = time.monotonic() + self.grace
            self._arm(self.grace)
        elif self.context.stop_now and self.deadline is not None:
            self.deadline = time.monotonic()
            self._arm(0)

    def _arm(self, seconds: float) -> None:
        if signal.SIGALRM in self._previous:
            signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        if not self.context.stopping:  # the time limit's alarm: the stop starts now
            self._start_stop(None, self.in_flight())
            return
        # The grace alarm (the itimer's clock may run a hair ahead of time.monotonic()).
        self.deadline = min(self.deadline or 0.0, time.monotonic())
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
