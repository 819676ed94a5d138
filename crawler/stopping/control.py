"""How a crawl stops, decided in one place: a sans-I/O state machine, as h11 keeps every
transition of a connection in one place.

    running --stop asked (a signal, or the time limit)--> grace
    grace --grace deadline passed, or a second signal--> stop now
    stop now --the strategy gave up its requests in flight--> stopped

Its inputs are what happened (a stop asked, a further signal, the passing of time) and its
outputs answer a strategy's questions: is the crawl stopping (schedule nothing more)? give up
the requests in flight now? how long may I sleep before something changes? It also says why the
crawl stopped and by which signal (for the exit status), and announces each step in one line.
Time is always passed in (`now`, on the `time.monotonic()` clock) and never read here: nothing in
this module handles a signal, reads a clock or sleeps, so every strategy stops by the same rules
and `tests/test_stopping_control.py` checks them with explicit clocks.
"""

from __future__ import annotations

import enum
import signal
from collections.abc import Callable

from command_kit.units import format_duration


class StopState(enum.Enum):
    """Where a crawl is on its way to a stop."""

    RUNNING = "running"  # no stop asked: schedule as usual
    GRACE = "grace"  # schedule nothing more; the requests in flight may finish until the deadline
    STOP_NOW = "stop now"  # give up the requests still in flight, at once
    STOPPED = "stopped"  # the strategy gave them up: nothing is left to wait for


class StopReason(enum.StrEnum):
    """Why a crawl stopped, as its summary's `finish_reason` says."""

    INTERRUPTED = "interrupted"  # a signal
    TIME_LIMIT = "time_limit"


def _silent(message: str) -> None:
    """Announce nothing (a control nobody listens to)."""


class StopControl:
    """The stop of one crawl: what was asked, when the grace period ends, and what to do now.

    Called from signal handlers as well as the strategies' loops: each input only updates a few
    fields and announces at most one line.
    """

    def __init__(
        self, grace: float, *, signals: bool = True, announce: Callable[[str], None] = _silent
    ) -> None:
        # How long requests in flight may go on after a stop is asked (--grace).
        self.grace = grace
        # Whether a second signal can reach the crawl, so a notice may offer it.
        self.signals = signals
        # Where the one-line notices go (the crawl's log).
        self.announce = announce
        self.state = StopState.RUNNING
        self.reason: StopReason | None = None
        # The signal that stopped the crawl (its exit status), if one did.
        self.signal: int | None = None
        self._limit_at: float | None = None
        self._grace_ends: float | None = None
        # "stopping now" is said once, for the first signal after the one that asked the stop.
        self._told_now = False

    # -- Inputs ----------------------------------------------------------------------------------

    def limit_time(self, at: float) -> None:
        """Stop scheduling at `at` (--time-limit, counted from the start of the crawl)."""
        self._limit_at = at

    def ask(self, signum: int | None, now: float, in_flight: int) -> None:
        """A stop was asked: a signal `signum`, or None for the time limit.

        The first starts the grace period and says so in one line, with what it will cost; a
        later signal gives up the requests in flight at once (and stops a time-limited crawl
        by that signal).
        """
        if self.state is StopState.RUNNING:
            self._start(signum, now, in_flight)
        elif signum is not None and not self._told_now:
            self._told_now = True
            if self.signal is None:
                self.signal = signum
            if self.state is StopState.GRACE:
                self.state = StopState.STOP_NOW
            again = " again" if self.reason is StopReason.INTERRUPTED else ""
            self.announce(f"{_cause(signum)}{again}: stopping now")

    def tick(self, now: float, in_flight: int) -> None:
        """Time passed: the time limit may be reached, and the grace period may be over."""
        if self.state is StopState.RUNNING and self._limit_at is not None and now >= self._limit_at:
            self._start(None, now, in_flight)
        if (
            self.state is StopState.GRACE
            and self._grace_ends is not None
            and now >= self._grace_ends
        ):
            self.state = StopState.STOP_NOW

    def gave_up(self) -> None:
        """The strategy gave up every request that was in flight: the stop is complete."""
        if self.state is StopState.STOP_NOW:
            self.state = StopState.STOPPED

    def _start(self, signum: int | None, now: float, in_flight: int) -> None:
        self.state = StopState.GRACE
        self.reason = StopReason.INTERRUPTED if signum is not None else StopReason.TIME_LIMIT
        self.signal = signum
        # The grace deadline: here, and nowhere else.
        self._grace_ends = now + self.grace
        cause = _cause(signum) if signum is not None else "time limit reached"
        if in_flight:
            requests = (
                "1 request in flight gets"
                if in_flight == 1
                else f"{in_flight} requests in flight get"
            )
            wait = f"; {requests} up to {format_duration(self.grace)}"
        else:
            wait = ""
        again = ", Ctrl-C again to stop now" if in_flight and self.signals else ""
        self.announce(f"{cause}: stopping{wait}{again}")

    # -- Outputs ---------------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        """Say whether a stop was asked: the crawl schedules nothing more."""
        return self.state is not StopState.RUNNING

    @property
    def give_up_now(self) -> bool:
        """Say whether the requests still in flight are to be given up now."""
        return self.state is StopState.STOP_NOW

    @property
    def next_deadline(self) -> float | None:
        """Return when time alone will next change something (the time limit, or the end of the
        grace period), or None: a strategy may sleep until then, and no longer."""
        if self.state is StopState.RUNNING:
            return self._limit_at
        if self.state is StopState.GRACE:
            return self._grace_ends
        return None


def _cause(signum: int) -> str:
    """Name a signal as a notice does: Ctrl-C, or the signal's own name."""
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


__all__ = ["StopControl", "StopReason", "StopState"]
