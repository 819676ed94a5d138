"""Run a comparison plan: one mock server per latency, every run measured, reports written."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from crawl_basics.errors import SettingsError
from crawler.compare.metrics import RunResult, result_of
from crawler.compare.plan import ComparePlan, RunSpec
from crawler.compare.report import print_table, write_charts, write_markdown, write_results
from crawler.compare.runner import measure
from crawler.compare.verdict import Verdict, verdicts
from mock_server import MockServerProcess, load_settings


@dataclass(frozen=True, slots=True)
class CompareOutcome:
    """The rows and verdicts of a finished comparison."""

    rows: list[RunResult]
    verdicts: list[Verdict]


def prepare_out(out: Path) -> None:
    """Create the output directory and check it can be written, before any run starts."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise SettingsError("out", f"cannot write to {out}: {error.strerror}") from None


def machine_facts() -> dict[str, Any]:
    """Return the facts a comparison depends on, recorded once."""
    from importlib import metadata

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    packages: dict[str, str | None] = {}
    for name in ("aiohttp", "uvloop", "requests", "selectolax", "yarl"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "cores": os.cpu_count() or 1,
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "event_loop": "uvloop" if packages["uvloop"] else "asyncio",
        "packages": packages,
    }


def run_compare(
    plan: ComparePlan, out: Path, console: Console, command: Sequence[str]
) -> CompareOutcome:
    """Measure every run of the plan and write results.json, results.csv, charts and report.md."""
    prepare_out(out)
    machine = machine_facts()
    total = len(plan.runs) * plan.repeat
    rows: list[RunResult] = []
    site_pages = max(spec.pages for spec in plan.runs)
    by_latency: dict[float, list[RunSpec]] = {}
    for spec in plan.runs:
        by_latency.setdefault(spec.latency, []).append(spec)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("starting", total=total)
        for latency, specs in sorted(by_latency.items()):
            site = load_settings(
                overrides={"pages": site_pages, **plan.site, "latency": f"{latency}s"}
            )
            with MockServerProcess(site) as server:
                # Warm-up, not recorded: the server renders its pages, the OS caches the code.
                measure(
                    RunSpec("async", 50, latency, 0, min(site_pages, 200)),
                    server.base_url,
                    plan.run_timeout,
                )
                for spec in specs:
                    for repeat in range(1, plan.repeat + 1):
                        label = f"{spec.strategy} c={spec.concurrency} {latency * 1000:g}ms"
                        progress.update(
                            task, description=f"{label} cost={spec.analysis_cost} #{repeat}"
                        )
                        measurement = measure(spec, server.base_url, plan.run_timeout)
                        rows.append(result_of(spec, repeat, measurement, machine["cores"]))
                        progress.advance(task)
    found = verdicts(rows, machine["cores"])
    meta = {
        "scenario": plan.name,
        "command": " ".join(command),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "repeat": plan.repeat,
        "machine": machine,
    }
    write_results(out, rows, found, meta)
    charts = write_charts(out, rows) if any(row.failed is None for row in rows) else []
    write_markdown(out, rows, found, meta, charts)
    print_table(rows, found, console)
    console.print(f"Report: {out / 'report.md'}")
    return CompareOutcome(rows, found)


__all__ = ["CompareOutcome", "run_compare"]
