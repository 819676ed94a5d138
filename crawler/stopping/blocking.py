"""Ctrl-C, SIGTERM, SIGHUP and --time-limit for the blocking strategies: signals forwarded to the
crawl's stop control, and its deadlines kept by SIGALRM.

A signal only tells the stop control (the loops ask it what to do); the core is never touched
from a handler. When the grace period runs out while the main thread is blocked in a request,
SIGALRM raises `GraceExpired` there, and only there: the exception can interrupt I/O, not
bookkeeping. A second Ctrl-C ends the grace period at once. The time limit arms the same alarm,
so a sync crawl blocked in a slow request still stops on time; the loops also poll it, for a
crawl without signals. Every deadline is the stop control's: none is computed here.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from types import FrameType

from crawler.stopping.control import StopControl
from crawler.stopping.signals import handled

# Longest single sleep of a blocking strategy's loop, so a stop request is noticed promptly.
POLL_SECONDS = 0.05


class GraceExpired(BaseException):
    """The stop's grace period ended while a request was still out (not an Exception, so no
    `except Exception` in a client library swallows it)."""


class StopRequests:
    """Forwards stop signals to the crawl's stop control, and keeps its deadlines with SIGALRM."""

    def __init__(
        self,
        control: StopControl,
        signals: Sequence[int],
        in_flight: Callable[[], int] = lambda: 1,
    ) -> None:
        """Forward `signals` (none: the crawl handles no signals) to `control`."""
        self.control = control
        self.signals = tuple(signals)
        self.in_flight = in_flight
        self._in_io = False
        self._alarm = False
        self._handlers = contextlib.ExitStack()

    @property
    def requested(self) -> bool:
        """Say whether a stop was asked for (a signal, or the time limit once polled)."""
        return self.control.stopping

    @property
    def give_up_now(self) -> bool:
        """Say whether the requests in flight are to be given up now."""
        return self.control.give_up_now

    def poll(self, now: float, in_flight: int) -> None:
        """Tell the stop control the time (the alarm may not have fired yet)."""
        state = self.control.state
        self.control.tick(now, in_flight)
        if self.control.state is not state:
            self._arm(now)

    def gave_up(self) -> None:
        """Say the requests that were in flight have been given up."""
        self.control.gave_up()

    def __enter__(self) -> StopRequests:
        if self.signals:
            self._handlers.enter_context(handled(self._on_stop, self.signals))
            self._alarm = self._handlers.enter_context(handled(self._on_alarm, [signal.SIGALRM]))
            self._arm(time.monotonic())
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
        self._handlers.close()

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        self.control.ask(signum, now, self.in_flight())
        self._arm(now)

    def _arm(self, now: float) -> None:
        """Set the alarm for the stop control's next deadline, at once to give up now."""
        if not self._alarm:
            return
        deadline = self.control.next_deadline
        if self.control.give_up_now:
            signal.setitimer(signal.ITIMER_REAL, 0.001)
        elif deadline is not None:
            signal.setitimer(signal.ITIMER_REAL, max(deadline - now, 0.001))

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        self.control.tick(now, self.in_flight())
        if self.control.give_up_now:
            if self._in_io:
                raise GraceExpired
            return  # the next interruptible stretch gives up instead
        # The next deadline; or the same one, if the itimer ran a hair ahead of time.monotonic().
        self._arm(now)

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Mark a stretch of blocking I/O that the grace alarm may interrupt."""
        try:
            if self.control.give_up_now:
                raise GraceExpired
            self._in_io = True
            try:
                yield
            finally:
                self._in_io = False
        except GraceExpired:
            self.control.gave_up()
            raise
