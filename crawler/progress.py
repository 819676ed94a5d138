"""The live status line on stderr, and the summary printed when a crawl ends."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from crawler.core.engine import CrawlCore


class StatusLine:
    """Pages, pages/s, in flight, queued and errors, redrawn four times a second on a TTY.

    Rich redraws from its own thread, reading counters the crawl updates; reading an int is atomic
    in CPython, so no lock is needed for a display that is allowed to lag by a moment.
    """

    def __init__(self, core: CrawlCore, console: Console, enabled: bool) -> None:
        self.core = core
        self.console = console
        self.enabled = enabled and console.is_terminal
        self.started = time.monotonic()
        self._live: Live | None = None

    def __rich__(self) -> Text:
        stats = self.core.stats
        elapsed = max(time.monotonic() - self.started, 1e-9)
        errors = sum(stats.errors.values())
        return Text(
            f"pages {stats.records:,}  {stats.records / elapsed:,.0f}/s"
            f"  in flight {self.core.in_flight}  queued {self.core.queued:,}"
            f"  errors {errors:,}  {elapsed:,.1f}s",
            style="cyan",
        )

    def __enter__(self) -> StatusLine:
        if self.enabled:
            self._live = Live(self, console=self.console, refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)


def print_summary(summary: dict[str, Any], console: Console, output: str) -> None:
    """Print the end-of-crawl summary as a small table."""
    table = Table(title="Crawl summary", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    latency = summary["latency_ms"]
    table.add_row("pages", f"{summary['pages']:,} ({summary['ok']:,} ok)")
    table.add_row("errors", _counts(summary["errors"]) or "none")
    table.add_row("statuses", _counts(summary["statuses"]))
    table.add_row("requests", f"{summary['requests']:,}")
    if latency["p50"] is not None:
        table.add_row(
            "fetch latency",
            f"p50 {latency['p50']:g} ms  p95 {latency['p95']:g} ms  p99 {latency['p99']:g} ms",
        )
    duplicates = summary["near_duplicates"]
    if duplicates["groups"]:
        table.add_row(
            "near-duplicates",
            f"{duplicates['groups']:,} groups of {duplicates['pages']:,} pages "
            f"(fingerprints within {duplicates['threshold_bits']} bits)",
        )
    if summary.get("scope_added"):
        table.add_row(
            "scope", "added " + ", ".join(summary["scope_added"]) + " (a seed redirected)"
        )
    table.add_row("throughput", f"{summary['pages_per_s'] or 0:,.1f} pages/s")
    table.add_row("wall time", f"{summary['wall_s']:.2f} s")
    if output:
        table.add_row("records", "stdout" if output == "-" else output)
    state = summary.get("state")
    if state:
        left = f", {state['waiting']:,} URLs left for --resume" if state["waiting"] else ""
        earlier = (
            f" ({state['records_before']:,} from earlier runs)" if state["records_before"] else ""
        )
        table.add_row("state", f"{state['file']}: {state['records']:,} records{earlier}{left}")
    console.print(table)


def _counts(counts: dict[str, int]) -> str:
    return "  ".join(f"{name} {count:,}" for name, count in counts.items())
