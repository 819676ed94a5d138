"""Write a comparison down: results.json, results.csv, charts, report.md, and a terminal table."""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from crawler.compare.metrics import RunResult
from crawler.compare.verdict import Verdict, medians

SCHEMA_VERSION = 1
FIELDS = [field.name for field in dataclasses.fields(RunResult)]


def write_results(
    out: Path, rows: Sequence[RunResult], verdicts: Sequence[Verdict], meta: dict[str, Any]
) -> None:
    """Write results.json (rows, verdicts and facts) and results.csv (the same rows)."""
    document = {
        "schema_version": SCHEMA_VERSION,
        **meta,
        "runs": [row.to_dict() for row in rows],
        "verdicts": [
            dataclasses.asdict(verdict) | {"sentence": verdict.sentence()} for verdict in verdicts
        ],
    }
    (out / "results.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    with (out / "results.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(row.to_dict() for row in rows)


def rate_range(rows: Sequence[RunResult], median: RunResult) -> str:
    """Return the min-max pages/s of the repeats of `median`'s configuration."""
    rates = [
        row.pages_per_s
        for row in rows
        if row.failed is None
        and row.pages_per_s is not None
        and (row.strategy, row.concurrency, row.latency_ms, row.analysis_cost)
        == (median.strategy, median.concurrency, median.latency_ms, median.analysis_cost)
    ]
    return f"{min(rates):,.1f}-{max(rates):,.1f}" if rates else "-"


def write_charts(out: Path, rows: Sequence[RunResult]) -> list[str]:
    """Draw pages/s and peak memory against concurrency, and I/O- against CPU-bound; return files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best = medians(rows)
    regimes = sorted({(row.latency_ms, row.analysis_cost) for row in best})
    strategies = sorted({row.strategy for row in best})
    files = []
    for name, field, label in (
        ("pages_per_s.png", "pages_per_s", "pages/s"),
        ("peak_memory.png", "peak_rss_mb", "peak RSS of the process tree (MiB)"),
    ):
        figure, axes = plt.subplots(1, len(regimes), figsize=(5 * len(regimes), 4), squeeze=False)
        for axis, (latency, cost) in zip(axes[0], regimes, strict=True):
            for strategy in strategies:
                points = sorted(
                    (row.concurrency, getattr(row, field) or 0)
                    for row in best
                    if row.strategy == strategy
                    and (row.latency_ms, row.analysis_cost) == (latency, cost)
                )
                if points:
                    axis.plot(*zip(*points, strict=True), marker="o", label=strategy)
            axis.set_xscale("log")
            axis.set_title(f"latency {latency:g} ms, cost {cost}")
            axis.set_xlabel("concurrency")
            axis.set_ylabel(label)
            axis.grid(True, alpha=0.3)
            axis.legend()
        figure.tight_layout()
        figure.savefig(out / name, dpi=100)
        plt.close(figure)
        files.append(name)
    figure, axis = plt.subplots(figsize=(max(6, 2 * len(regimes)), 4))
    width = 0.8 / max(len(strategies), 1)
    for index, strategy in enumerate(strategies):
        heights = [
            max(
                (
                    row.pages_per_s or 0
                    for row in best
                    if row.strategy == strategy and (row.latency_ms, row.analysis_cost) == regime
                ),
                default=0,
            )
            for regime in regimes
        ]
        axis.bar(
            [position + index * width for position in range(len(regimes))],
            heights,
            width,
            label=strategy,
        )
    axis.set_xticks(
        [position + width * (len(strategies) - 1) / 2 for position in range(len(regimes))]
    )
    axis.set_xticklabels([f"{latency:g} ms\ncost {cost}" for latency, cost in regimes])
    axis.set_ylabel("best pages/s")
    axis.set_title("I/O-bound against CPU-bound: the best each strategy did")
    axis.legend()
    figure.tight_layout()
    figure.savefig(out / "io_vs_cpu.png", dpi=100)
    plt.close(figure)
    files.append("io_vs_cpu.png")
    return files


def write_markdown(
    out: Path,
    rows: Sequence[RunResult],
    verdicts: Sequence[Verdict],
    meta: dict[str, Any],
    charts: Sequence[str],
) -> None:
    """Write report.md: facts, verdicts, the median table, failures and the charts."""
    machine = meta["machine"]
    lines = [
        f"# Comparison: {meta['scenario']}",
        "",
        f"- Command: `{meta['command']}`",
        f"- Machine: {machine['cores']} cores, {machine['cpu']}, Python {machine['python']}, event loop {machine['event_loop']}; {meta['date']}",
        f"- Each run: a fresh `crawler crawl` process against a mock server in its own process, after a warm-up; {meta['repeat']} repeat(s), medians shown with the min-max of pages/s.",
        "- efficiency = ideal / wall, ideal = max(pages x latency / concurrency, CPU used / cores).",
        "",
        "## Verdicts",
        "",
        *[f"- {verdict.sentence()}" for verdict in verdicts],
        "",
        "## Runs (medians)",
        "",
        "| strategy | concurrency | latency ms | cost | pages | pages/s | min-max | wall s | cores used | peak MiB | p50 / p95 ms | efficiency | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(
        medians(rows),
        key=lambda row: (row.latency_ms, row.analysis_cost, row.strategy, row.concurrency),
    ):
        pages = f"{row.pages} (of {row.scaled_from}, scaled)" if row.scaled_from else str(row.pages)
        lines.append(
            f"| {row.strategy} | {row.concurrency} | {row.latency_ms:g} | {row.analysis_cost} | {pages} | {row.pages_per_s:,.1f} | {rate_range(rows, row)} "
            f"| {row.wall_s:.2f} | {row.cores_used:.2f} | {row.peak_rss_mb:.0f} | {row.latency_p50_ms} / {row.latency_p95_ms} | {row.efficiency:.2f} | {row.errors} |"
        )
    failed = [row for row in rows if row.failed]
    if failed:
        lines += ["", "## Failed runs", ""]
        lines += [
            f"- {row.strategy}, concurrency {row.concurrency}, latency {row.latency_ms:g} ms, cost {row.analysis_cost}: {row.failed}"
            for row in failed
        ]
    lines += ["", "## Charts", ""] + [f"![{chart}]({chart})" for chart in charts]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def print_table(rows: Sequence[RunResult], verdicts: Sequence[Verdict], console: Console) -> None:
    """Print the median of every configuration, failures, and the verdicts."""
    table = Table(title="Comparison (medians)")
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
    for verdict in verdicts:
        console.print(f"- {verdict.sentence()}")
