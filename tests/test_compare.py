"""`crawler compare`: the plan, the verdict logic on made-up numbers, the results, one real run."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from crawl_basics.errors import SettingsError
from crawler.compare.metrics import RunResult, result_of
from crawler.compare.plan import RunSpec, load_plan
from crawler.compare.report import FIELDS
from crawler.compare.runner import Measurement
from crawler.compare.verdict import binding_limit, medians, verdicts


def row(
    strategy: str,
    rate: float,
    cores: float,
    latency_ms: float = 100,
    cost: int = 0,
    concurrency: int = 100,
    repeat: int = 1,
) -> RunResult:
    """A made-up result row."""
    wall = 1000 / rate
    ideal = max(1000 * latency_ms / 1000 / concurrency, cores * wall / 2)
    return RunResult(
        strategy=strategy,
        concurrency=concurrency,
        latency_ms=latency_ms,
        analysis_cost=cost,
        pages=1000,
        scaled_from=None,
        repeat=repeat,
        process_wall_s=wall + 0.5,
        wall_s=wall,
        pages_per_s=rate,
        cpu_s=cores * wall,
        cores_used=cores,
        peak_rss_mb=60,
        latency_p50_ms=latency_ms,
        latency_p95_ms=latency_ms,
        errors=0,
        ideal_s=ideal,
        efficiency=ideal / wall,
    )


def test_io_bound_verdict_names_async_and_io_wait() -> None:
    """At high latency, async beating threads and sync with little CPU is an I/O-wait verdict."""
    rows = [row("async", 900, 0.4), row("threads", 500, 0.9), row("sync", 9.5, 0.02, concurrency=1)]
    [verdict] = verdicts(rows, cores=2)
    assert verdict.winner == "async" and verdict.runner_up == "threads"
    assert verdict.ratio == pytest.approx(1.8)
    assert verdict.binding == "I/O wait"
    assert verdict.threads_vs_sync == pytest.approx(500 / 9.5)
    assert "`threads` ran at 52.63x `sync`" in verdict.sentence()
    assert (
        "async wins" not in verdict.sentence()
        and "`async` wins at 900 pages/s, 1.80x `threads`" in verdict.sentence()
    )


def test_cpu_bound_verdicts_name_the_cores() -> None:
    """At zero latency with heavy analysis, async-procs on both cores wins; async alone is one core."""
    rows = [
        row("async-procs", 210, 1.85, latency_ms=0, cost=4),
        row("async", 140, 1.0, latency_ms=0, cost=4),
    ]
    [verdict] = verdicts(rows, cores=2)
    assert verdict.winner == "async-procs" and verdict.binding == "all cores"
    assert binding_limit(rows[1], cores=2)[0] == "one core"
    assert "latency allowed" in binding_limit(row("async", 500, 0.95, latency_ms=50), cores=2)[1]


def test_verdicts_use_each_strategys_best_configuration_and_median_repeat() -> None:
    """Repeats collapse to their median; a strategy is judged by its best concurrency; failures are ignored."""
    rows = [
        row("async", 100, 0.3, concurrency=10, repeat=1),
        row("async", 300, 0.3, concurrency=10, repeat=2),
        row("async", 200, 0.3, concurrency=10, repeat=3),
        row("async", 800, 0.5, concurrency=100),
        row("threads", 700, 0.9, concurrency=100),
        RunResult(
            **{
                **row("threads", 1, 0).to_dict(),
                "pages_per_s": None,
                "failed": "timed out after 5 s",
            }
        ),
    ]
    assert {(r.concurrency, r.pages_per_s) for r in medians(rows) if r.strategy == "async"} == {
        (10, 200),
        (100, 800),
    }
    [verdict] = verdicts(rows, cores=2)
    assert (
        verdict.winner == "async" and verdict.pages_per_s == 800 and verdict.runner_up == "threads"
    )


def test_result_row_has_the_documented_schema_and_efficiency() -> None:
    """A measured run becomes a row with every schema field; efficiency = ideal / wall."""
    spec = RunSpec("async", 100, 0.1, 0, 1000)
    summary = {
        "pages": 1000,
        "wall_s": 1.25,
        "cpu_s": 0.5,
        "errors": {"http_5xx": 3},
        "latency_ms": {"p50": 101.0, "p95": 110.0},
    }
    result = result_of(spec, 1, Measurement(1.8, 0.9, 75.0, summary), cores=2)
    for name in (
        "strategy",
        "concurrency",
        "latency_ms",
        "analysis_cost",
        "pages",
        "wall_s",
        "pages_per_s",
        "cpu_s",
        "cores_used",
        "peak_rss_mb",
        "efficiency",
        "errors",
    ):
        assert name in result.to_dict()
    assert (
        result.pages_per_s == 800 and result.cores_used == pytest.approx(0.4) and result.errors == 3
    )
    assert result.ideal_s == pytest.approx(1.0) and result.efficiency == pytest.approx(0.8)
    failed = result_of(spec, 1, Measurement(5.0, 0.0, 10.0, {}, "timed out after 5 s"), cores=2)
    assert failed.failed == "timed out after 5 s" and failed.pages_per_s is None


def test_plan_expands_the_grid_and_scales_sync(tmp_path: Path) -> None:
    """The grid is the product of its lists; sync runs once per point, on fewer pages at high latency."""
    plan = load_plan(
        "quick",
        None,
        {
            "strategies": "sync,async",
            "concurrency": "10,100",
            "latency": "0ms,200ms",
            "analysis_cost": "0",
            "pages": "500",
        },
    )
    async_runs = [run for run in plan.runs if run.strategy == "async"]
    sync_runs = [run for run in plan.runs if run.strategy == "sync"]
    assert len(async_runs) == 4 and len(sync_runs) == 2
    slow = next(run for run in sync_runs if run.latency == 0.2)
    assert slow.concurrency == 1 and slow.pages < 500 and slow.scaled_from == 500
    with pytest.raises(SettingsError, match="unknown strategy"):
        load_plan("quick", None, {"strategies": "telepathy"})
    with pytest.raises(SettingsError, match="no scenario 'nope'"):
        load_plan("nope", None, {})


def test_every_shipped_scenario_loads() -> None:
    """quick, io-bound, cpu-bound, mixed and memory are valid plans; memory reaches 1,000+."""
    for name in ("quick", "io-bound", "cpu-bound", "mixed", "memory"):
        assert load_plan(name, None, {}).runs
    assert max(run.concurrency for run in load_plan("memory", None, {}).runs) >= 1000


def test_small_comparison_end_to_end(tmp_path: Path) -> None:
    """A real, small comparison writes results.json, results.csv (same rows), charts and report.md."""
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "crawler",
            "compare",
            "--strategies",
            "sync,async",
            "--concurrency",
            "4",
            "--latency",
            "20ms",
            "--analysis-cost",
            "0",
            "--pages",
            "15",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads((out / "results.json").read_text())
    assert document["schema_version"] == 1 and document["machine"]["cores"] >= 1
    assert {run["strategy"] for run in document["runs"]} == {"sync", "async"}
    assert all(run["failed"] is None and run["pages"] == 15 for run in document["runs"])
    with (out / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(document["runs"]) and list(rows[0]) == FIELDS
    assert document["verdicts"] and document["verdicts"][0]["winner"] == "async"
    for chart in ("pages_per_s.png", "peak_memory.png", "io_vs_cpu.png"):
        assert (out / chart).read_bytes().startswith(b"\x89PNG")
    report = (out / "report.md").read_text()
    assert "## Verdicts" in report and "pages_per_s.png" in report
    assert "Comparison (medians)" in result.stderr


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--scenario", "nope"], "no scenario 'nope'"),
        (["--strategies", "bogus"], "unknown strategy 'bogus'"),
        (["--concurrency", ""], "the grid is empty"),
        (["--out", "/proc/not-here"], "out: cannot write"),
    ],
)
def test_bad_compare_input_is_one_line(args: list[str], needle: str) -> None:
    """Unknown scenario or strategy, an empty grid, an unwritable output: one line, exit 2."""
    result = subprocess.run(
        [sys.executable, "-m", "crawler", "compare", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and needle in result.stderr


def test_a_failing_run_is_reported_and_the_comparison_goes_on(tmp_path: Path) -> None:
    """A run that times out is a failed row in the results, and the others are still measured."""
    config = tmp_path / "slow.toml"
    config.write_text(
        '[compare]\nstrategies = ["sync", "async"]\nconcurrency = [4]\nlatency = ["300ms"]\npages = 12\nrun_timeout = "2s"\nsync_max_seconds = "60s"\n'
    )
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "crawler", "compare", "--config", str(config), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    runs = {run["strategy"]: run for run in json.loads((out / "results.json").read_text())["runs"]}
    assert runs["sync"]["failed"].startswith("timed out") and runs["async"]["failed"] is None
    assert "FAILED" in result.stderr and "## Failed runs" in (out / "report.md").read_text()
