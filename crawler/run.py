"""Run one crawl end to end: the embedded site if no seed is given, the strategy, the summary."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import resource
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from crawler.core.engine import CrawlCore
from crawler.embedded import EmbeddedSite, default_site
from crawler.output import prepare_output
from crawler.progress import StatusLine, print_summary
from crawler.settings import CrawlSettings
from crawler.state import SqliteFrontier, StateStore, reconcile_output
from crawler.state.store import already_holds_a_crawl
from crawler.strategies import RunContext, strategy_for
from mock_server import ServerSettings
from mock_server.server import raise_open_file_limit
from mock_server.settings import SettingsError

# Exit statuses of a crawl stopped by a signal, as shells report them: 128 + signal number.
EXIT_BY_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}
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
    raise_open_file_limit()
    stored = StateStore.read_meta(settings.state) if settings.state else {}
    if settings.state and stored and not settings.resume:
        raise already_holds_a_crawl(settings.state)  # before the output below is emptied
    prepare_output(settings.output, append=bool(stored))
    if settings.stats_json:
        prepare_output(settings.stats_json)
    with contextlib.ExitStack() as stack:
        if not settings.seeds:
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
        core = CrawlCore(settings, frontier)
        context = RunContext(
            settings.output, handle_signals, before_write=store.commit if store else None
        )
        started, cpu_before = time.monotonic(), cpu_seconds()
        with StatusLine(core, console, enabled=not settings.quiet):
            strategy_for(settings).run(core, context)
        wall, cpu = time.monotonic() - started, cpu_seconds() - cpu_before
        if store is not None:
            store.commit()
            state_summary = {
                "file": settings.state,
                "records_before": resumed_from,
                "records": store.records,
                "waiting": store.waiting_total(),
            }
    summary = {
        "strategy": settings.strategy,
        "seeds": list(settings.seeds),
        **core.stats.summary(wall),
        "cpu_s": round(cpu, 3),
        "cores_used": round(cpu / wall, 3) if wall > 0 else None,
    }
    if store is not None:
        summary["state"] = state_summary
    if settings.stats_json:
        Path(settings.stats_json).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if not settings.quiet:
        print_summary(summary, console, settings.output)
    if context.stopped_by is not None:
        return CrawlOutcome(summary, EXIT_BY_SIGNAL.get(signal.Signals(context.stopped_by), 130))
    if summary["ok"] == 0 and summary["errors"] and set(summary["errors"]) <= _NO_RESPONSE:
        kinds = ", ".join(summary["errors"])
        return CrawlOutcome(summary, 1, f"could not fetch {', '.join(settings.seeds)} ({kinds})")
    return CrawlOutcome(summary, 0)


__all__ = ["CrawlOutcome", "SettingsError", "run_crawl"]
