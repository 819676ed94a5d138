"""Run one crawl end to end: the embedded site if no seed is given, the strategy, the summary."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import resource
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO, cast

from rich.console import Console

from command_kit.errors import ResourceError
from crawler.archive.files import numbered
from crawler.archive.warc import WarcArchive
from crawler.core.engine import CrawlCore
from crawler.core.stats import limits_summary
from crawler.output.aborts import CrawlAborted, OutputClosed, cannot_write
from crawler.output.jsonl import EXIT_OUTPUT_CLOSED, STDOUT, prepare_output, silence_stdout
from crawler.output.locks import exclusive
from crawler.output.preflight import check_writable
from crawler.run.logs import PeriodicStats, crawl_log, log_each_request
from crawler.run.open_files import fit_to_open_files
from crawler.run.progress import StatusLine, print_summary
from crawler.run.terminal import SurvivingStderr
from crawler.settings import CrawlSettings
from crawler.state import SqliteFrontier, StateStore, reconcile_output
from crawler.state.store import already_holds_a_crawl
from crawler.stopping.control import StopReason
from crawler.stopping.signals import StopSignalsNoted, exit_status, handled
from crawler.strategies import strategy_for
from crawler.strategies.context import RunContext

if TYPE_CHECKING:
    from mock_server import ServerSettings

# Exit status of a crawl stopped because a file it must write refused (a full disk).
EXIT_ABORTED = 1
EMBEDDED_PORT = "embedded_site_port"
_NO_RESPONSE = {"connect", "timeout", "reset", "robots_unavailable"}


def cpu_seconds() -> float:
    """CPU used by this process and the children it has reaped (a pool's workers, once shut
    down), user and system."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass(frozen=True, slots=True)
class CrawlOutcome:
    """What a finished crawl reports: its summary, the exit status, and a one-line problem."""

    summary: dict[str, Any]
    exit_code: int
    problem: str | None = None


def run_crawl(
    settings: CrawlSettings,
    site: ServerSettings | None = None,
    handle_signals: bool = True,
    console: Console | None = None,
    context: RunContext | None = None,
) -> CrawlOutcome:
    """Crawl as `settings` say; with no seeds, serve the embedded mock site and crawl that.

    Three steps: open what the crawl holds, run it, then summarise it and choose the exit status.
    `context` is the Python API's (its stop control, its record hand-over); the command's is made
    here.
    """
    console = console or Console(file=cast(TextIO, SurvivingStderr(sys.stderr)))
    context = context or RunContext(settings.output, handle_signals)
    started_at = datetime.now(UTC)
    with contextlib.ExitStack() as stack:
        # From here on a stop signal is a request the strategy honours, never a traceback.
        stack.enter_context(_stops_before_the_crawl(context, settings.grace))
        crawl = _open(settings, site, console, stack)
        ran = _run(crawl, context, console)
        return _summarise(crawl, context, ran, started_at, console)


@dataclass(frozen=True, slots=True)
class _Crawl:
    """What a crawl holds while it runs: its settings (with the embedded site's seed), its log,
    its durable state and its core."""

    settings: CrawlSettings
    log: logging.Logger
    state: KeptState | NoState
    core: CrawlCore
    archive: WarcArchive | None  # --warc


@dataclass(frozen=True, slots=True)
class _Ran:
    """How a crawl's run went: what refused a write (if anything), and what it cost."""

    aborted: CrawlAborted | None
    wall: float
    cpu: float


def _open(
    settings: CrawlSettings,
    site: ServerSettings | None,
    console: Console,
    stack: contextlib.ExitStack,
) -> _Crawl:
    """Open the crawl's log, lock its files, prepare its output, start the embedded site if it
    has no seeds, and open its durable state; each is closed by `stack`."""
    check_writable(
        [
            ("output", settings.output),
            ("stats_json", settings.stats_json),
            ("state", settings.state),
            ("log_file", settings.log_file),
            ("warc", _first_archive_file(settings)),
        ]
    )  # all of them before any is created or emptied: a typo in one never costs another
    log = stack.enter_context(_opened_log(settings, console))
    settings, warning = fit_to_open_files(settings, embedded=not settings.seeds)
    if warning:  # even with --quiet: the user asked for more than they get
        log.warning("%s", warning)
    if settings.state:
        stack.enter_context(exclusive(settings.state, "state"))
    stack.enter_context(exclusive(settings.output, "output"))
    if settings.warc and settings.warc_max_size is None:
        stack.enter_context(exclusive(settings.warc, "warc"))
    stored = StateStore.read_meta(settings.state) if settings.state else {}
    if settings.state and stored and not settings.resume:
        raise already_holds_a_crawl(settings.state)  # before the output below is emptied
    prepare_output(settings.output, append=bool(stored))
    if settings.stats_json:
        prepare_output(settings.stats_json, setting="stats_json")
    stored_extra: dict[str, Any] = {}
    if not settings.seeds:
        # Here, not above: only a crawl of the embedded site loads the mock server.
        from crawler.run.embedded import EmbeddedSite, default_site

        if stored.get(EMBEDDED_PORT):
            # A resumed crawl of the embedded site serves it where the first run did.
            site = dataclasses.replace(site or default_site(), port=stored[EMBEDDED_PORT])
        embedded = stack.enter_context(EmbeddedSite(site))
        settings = dataclasses.replace(settings, seeds=(embedded.base_url,))
        stored_extra = {EMBEDDED_PORT: embedded.port}
    state = _opened_state(settings, stored_extra, stack)
    archive = _opened_archive(settings, resumed=bool(stored), stack=stack)
    if archive is not None and isinstance(state, KeptState):
        store = state.store

        def forget_unarchived() -> None:  # runs before the store's close, which commits
            if archive.failed:
                store.forget_pending()

        stack.callback(forget_unarchived)
    core = CrawlCore(settings.policy, state.frontier())
    log_each_request(core)
    return _Crawl(settings, log, state, core, archive)


