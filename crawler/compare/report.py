"""Write a comparison down: results.json, results.csv, report.md, and a terminal table.

The charts are drawn by `charts.py` and the one-file HTML report by `html.py`, from the same
table and sentences as here.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from crawler.compare.metrics import RunResult
from crawler.compare.verdict import MARGIN, Verdict, medians

SCHEMA_VERSION = 2  # 2: server_cpu_s, machine_busy, the plan's title and grid, verdict tests
FIELDS = [field.name for field in dataclasses.fields(RunResult)]
# Short headers and cells, so the table of a lesson's sweep fits a 1200 px page.
COLUMNS = [
    "strategy", "conc.", "latency ms", "cost", "pages", "pages/s", "min-max", "runs",
    "wall s", "cores", "server cores", "peak MiB", "p50 / p95 ms", "eff.", "errors",
]  # fmt: skip


def write_results(
    out: Path, rows: Sequence[RunResult], verdicts: Sequence[Verdict], meta: dict[str, Any]
) -> None:
    """Write results.json (rows, verdicts and facts) and results.csv (the same rows).

    Each file is written whole beside its name and renamed onto it, so a reader (or a Ctrl-C)
    never meets half of one: they are rewritten after every run.
    """
    document = {
        "schema_version": SCHEMA_VERSION,
        **meta,
        "runs": [row.to_dict() for row in rows],
        "verdicts": [
            dataclasses.asdict(verdict)
            | {"headline": verdict.headline(), "sentence": verdict.sentence()}
            for verdict in verdicts
        ],
    }
    _replace(out / "results.json", json.dumps(document, indent=2) + "\n")
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows(row.to_dict() for row in rows)
    _replace(out / "results.csv", text.getvalue())


def _replace(path: Path, text: str) -> None:
    """Write `path` atomically: a temporary file beside it, renamed onto it."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8", newline="")
    os.replace(partial, path)


def rate_range(rows: Sequence[RunResult], median: RunResult) -> str:
    """Return the min-max pages/s of the repeats of `median`'s configuration."""
    rates = _rates(rows, median)
    return f"{min(rates):,.1f}-{max(rates):,.1f}" if rates else "-"


def _rates(rows: Sequence[RunResult], median: RunResult) -> list[float]:
    return [
        row.pages_per_s
        for row in rows
        if row.failed is None
        and row.pages_per_s is not None
        and (row.strategy, row.concurrency, row.latency_ms, row.analysis_cost)
        == (median.strategy, median.concurrency, median.latency_ms, median.analysis_cost)
    ]


def median_table(rows: Sequence[RunResult]) -> list[list[str]]:
    """Return the cells of the median of every configuration, in `COLUMNS` order."""
    cells = []
    for row in sorted(
        medians(rows),
        key=lambda row: (row.latency_ms, row.analysis_cost, row.strategy, row.concurrency),
    ):
        pages = f"{row.pages} of {row.scaled_from}" if row.scaled_from else str(row.pages)
        server = (
            f"{row.server_cpu_s / row.wall_s:.2f}"
            if row.server_cpu_s is not None and row.wall_s
            else "-"
        )
        cells.append([
            row.strategy, str(row.concurrency), f"{row.latency_ms:g}", str(row.analysis_cost), pages,
            f"{row.pages_per_s or 0:,.1f}", rate_range(rows, row), str(len(_rates(rows, row))),
            f"{row.wall_s or 0:.2f}", f"{row.cores_used or 0:.2f}", server, f"{row.peak_rss_mb:.0f}",
            f"{_ms(row.latency_p50_ms)} / {_ms(row.latency_p95_ms)}", f"{row.efficiency or 0:.2f}",
            str(row.errors),
        ])  # fmt: skip
    return cells


def _ms(value: float | None) -> str:
    """Return a latency as the table shows it: three figures are plenty (21.2, 147, 1,205)."""
    if value is None:
        return "-"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def failures(rows: Sequence[RunResult]) -> list[str]:
    """Return one line per failed run."""
    return [
        f"{row.strategy}, concurrency {row.concurrency}, latency {row.latency_ms:g} ms, cost {row.analysis_cost}, repeat {row.repeat}: {row.failed}"
        for row in rows
        if row.failed
    ]


