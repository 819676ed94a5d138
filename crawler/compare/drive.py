"""Run a comparison plan: one mock server per latency, every run measured, reports written.

Results are written as runs finish, so a comparison stopped part-way (Ctrl-C, SIGTERM, SIGHUP)
keeps every finished run, ends the processes it started, and still reports what it measured.
"""

from __future__ import annotations

import os
import platform
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from command_kit.errors import ResourceError
from crawler.compare.charts import write_charts
from crawler.compare.html import write_html
from crawler.compare.measure import measure
from crawler.compare.metrics import RunResult, result_of
from crawler.compare.plan import ComparePlan, RunSpec
from crawler.compare.report import print_table, write_markdown, write_results
from crawler.compare.verdict import Verdict, verdicts
from crawler.stopping.signals import exit_status, handled
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
        raise ResourceError("out", f"cannot write to {out}: {error.strerror}") from None


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


class Stopped(BaseException):
    """A stop signal (Ctrl-C, SIGTERM, SIGHUP) arrived: finish with the runs measured so far.

    A BaseException, as KeyboardInterrupt is, so that no `except Exception` swallows it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signum)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """Let a second Ctrl-C not cut the report of the finished runs short (it takes seconds)."""


def run_compare(
    plan: ComparePlan, out: Path, console: Console, command: Sequence[str]
) -> CompareOutcome:
    """Measure every run of the plan, writing results.json and results.csv after each, then the
    charts, report.md and report.html.

    A stop signal ends the run in progress (and its processes) and the mock server, writes the
    reports of the runs that finished, and exits with 128 + the signal's number.
    """
    prepare_out(out)
    machine = machine_facts()
    meta: dict[str, Any] = {
        "scenario": plan.name,
        "title": plan.title,
        "grid": grid_of(plan),
        "command": " ".join(command),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "repeat": plan.repeat,
        "planned_runs": len(plan.runs) * plan.repeat,
        "finished_runs": 0,
        "stopped_by": None,
        "machine": machine,
    }
    planned = [_config(spec) for spec in plan.runs]
    rows: list[RunResult] = []

    def finished(row: RunResult) -> None:
        rows.append(row)
        meta["finished_runs"] = len(rows)
        write_results(out, rows, verdicts(rows, machine["cores"], planned), meta)

    stopped: signal.Signals | None = None
    try:
        with handled(_raise_stopped):
            write_results(out, rows, [], meta)
            _measure_all(plan, machine["cores"], console, finished)
    except Stopped as stop:
        stopped = signal.Signals(stop.signum)
        meta["stopped_by"] = stopped.name
    with handled(_ignore):
        if stopped is not None:
            console.print(f"Stopped by {stopped.name}: reporting the {len(rows)} finished runs")
        found = verdicts(rows, machine["cores"], planned)
        write_results(out, rows, found, meta)
        charts = write_charts(out, rows, meta["grid"]["concurrency"], plan.charts, machine["cores"])
        write_markdown(out, rows, found, meta, charts)
        write_html(out, rows, found, meta, charts)
        print_table(rows, found, meta, console)
        console.print(f"Report: {out / 'report.html'} (and report.md)")
    if stopped is not None:
        raise SystemExit(exit_status(stopped))
    return CompareOutcome(rows, found)


def _measure_all(
    plan: ComparePlan, cores: int, console: Console, finished: Callable[[RunResult], None]
) -> None:
    """Measure every run of the plan, one mock server per latency; hand each result on."""
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
    total = len(plan.runs) * plan.repeat
    # Without a terminal (a pipe, a log, CI) the bar draws nothing: a line per run says instead.
    lines = not console.is_terminal
    started = time.monotonic()
    if lines:
        console.print(f"{plan.title}: {total} runs, one at a time; a line as each one ends")
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
                        measurement = measure(spec, server.base_url, plan.run_timeout, server.pids)
                        result = result_of(spec, repeat, measurement, cores)
                        finished(result)
                        progress.advance(task)
                        if lines:
                            done = int(progress.tasks[0].completed)
                            named = f"{label} cost={spec.analysis_cost}"
                            console.print(_run_line(named, repeat, result, done, total, started))


def _run_line(
    label: str, repeat: int, result: RunResult, done: int, total: int, started: float
) -> str:
    """Return one finished run as a line: what ran, what it measured, how long is left."""
    elapsed = time.monotonic() - started
    left = elapsed / done * (total - done)
    outcome = (
        f"failed: {result.failed}" if result.failed else f"{result.pages_per_s or 0:,.1f} pages/s"
    )
    return (
        f"[{done}/{total}] {label} #{repeat}: {outcome}"
        f" ({_minutes(elapsed)} in, about {_minutes(left)} left)"
    )


def _minutes(seconds: float) -> str:
    """Return a duration on a clock's terms: `45s`, `3m 05s`."""
    whole = round(seconds)
    return f"{whole}s" if whole < 60 else f"{whole // 60}m {whole % 60:02d}s"


def grid_of(plan: ComparePlan) -> dict[str, Any]:
    """Return the plan's grid, axis by axis, as results.json records it."""
    return {
        "strategies": list(dict.fromkeys(spec.strategy for spec in plan.runs)),
        "concurrency": sorted({spec.concurrency for spec in plan.runs}),
        "latency_ms": sorted({round(spec.latency * 1000, 3) for spec in plan.runs}),
        "analysis_cost": sorted({spec.analysis_cost for spec in plan.runs}),
        "regimes": sorted(
            {(round(spec.latency * 1000, 3), spec.analysis_cost) for spec in plan.runs}
        ),
        "pages": max(spec.pages for spec in plan.runs),
        "repeat": plan.repeat,
    }


def _config(spec: RunSpec) -> tuple[str, int, float, int]:
    """Return a run's configuration as result rows name it (latency in ms)."""
    return (spec.strategy, spec.concurrency, round(spec.latency * 1000, 3), spec.analysis_cost)


__all__ = ["CompareOutcome", "run_compare"]