def _first_archive_file(settings: CrawlSettings) -> str | None:
    """Return the file of the archive a crawl writes first (None without --warc)."""
    if not settings.warc or settings.warc_max_size is None:
        return settings.warc
    return numbered(settings.warc, 0)


def _opened_archive(
    settings: CrawlSettings, resumed: bool, stack: contextlib.ExitStack
) -> WarcArchive | None:
    """Open the --warc archive, closed by `stack`: a resumed crawl's goes on where it was cut."""
    options = settings.archive_options
    if options is None:
        return None
    archive = WarcArchive(options, resume=resumed)
    archive.open()
    stack.callback(archive.close)
    return archive


def _run(crawl: _Crawl, context: RunContext, console: Console) -> _Ran:
    """Run the crawl's strategy to the end, with the status line (or periodic stats) meanwhile;
    a write refused (a full disk, a closed pipe) ends it and is returned, not raised."""
    settings, core, archive = crawl.settings, crawl.core, crawl.archive
    context.before_write = crawl.state.commit
    if archive is not None:
        # Exchanges are archived as they complete; a block of records waits on none of them, but
        # one the archive could not write (a full disk) stops the crawl before the block goes out.
        commit = crawl.state.commit

        def archived_then_committed() -> None:
            archive.drain()
            commit()

        context.before_write = archived_then_committed
        context.capture = archive.add
    aborted: CrawlAborted | None = None
    started, cpu_before = time.monotonic(), cpu_seconds()
    if settings.time_limit is not None:
        context.stop_for(settings.grace).limit_time(started + settings.time_limit)
    status_line = StatusLine(core, console, enabled=not settings.quiet)
    # A stats line every --stats-interval where nobody sees the status line, and in a log file.
    periodic = not status_line.enabled or bool(settings.log_file)
    with status_line, PeriodicStats(core, settings.stats_interval, periodic):
        try:
            strategy_for(settings).run(core, settings, context)
            if archive is not None:
                archive.drain()
            crawl.state.commit()
        except CrawlAborted as error:
            aborted = error
    return _Ran(aborted, time.monotonic() - started, cpu_seconds() - cpu_before)


def _summarise(
    crawl: _Crawl, context: RunContext, ran: _Ran, started_at: datetime, console: Console
) -> CrawlOutcome:
    """Write the summary (the terminal, --stats-json, the log file) and choose the exit status."""
    settings, core, wall, cpu = crawl.settings, crawl.core, ran.wall, ran.cpu
    stop = context.stop_for(settings.grace)
    summary = {
        "strategy": settings.strategy,
        "seeds": list(settings.seeds),
        "finish_reason": _finish_reason(core, stop.reason, ran.aborted),
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **core.stats.summary(wall),
        "cpu_s": round(cpu, 3),
        "cores_used": round(cpu / wall, 3) if wall > 0 else None,
        **crawl.state.summary(),
    }
    if crawl.archive is not None:
        summary["warc"] = crawl.archive.summary()
    if settings.adaptive:
        summary["limits"] = {
            "rule": settings.adaptive_rule,
            "origins": limits_summary(core.adaptive_limits(), core.started_at),
        }
    aborted = ran.aborted
    if settings.stats_json:
        try:
            _write_stats(settings.stats_json, summary)
        except OSError as error:
            aborted = aborted or cannot_write(_shown(settings.stats_json), error)
    if isinstance(aborted, OutputClosed):
        # Whoever read stdout has gone (`| head`): finish quietly, as `yes | head` does.
        silence_stdout()
    if not settings.quiet and not isinstance(aborted, OutputClosed):
        print_summary(summary, console, settings.output)
    if settings.log_file:  # the summary table went to the terminal; the log gets one line
        crawl.log.info("%s after %.1fs: %s", summary["finish_reason"], wall, _one_line(summary))
    return _outcome(summary, aborted, stop.signal, settings.seeds)