def status_line(meta: dict[str, Any]) -> str | None:
    """Return the sentence saying the comparison was cut short, if it was."""
    if meta["finished_runs"] >= meta["planned_runs"]:
        return None
    return (
        f"Interrupted after {meta['finished_runs']} of {meta['planned_runs']} runs: "
        "what follows covers the finished runs only."
    )


def method_notes(meta: dict[str, Any]) -> list[str]:
    """Return how the runs were made and read, one sentence each, for both reports."""
    machine = meta["machine"]
    return [
        f"Machine: {machine['cores']} cores, {machine['cpu']}, Python {machine['python']}, event loop {machine['event_loop']}; {meta['date']}.",
        f"Each run is a fresh `crawler crawl` process against a mock server in its own process, after a warm-up; {meta['repeat']} repeat(s) of each configuration; the median is shown, with the min-max of pages/s.",
        f"A strategy is judged at its best concurrency; it wins only when its slowest repeat beats the runner-up's fastest by {MARGIN:.0%} (3 repeats against 3 fall that far apart by chance less than once in 20), else there is no clear winner; a regime where a strategy failed has no winner.",
        "What binds is the limit a run came closest to: latency (pages/s against Little's law's concurrency / latency), one core (a one-interpreter strategy's CPU), or all cores (how busy the machine's cores were, whoever used them); on a machine busy with other programs, the reason says so first, and the label is 'other programs' when they, not the crawl, kept the cores busy.",
        "efficiency = ideal / wall, ideal = max(pages x latency / concurrency, CPU used / cores).",
    ]


def write_markdown(
    out: Path,
    rows: Sequence[RunResult],
    verdicts: Sequence[Verdict],
    meta: dict[str, Any],
    charts: Sequence[str],
) -> None:
    """Write report.md: what was run, verdicts, the median table, failures and the charts."""
    status = status_line(meta)
    lines = [
        f"# Comparison: {meta['title']}",
        "",
        *([f"**{status}**", ""] if status else []),
        f"- Command: `{meta['command']}`",
        *[f"- {note}" for note in method_notes(meta)],
        "",
        "## Verdicts",
        "",
        *[f"- {verdict.sentence()}" for verdict in verdicts],
        "",
        "## Runs (medians)",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *["| " + " | ".join(cells) + " |" for cells in median_table(rows)],
    ]
    failed = failures(rows)
    if failed:
        lines += ["", "## Failed runs", "", *[f"- {line}" for line in failed]]
    lines += ["", "## Charts", ""] + [f"![{chart}]({chart})" for chart in charts]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def print_table(
    rows: Sequence[RunResult], verdicts: Sequence[Verdict], meta: dict[str, Any], console: Console
) -> None:
    """Print the median of every configuration, failures, and the verdicts."""
    table = Table(title=f"Comparison (medians): {meta['title']}")
    # Short headers, so the table fits 80 columns when stderr is not a terminal.
    for column in (
        "strategy",
        "conc",
        "latency",
        "cost",
        "pages/s",
        "min-max",
        "cores",
        "MiB",
        "eff",
    ):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for row in sorted(
        medians(rows),
        key=lambda row: (row.latency_ms, row.analysis_cost, row.strategy, row.concurrency),
    ):
        table.add_row(
            row.strategy, str(row.concurrency), f"{row.latency_ms:g} ms", str(row.analysis_cost),
            f"{row.pages_per_s:,.1f}", rate_range(rows, row), f"{row.cores_used:.2f}", f"{row.peak_rss_mb:.0f}", f"{row.efficiency:.2f}",
        )  # fmt: skip
    for row in rows:
        if row.failed:
            table.add_row(
                row.strategy,
                str(row.concurrency),
                f"{row.latency_ms:g} ms",
                str(row.analysis_cost),
                "FAILED",
                "",
                "",
                "",
                row.failed[:40],
            )
    console.print(table)
    status = status_line(meta)
    if status:
        console.print(status, markup=False)
    for verdict in verdicts:
        console.print(f"- {verdict.sentence()}", markup=False)
