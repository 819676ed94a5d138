"""The crawl's log: where its lines go, one line per request at DEBUG, a periodic stats line.

Records are the crawl's output and go to `--output`; everything for people goes to stderr (or
`--log-file`), through the `crawler` logger. On a terminal, log lines are printed through the
same rich console as the live status line, so they scroll above it instead of tearing it. Where
stderr is not a terminal (a pipe, a CI log, a file) there is no status line to look at, so a stats
line is logged every `--stats-interval` instead, as Scrapy's LogStats does.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence

from rich.console import Console

from crawler.core.adaptive import OriginLimitView
from crawler.core.engine import CrawlCore
from crawler.core.messages import FetchFailure, FetchRequest, FetchResponse, RequestKind
from crawler.settings import CrawlSettings

LOGGER = logging.getLogger("crawler")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


class _ConsoleHandler(logging.Handler):
    """Log lines on stderr through the rich console, as `crawler: message` (warnings and errors
    say so), so a live status line stays whole below them."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            problem = record.levelno >= logging.WARNING and not getattr(record, "notice", False)
            level = f"{record.levelname.lower()}: " if problem else ""
            self.console.print(
                f"crawler: {level}{record.getMessage()}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def crawl_log(settings: CrawlSettings, console: Console) -> Iterator[logging.Logger]:
    """Route the `crawler` logger for one crawl: to stderr, and to `--log-file` with timestamps.

    With a log file, stderr keeps only warnings and notices (a person who pressed Ctrl-C must see
    the answer); `--quiet` keeps stderr to those too. The file gets what `--log-level` asks.
    """
    level = _LEVELS.get(settings.log_level.value, logging.ERROR)
    handlers: list[logging.Handler] = []
    if settings.log_file:
        to_file = logging.FileHandler(settings.log_file, encoding="utf-8")
        to_file.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
        )
        to_file.setLevel(level)
        handlers.append(to_file)
    to_stderr = _ConsoleHandler(console)
    to_stderr.setLevel(max(level, logging.WARNING) if settings.quiet or handlers else level)
    handlers.append(to_stderr)
    previous = (LOGGER.level, LOGGER.propagate)
    LOGGER.setLevel(level)
    LOGGER.propagate = False
    for handler in handlers:
        LOGGER.addHandler(handler)
    try:
        yield LOGGER
    finally:
        for handler in handlers:
            LOGGER.removeHandler(handler)
            handler.close()
        LOGGER.setLevel(previous[0])
        LOGGER.propagate = previous[1]


def log_each_request(core: CrawlCore) -> None:
    """At DEBUG, log one line per finished request: `200 GET url (depth 2, 13 ms)`."""
    if not LOGGER.isEnabledFor(logging.DEBUG):
        return

    def log(
        request: FetchRequest, outcome: FetchResponse | FetchFailure, depth: int | None
    ) -> None:
        if isinstance(outcome, FetchFailure):
            what = (
                f"{outcome.status} {outcome.error.value}" if outcome.status else outcome.error.value
            )
        else:
            what = str(outcome.status)
        where = "robots.txt" if request.kind is RequestKind.ROBOTS else f"depth {depth}"
        LOGGER.debug("%s GET %s (%s, %.0f ms)", what, request.url, where, outcome.elapsed * 1000)

    core.on_request = log


def stats_line(core: CrawlCore, elapsed: float) -> str:
    """Return one line of progress: pages, rate, in flight, queued, errors."""
    stats = core.stats
    rate = stats.records / elapsed if elapsed > 0 else 0.0
    return (
        f"pages {stats.records:,} ({rate:,.0f}/s), in flight {core.in_flight},"
        f" queued {core.queued:,}, errors {sum(stats.errors.values()):,},"
        f" {elapsed:,.1f}s elapsed{limits_shown(core.adaptive_limits())}"
    )


LIMITS_ON_THE_LINE = 3


def limits_shown(views: Sequence[OriginLimitView]) -> str:
    """Return the busiest origins' `--adaptive` limits for the status line: ", limit 12" for
    one origin, ", limits host-a 12, host-b 3 (+998 more)" for many, "" without --adaptive."""
    if not views:
        return ""
    if len(views) == 1:
        return f", limit {views[0].limit.allowed}"
    shown = ", ".join(
        f"{shown_host(view.origin)} {view.limit.allowed}" for view in views[:LIMITS_ON_THE_LINE]
    )
    more = len(views) - LIMITS_ON_THE_LINE
    return f", limits {shown}" + (f" (+{more:,} more)" if more > 0 else "")


def shown_host(origin: str) -> str:
    """Return an origin without its scheme, as the status line and the summary name it."""
    return origin.partition("://")[2] or origin


class PeriodicStats:
    """Log `stats_line` every `interval` seconds from a thread, while the crawl runs.

    The thread only reads counters (ints, atomic to read in CPython); a line may lag a moment.
    """

    def __init__(self, core: CrawlCore, interval: float, enabled: bool) -> None:
        self.core = core
        self.interval = interval
        self.enabled = enabled and interval > 0
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeriodicStats:
        if self.enabled:
            started = time.monotonic()

            def run() -> None:
                while not self._done.wait(self.interval):
                    LOGGER.info("%s", stats_line(self.core, time.monotonic() - started))

            self._thread = threading.Thread(target=run, name="crawler-stats", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
