"""The live status line on stderr, and the summary and broken-link report printed at the end."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from crawler.core.engine import CrawlCore
from crawler.run.logs import shown_host, stats_line


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
        return Text(stats_line(self.core, time.monotonic() - self.started), style="cyan")

    def __enter__(self) -> StatusLine:
        if self.enabled:
            # Records may go to stdout (`-o - | jq`): the line must never take stdout over.
            self._live = Live(
                self,
                console=self.console,
                refresh_per_second=4,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)


# Broken links listed at the end of a crawl; the rest are counted (all are in --stats-json).
BROKEN_SHOWN = 20
_REASONS = {
    "finished": "finished: nothing left to crawl",
    "max_pages": "stopped at --max-pages",
    "time_limit": "stopped at --time-limit",
    "interrupted": "interrupted",
    "seeds_failed": "no seed could be fetched",
    "aborted": "aborted: a file refused a write",
    "output_closed": "the output's reader went away",
}


def counted(count: int, one: str, many: str | None = None) -> str:
    """Return `count` and the noun it counts, singular or plural: "1 group", "2,710 URLs"."""
    return f"{count:,} {one if count == 1 else many or one + 's'}"


def print_summary(summary: dict[str, Any], console: Console, output: str) -> None:
    """Print the end-of-crawl summary as a small table, then the broken links."""
    table = Table(title="Crawl summary", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    latency = summary["latency_ms"]
    reason = summary["finish_reason"]
    left = summary["left"]
    undone = [
        text
        for count, text in (
            (left["queued"], counted(left["queued"], "URL") + " still queued"),
            (left["retries"], counted(left["retries"], "retry", "retries") + " pending"),
        )
        if count
    ]
    table.add_row(
        "finish", _REASONS.get(reason, reason) + (f" ({', '.join(undone)})" if undone else "")
    )
    table.add_row("pages", f"{summary['pages']:,} ({summary['ok']:,} ok)")
    table.add_row("errors", _counts(summary["errors"]) or "none")
    table.add_row("statuses", _counts(summary["statuses"]))
    retries = f" ({summary['retries']:,} retries)" if summary["retries"] else ""
    table.add_row("requests", f"{summary['requests']:,}{retries}")
    table.add_row("depth", f"{summary['max_depth_reached']} reached")
    if latency["p50"] is not None:
        table.add_row(
            "fetch latency",
            f"p50 {latency['p50']:g} ms  p95 {latency['p95']:g} ms  p99 {latency['p99']:g} ms",
        )
    duplicates = summary["near_duplicates"]
    if duplicates["groups"]:
        table.add_row(
            "near-duplicates",
            f"{counted(duplicates['groups'], 'group')} of {counted(duplicates['pages'], 'page')} "
            f"(fingerprints within {duplicates['threshold_bits']} bits)",
        )
    if summary.get("scope_added"):
        table.add_row(
            "scope", "added " + ", ".join(summary["scope_added"]) + " (a seed redirected)"
        )
    if summary.get("limits"):
        table.add_row("limits", limits_row(summary["limits"]))
    table.add_row("throughput", f"{summary['pages_per_s'] or 0:,.1f} pages/s")
    table.add_row("wall time", f"{summary['wall_s']:.2f} s")
    if output:
        table.add_row("records", "stdout" if output == "-" else output)
    state = summary.get("state")
    if state:
        waiting = f", {state['waiting']:,} URLs left for --resume" if state["waiting"] else ""
        earlier = (
            f" ({state['records_before']:,} from earlier runs)" if state["records_before"] else ""
        )
        table.add_row("state", f"{state['file']}: {state['records']:,} records{earlier}{waiting}")
    archive = summary.get("warc")
    if archive:
        records = archive["records"]
        files = archive["files"]
        where = files[0] if len(files) == 1 else f"{len(files)} files, {files[0]} to {files[-1]}"
        revisits = f" ({records['revisit']:,} revisits)" if records["revisit"] else ""
        answers = records["response"] + records["revisit"]
        table.add_row(
            "warc", f"{where}: {answers:,} responses{revisits}, {archive['bytes']:,} bytes"
        )
    console.print(table)
    print_broken(summary["broken"], console)


LIMITS_LISTED = 5


def limits_row(limits: dict[str, Any]) -> str:
    """Return where each origin's --adaptive limit ended, the most limited first (up to five),
    with its congestion signals; past five, how the rest spread."""
    origins = limits["origins"]
    ranked = sorted(origins.items(), key=lambda item: (item[1]["limit"], item[0]))
    parts = [
        f"{shown_host(origin)} {entry['limit']}"
        + (f" ({counted(entry['signals'], 'refusal')})" if entry["signals"] else "")
        for origin, entry in ranked[:LIMITS_LISTED]
    ]
    text = f"{limits['rule']}: " + ", ".join(parts)
    rest = [entry["limit"] for _, entry in ranked[LIMITS_LISTED:]]
    if rest:
        text += f" ... and {counted(len(rest), 'more origin')} ({min(rest)}..{max(rest)})"
    return text


def print_broken(broken: dict[str, Any], console: Console) -> None:
    """List the links that led nowhere, each with the page that linked it (wget's spider list)."""
    if not broken["total"]:
        return
    console.print(f"Broken links: {broken['total']:,}", style="bold", highlight=False)
    for link in broken["links"][:BROKEN_SHOWN]:
        what = f"{link['status']} " if link["status"] else ""
        source = link["linked_from"] or "(a seed)"
        console.print(
            f"  {what}{link['error']}  {link['url']}\n    linked from {source}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if broken["total"] > BROKEN_SHOWN:
        console.print(
            f"  ... and {broken['total'] - BROKEN_SHOWN:,} more (every one is in --stats-json,"
            " up to 1,000, and all in the records)",
            highlight=False,
        )


def _counts(counts: dict[str, int]) -> str:
    return "  ".join(f"{name} {count:,}" for name, count in counts.items())
