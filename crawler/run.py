"""Run one crawl end to end: the embedded site if no seed is given, the strategy, the summary."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import resource
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from rich.console import Console

from crawl_basics.errors import ResourceError
from crawler.context import RunContext
from crawler.core.engine import CrawlCore
from crawler.entry import StopSignalsNoted
from crawler.errors import CrawlAborted, OutputClosed, cannot_write
from crawler.limits import fit_to_open_files
from crawler.locks import exclusive
from crawler.logs import PeriodicStats, crawl_log, log_each_request
from crawler.output import EXIT_OUTPUT_CLOSED, STDOUT, prepare_output, silence_stdout
from crawler.progress import StatusLine, print_summary
from crawler.settings import CrawlSettings
from crawler.state import SqliteFrontier, StateStore, reconcile_output
from crawler.state.store import already_holds_a_crawl
from crawler.strategies import strategy_for

if TYPE_CHECKING:
    from mock_server import ServerSettings

# Exit statuses of a crawl stopped by a signal, as shells report them: 128 + signal number.
EXIT_BY_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
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
) -> CrawlOutcome:
    """Crawl as `settings` say; with no seeds, serve the embedded mock site and crawl that."""
    console = console or Console(stderr=True)
    context = RunContext(settings.output, handle_signals)
    started_at = datetime.now(UTC)
    with contextlib.ExitStack() as stack:
        # From here on a stop signal is a request the strategy honours, never a traceback.
        stack.enter_context(_stop_requests_before_the_crawl(context, settings.grace))
        log = stack.enter_context(_opened_log(settings, console))
        settings, warning = fit_to_open_files(settings, embedded=not settings.seeds)
        if warning:  # even with --quiet: the user asked for more than they get
            log.warning("%s", warning)
        if settings.state:
            stack.enter_context(exclusive(settings.state, "state"))
        stack.enter_context(exclusive(settings.output, "output"))
        stored = StateStore.read_meta(settings.state) if settings.state else {}
        if settings.state and stored and not settings.resume:
            raise already_holds_a_crawl(settings.state)  # before the output below is emptied
        prepare_output(settings.output, append=bool(stored))
        if settings.stats_json:
            prepare_output(settings.stats_json)
        if not settings.seeds:
            # Here, not above: only a crawl of the embedded site loads the mock server.
            from crawler.embedded import EmbeddedSite, default_site

            if stored.get(EMBEDDED_PORT):
                # A resumed crawl of the embedded site serves it where the first run did.
                site = dataclasses.replace(site or default_site(), port=stored[EMBEDDED_PORT])
            embedded = stack.enter_context(EmbeddedSite(site))
            settings = dataclasses.replace(settings, seeds=(embedded.base_url,))
            stored_extra = {EMBEDDED_PORT: embedded.port}
        else:
            stored_extra = {}
        frontier, store, resumed_from = None, None, 0
        if settings.state:
            store, resumed = StateStore.open(
                settings.state, settings, settings.resume, stored_extra
            )
            stack.callback(store.close)
            if resumed:
                resumed_from = store.records
                reconcile_output(settings.output, store)
            frontier = SqliteFrontier(store)
        core = CrawlCore(settings.policy, frontier)
        log_each_request(core)
        context.before_write = store.commit if store else None
        aborted: CrawlAborted | None = None
        started, cpu_before = time.monotonic(), cpu_seconds()
        if settings.time_limit is not None:
            context.stop_at = started + settings.time_limit
        status_line = StatusLine(core, console, enabled=not settings.quiet)
        # A stats line every --stats-interval where nobody sees the status line, and in a log file.
        periodic = not status_line.enabled or bool(settings.log_file)
        with status_line, PeriodicStats(core, settings.stats_interval, periodic):
            try:
                strategy_for(settings).run(core, settings, context)
                if store is not None:
                    store.commit()
            except CrawlAborted as error:
                aborted = error
        wall, cpu = time.monotonic() - started, cpu_seconds() - cpu_before
        if store is not None:
            state_summary = {
                "file": settings.state,
                "records_before": resumed_from,
                "records": store.records,
                "waiting": store.waiting_total(),
            }
        summary = {
            "strategy": settings.strategy,
            "seeds": list(settings.seeds),
            "finish_reason": _finish_reason(core, context, aborted),
            "started_at": started_at.isoformat(timespec="seconds"),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **core.stats.summary(wall),
            "cpu_s": round(cpu, 3),
            "cores_used": round(cpu / wall, 3) if wall > 0 else None,
        }
        if store is not None:
            summary["state"] = state_summary
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
            log.info("%s after %.1fs: %s", summary["finish_reason"], wall, _one_line(summary))
    if isinstance(aborted, OutputClosed):
        return CrawlOutcome(summary, EXIT_OUTPUT_CLOSED)
    if aborted is not None:
        return CrawlOutcome(summary, EXIT_ABORTED, str(aborted))
    if context.stopped_by is not None:
        return CrawlOutcome(summary, EXIT_BY_SIGNAL.get(signal.Signals(context.stopped_by), 130))
    if summary["finish_reason"] == "seeds_failed":
        kinds = ", ".join(summary["errors"])
        return CrawlOutcome(summary, 1, f"could not fetch {', '.join(settings.seeds)} ({kinds})")
    return CrawlOutcome(summary, 0)


def _finish_reason(core: CrawlCore, context: RunContext, aborted: CrawlAborted | None) -> str:
    """Say why the crawl ended: the first of what stopped it, or "finished"."""
    stats = core.stats
    if isinstance(aborted, OutputClosed):
        return "output_closed"
    if aborted is not None:
        return "aborted"
    if context.stop_reason is not None:
        return context.stop_reason
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
            "--log-file", f"cannot write {settings.log_file}: {error.strerror}"
        ) from None
    try:
        yield logger
    finally:
        log.__exit__(None, None, None)


@contextlib.contextmanager
def _stop_requests_before_the_crawl(context: RunContext, grace: float) -> Iterator[None]:
    """Turn a stop signal that comes while the crawl is being set up into a stop request.

    The strategies install their own handlers only once they run; a Ctrl-C before that (opening
    the state file, starting the embedded site) is noted here, and the strategy, seeing it, stops
    at once and writes its summary like any stopped crawl.
    """
    if not context.handle_signals or threading.current_thread() is not threading.main_thread():
        yield
        return

    def note(signum: int, frame: FrameType | None) -> None:
        context.request_stop(signum, 0, grace)

    previous = {signum: signal.signal(signum, note) for signum in context.stop_signals}
    for signum in StopSignalsNoted.take():  # come while the command was starting
        context.request_stop(signum, 0, grace)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


__all__ = ["CrawlOutcome", "run_crawl"]