def _outcome(
    summary: dict[str, Any],
    aborted: CrawlAborted | None,
    stopped_by: int | None,
    seeds: tuple[str, ...],
) -> CrawlOutcome:
    """Choose the exit status: a refused write, then a stop signal, then failed seeds."""
    if isinstance(aborted, OutputClosed):
        return CrawlOutcome(summary, EXIT_OUTPUT_CLOSED)
    if aborted is not None:
        return CrawlOutcome(summary, EXIT_ABORTED, str(aborted))
    if stopped_by is not None:
        return CrawlOutcome(summary, exit_status(stopped_by))
    if summary["finish_reason"] == "seeds_failed":
        kinds = ", ".join(summary["errors"])
        return CrawlOutcome(summary, 1, f"could not fetch {', '.join(seeds)} ({kinds})")
    return CrawlOutcome(summary, 0)


class NoState:
    """The durable state of a crawl without --state: nothing to commit, nothing to report."""

    def frontier(self) -> None:
        """Return no frontier: the core keeps its own in memory."""
        return None

    def commit(self) -> None:
        """Commit nothing."""

    def summary(self) -> dict[str, Any]:
        """Add nothing to the summary."""
        return {}


@dataclass(frozen=True, slots=True)
class KeptState:
    """A crawl's --state file: its frontier, committed before each block of records is written
    and at the end, and reported in the summary."""

    path: str
    store: StateStore
    resumed_from: int  # the records the file held when this run began

    def frontier(self) -> SqliteFrontier:
        """Return the frontier kept in the file."""
        return SqliteFrontier(self.store)

    def commit(self) -> None:
        """Commit what the crawl decided since the last commit."""
        self.store.commit()

    def summary(self) -> dict[str, Any]:
        """Return the summary's `state` entry: the file, and what it holds now."""
        return {
            "state": {
                "file": self.path,
                "records_before": self.resumed_from,
                "records": self.store.records,
                "waiting": self.store.waiting_total(),
            }
        }


def _opened_state(
    settings: CrawlSettings, extra: dict[str, Any], stack: contextlib.ExitStack
) -> KeptState | NoState:
    """Open (or resume) the --state file, closed by `stack`; a resumed crawl's output is
    repaired from it."""
    if not settings.state:
        return NoState()
    store, resumed = StateStore.open(settings.state, settings, settings.resume, extra)
    stack.callback(store.close)
    state = KeptState(settings.state, store, store.records if resumed else 0)
    if resumed:
        reconcile_output(settings.output, store)
    return state


def _finish_reason(
    core: CrawlCore, stopped: StopReason | None, aborted: CrawlAborted | None
) -> str:
    """Say why the crawl ended: the first of what stopped it, or "finished"."""
    stats = core.stats
    if isinstance(aborted, OutputClosed):
        return "output_closed"
    if aborted is not None:
        return "aborted"
    if stopped is not None:
        return stopped.value
    if core.limit_reached:
        return "max_pages"
    if stats.ok == 0 and stats.errors and set(stats.errors) <= _NO_RESPONSE:
        return "seeds_failed"
    return "finished"


def _one_line(summary: dict[str, Any]) -> str:
    return (
        f"{summary['pages']:,} pages ({summary['ok']:,} ok), {summary['requests']:,} requests,"
        f" {summary['pages_per_s'] or 0:,.1f} pages/s"
    )


def _shown(path: str) -> str:
    return "stdout" if path == STDOUT else path


def _write_stats(path: str, summary: dict[str, Any]) -> None:
    text = json.dumps(summary, indent=2) + "\n"
    if path == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        Path(path).write_text(text, encoding="utf-8")


@contextlib.contextmanager
def _opened_log(settings: CrawlSettings, console: Console) -> Iterator[logging.Logger]:
    """Open the crawl's log; a `--log-file` that cannot be written is one line, exit 2."""
    try:
        log = crawl_log(settings, console)
        logger = log.__enter__()
    except OSError as error:
        raise ResourceError(
            "log_file", f"cannot write {settings.log_file}: {error.strerror}"
        ) from None
    try:
        yield logger
    finally:
        log.__exit__(None, None, None)


@contextlib.contextmanager
def _stops_before_the_crawl(context: RunContext, grace: float) -> Iterator[None]:
    """Turn a stop signal that comes while the crawl is being set up into a stop request.

    The strategies install their own handlers only once they run; a Ctrl-C before that (opening
    the state file, starting the embedded site), or while the command was starting, is told to
    the stop control here, and the strategy, seeing it, stops at once and writes its summary like
    any stopped crawl.
    """
    stop = context.stop_for(grace)

    def note(signum: int, frame: FrameType | None) -> None:
        stop.ask(signum, time.monotonic(), 0)

    with handled(note, context.stop_signals) as in_force:
        if in_force:
            for signum in StopSignalsNoted.take():  # come while the command was starting
                note(signum, None)
        yield


__all__ = ["CrawlOutcome", "run_crawl"]
