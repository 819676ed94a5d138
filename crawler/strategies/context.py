"""What a strategy is given besides the core and the settings: where records go, what to do
before writing them, and the crawl's stop control (`crawler.stopping.control`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from crawler.core.records import Record
from crawler.http.exchange import Capture
from crawler.stopping.control import StopControl
from crawler.stopping.signals import stop_signals


def _notice(message: str) -> None:
    # A warning, so --quiet still shows it; a notice, so it is not worded as a problem.
    logging.getLogger("crawler").warning(message, extra={"notice": True})


@dataclass(slots=True)
class RunContext:
    """What a strategy is given besides the core: where records go, and how it is stopped."""

    output: str
    # Whether the strategy handles the stop signals (a crawl run inside a test may not).
    handle_signals: bool = True
    # Called before each block of records is written: a durable crawl commits its state here,
    # so the output never holds a record the state file does not.
    before_write: Callable[[], None] | None = None
    # The crawl's stop control: made by `stop_for` from the first grace it is given.
    stop: StopControl | None = None
    # The signals that stop the crawl cleanly: none without handle_signals.
    stop_signals: tuple[int, ...] = ()
    # Given each block of records once it is written (the Python API hands them on from here).
    on_records: Callable[[list[Record]], None] | None = None
    # Given every exchange the clients complete, for --warc (the archive's `add`): None, none kept.
    capture: Capture | None = None

    def __post_init__(self) -> None:
        if self.handle_signals and not self.stop_signals:
            self.stop_signals = stop_signals()

    def stop_for(self, grace: float) -> StopControl:
        """Return the crawl's stop control, made now with `grace` if it has none yet (the run
        makes it before the crawl's set-up; a strategy run on its own, from its settings)."""
        if self.stop is None:
            self.stop = StopControl(grace, signals=bool(self.stop_signals), announce=_notice)
        return self.stop

    @property
    def signals_to_handle(self) -> tuple[int, ...]:
        """Return the signals a strategy forwards to its stop control (none: handle_signals off)."""
        return self.stop_signals if self.handle_signals else ()

    @property
    def stopped_by(self) -> int | None:
        """Return the signal that stopped the crawl, if one did."""
        return self.stop.signal if self.stop is not None else None


__all__ = ["RunContext"]
