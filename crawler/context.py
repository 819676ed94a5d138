"""What a strategy is given besides the core and the settings: where records go, and how the
crawl is stopped (signals, --time-limit, a second Ctrl-C), with the one-line notices of a stop."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass

from crawl_basics.units import format_duration


def _notice(message: str) -> None:
    # A warning, so --quiet still shows it; a notice, so it is not worded as a problem.
    logging.getLogger("crawler").warning(message, extra={"notice": True})


@dataclass(slots=True)
class RunContext:
    """What a strategy is given besides the core: where records go, and how it is stopped."""

    output: str
    handle_signals: bool = True
    stopped_by: int | None = None  # the signal that stopped the crawl, set by the strategy
    # Called before each block of records is written: a durable crawl commits its state here,
    # so the output never holds a record the state file does not.
    before_write: Callable[[], None] | None = None
    # The signals that stop the crawl cleanly (see `stop_signals`); none without handle_signals.
    stop_signals: tuple[int, ...] = ()
    # When --time-limit ends scheduling (time.monotonic()), if it does.
    stop_at: float | None = None
    # Why the crawl is stopping, once it is: "interrupted" (a signal) or "time_limit".
    stop_reason: str | None = None
    # A second Ctrl-C: requests still out are given up at once, without waiting out the grace.
    stop_now: bool = False
    # Where the one-line notices of a stop go (the crawl's log).
    announce: Callable[[str], None] = _notice

    def __post_init__(self) -> None:
        if self.handle_signals and not self.stop_signals:
            self.stop_signals = stop_signals()

    @property
    def stopping(self) -> bool:
        """Say whether a stop was asked for (a signal, or the time limit)."""
        return self.stop_reason is not None

    def time_is_up(self, now: float) -> bool:
        """Say whether the time limit has passed and the crawl is not stopping yet."""
        return self.stop_at is not None and now >= self.stop_at and self.stop_reason is None

    def request_stop(self, signum: int | None, in_flight: int, grace: float) -> None:
        """Note a stop: a signal, or None for the time limit.

        The first starts the grace period and says so in one line, with what it will cost; a
        second signal asks to stop now. Called from signal handlers: it only sets fields and
        logs.
        """
        if self.stop_reason is None:
            self.stop_reason = "interrupted" if signum is not None else "time_limit"
            self.stopped_by = signum
            cause = _signal_name(signum) if signum is not None else "time limit reached"
            if in_flight:
                requests = (
                    "1 request in flight gets"
                    if in_flight == 1
                    else f"{in_flight} requests in flight get"
                )
                wait = f"; {requests} up to {format_duration(grace)}"
            else:
                wait = ""
            again = ", Ctrl-C again to stop now" if in_flight and self.stop_signals else ""
            self.announce(f"{cause}: stopping{wait}{again}")
        elif signum is not None and not self.stop_now:
            self.stop_now = True
            if self.stopped_by is None:
                self.stopped_by = signum
            again = " again" if self.stop_reason == "interrupted" else ""
            self.announce(f"{_signal_name(signum)}{again}: stopping now")


def _signal_name(signum: int) -> str:
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


# What stops a crawl cleanly: Ctrl-C, a polite kill, and the terminal going away (a closed ssh
# session must not lose the records still buffered).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def stop_signals() -> tuple[int, ...]:
    """Return the stop signals this process may handle: those it was not told to ignore.

    A signal ignored when the process started stays ignored, as POSIX tools do: `nohup crawler`
    must survive its terminal, and a background job of a script its Ctrl-C.
    """
    return tuple(
        signum for signum in STOP_SIGNALS if signal.getsignal(signum) is not signal.SIG_IGN
    )


__all__ = ["STOP_SIGNALS", "RunContext", "stop_signals"]
