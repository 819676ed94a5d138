"""`crawler compare`: the plan, the verdict logic on made-up numbers, the results, one real run."""

from __future__ import annotations

import csv
import json
import random
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from command_kit.errors import SettingsError
from crawler.compare.measure import Measurement
from crawler.compare.metrics import RunResult, result_of
from crawler.compare.plan import RunSpec, load_plan, split_strategy
from crawler.compare.report import FIELDS
from crawler.compare.verdict import binding_limit, explain, medians, shares, verdicts


def noisy(strategy: str, rate: float, cores: float, **kwargs: Any) -> list[RunResult]:
    """Three made-up repeats within 2% of `rate`."""
    return [
        row(strategy, rate * factor, cores, repeat=n, **kwargs)
        for n, factor in enumerate((0.98, 1.0, 1.02), start=1)
    ]


def row(
    strategy: str,
    rate: float,
    cores: float,
    latency_ms: float = 100,
    cost: int = 0,
    concurrency: int = 100,
    repeat: int = 1,
) -> RunResult:
    """A made-up result row: 1,000 pages at `rate` pages/s using `cores` cores."""
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
        server_cpu_s=0.0,
        machine_busy=None,
        peak_rss_mb=60,
        latency_p50_ms=latency_ms,
        latency_p95_ms=latency_ms,
        errors=0,
        ideal_s=ideal,
        efficiency=ideal / wall,
    )


def test_io_bound_verdict_names_async_and_io_wait() -> None:
    """At high latency, async near Little's law's rate with little CPU wins, bound by I/O wait."""
    rows = [
        *noisy("async", 900, 0.4),
        *noisy("threads", 500, 0.9),
        *noisy("sync", 9.5, 0.02, concurrency=1),
    ]
    [verdict] = verdicts(rows, cores=2)
    assert verdict.winner == "async" and verdict.runner_up == "threads"
    assert verdict.ratio == pytest.approx(1.8)
    assert verdict.binding == "I/O wait" and verdict.shares["I/O wait"] == pytest.approx(0.9)
    assert verdict.threads_vs_sync == pytest.approx(500 / 9.5, rel=1e-3)
    sentence = verdict.sentence()
    assert "`async` wins, bound by I/O wait; `async` at 900 pages/s, 1.80x `threads`" in sentence
    assert "reached 90% of the 1,000 pages/s Little's law allows" in sentence


def test_cpu_bound_verdicts_name_the_cores() -> None:
    """At zero latency with heavy analysis, async-procs on both cores wins; async alone is one core."""
    rows = [
        *noisy("async-procs", 210, 1.85, latency_ms=0, cost=4),
        *noisy("async", 140, 1.0, latency_ms=0, cost=4),
    ]
    [verdict] = verdicts(rows, cores=2)
    assert verdict.winner == "async-procs" and verdict.binding == "all cores"
    assert binding_limit(shares(rows[3], cores=2)) == "one core"
    assert "latency allowed" in explain(row("async", 500, 0.95, latency_ms=50), cores=2)[2]


def test_a_winner_needs_its_slowest_repeat_to_beat_the_runner_ups_fastest() -> None:
    """Overlapping repeats are no clear winner, whatever the medians say; apart by 10% they win."""
    overlapping = [
        *(row("async", rate, 0.5, repeat=n) for n, rate in enumerate((700, 720, 780))),
        *(row("threads", rate, 0.9, repeat=n) for n, rate in enumerate((650, 690, 760))),
    ]
    [verdict] = verdicts(overlapping, cores=2)
    assert verdict.outcome == "no clear winner" and verdict.winner is None
    assert verdict.tied == ("async", "threads") and verdict.leader == "async"
    assert verdict.headline() == "no clear winner (within noise) between `async` and `threads`"
    assert "does not beat the fastest of `threads`, 760, by 10%" in verdict.sentence()
    apart = [
        *(row("async", rate, 0.5, repeat=n) for n, rate in enumerate((850, 900, 950))),
        *(row("threads", rate, 0.9, repeat=n) for n, rate in enumerate((650, 690, 760))),
    ]
    [verdict] = verdicts(apart, cores=2)
    assert verdict.outcome == "wins" and verdict.winner == "async"
    assert (
        "the slowest of 3 repeats of `async`, 850 pages/s, beats the fastest" in verdict.sentence()
    )


def test_a_failed_or_missing_strategy_means_no_verdict() -> None:
    """A regime where a strategy failed (or was not run) names no winner over it."""
    failed = RunResult(
        **{**row("async", 1, 0).to_dict(), "pages_per_s": None, "failed": "timed out after 5 s"}
    )
    rows = [*noisy("sync", 9.5, 0.02, concurrency=1), failed]
    [verdict] = verdicts(rows, cores=2)
    assert verdict.outcome == "no verdict" and verdict.winner is None
    assert verdict.headline() == "no verdict (`async` failed)"
    assert "wins" not in verdict.sentence() and "`sync` ran at 10 pages/s" in verdict.sentence()
    planned = [("sync", 1, 100.0, 0), ("async-procs", 100, 100.0, 0)]
    [verdict] = verdicts(noisy("sync", 9.5, 0.02, concurrency=1), cores=2, planned=planned)
    assert verdict.headline() == "no verdict (`async-procs` not run)"


def test_the_binding_label_is_the_limit_its_evidence_names() -> None:
    """The label is the largest share, from the same numbers its sentence quotes, or none below 0.7."""
    cases = [
        (row("async", 900, 0.4), "I/O wait"),  # 90% of Little's law, 0.4 cores
        (row("threads", 400, 0.97), "one core"),  # 40% of Little's law, its interpreter busy
        (row("async-procs", 300, 1.9), "all cores"),
        (row("async", 500, 0.5), None),  # half of Little's law, half a core: neither binds
        (row("async", 500, 0.5, latency_ms=0), None),
    ]
    for case, expected in cases:
        binding, measured, why = explain(case, cores=2)
        assert binding == expected, (case.strategy, measured)
        if binding is not None:
            assert measured[binding] == max(measured.values()) >= 0.7
        else:
            assert all(share < 0.7 for share in measured.values())
            assert "neither latency nor CPU binds" in why or "CPU does not bind" in why
    assert "I/O wait" not in explain(row("async", 500, 0.5), cores=2)[2]


def busy(result: RunResult, machine_busy: float) -> RunResult:
    """The same row, measured while the machine's cores were `machine_busy` busy in all."""
    return RunResult(**{**result.to_dict(), "machine_busy": machine_busy})


def test_a_machine_busy_with_other_programs_is_said_first() -> None:
    """A winner that used 0.37 of a core while other programs held 1.6 of 2 is not "bound by all
    cores": the label names the other programs, and says the run cannot tell what binds it. An
    I/O-bound run beside a busy machine keeps its label, and its reason starts with the others;
    a winner that itself filled both cores is bound by them, with nothing to add."""
    crowded = [busy(result, 1.0) for result in noisy("async", 300, 0.37, latency_ms=0)]
    [verdict] = verdicts(crowded, cores=2)
    assert verdict.binding == "other programs"
    assert verdict.headline() == "`async` wins, on a machine busy with other programs"
    assert "mostly with other programs (1.63 cores)" in verdict.why
    assert "cannot say what would bind `async`" in verdict.why
    waiting = busy(row("async", 900, 0.4), 0.75)
    binding, _, why = explain(waiting, cores=2)
    assert binding == "I/O wait" and why.startswith("other programs held 1.10 of the 2 cores")
    # 75% busy, the crawl and its server 69% of it, other programs 6%: not all cores, not them.
    short = busy(replace(row("processes", 1064, 1.18, latency_ms=200, concurrency=500),
                         server_cpu_s=0.2 * 1000 / 1064), 0.75)  # fmt: skip
    binding, _, why = explain(short, cores=2)
    assert binding is None and "mostly" not in why and "neither latency nor CPU binds" in why
    full = busy(row("async-procs", 300, 1.9), 0.97)
    binding, _, why = explain(full, cores=2)
    assert binding == "all cores" and not why.startswith("other programs")


# The quick scenario's regimes as they measured on a 2-core machine (pages/s, cores used,
# concurrency), and one more with a clear winner that neither latency nor CPU binds.
QUICK_TRUTH = {
    (200.0, 0): {  # a tie: async and threads both near Little's law, within noise of each other
        "sync": (4.7, 0.09, 1),
        "threads": (175, 0.44, 50),
        "async": (165, 0.22, 50),
        "async-procs": (111, 0.45, 50),
    },
    (200.0, 8): {
        "sync": (4.2, 0.17, 1),
        "threads": (36.6, 0.93, 50),
        "async": (32.8, 0.71, 50),
        "async-procs": (55, 1.7, 50),
    },
    (20.0, 0): {"threads": (480, 0.95, 50), "async": (680, 0.5, 50)},
}


def synthetic_comparison(seed: int, noise: float = 0.05) -> list[RunResult]:
    """Three repeats of every configuration of QUICK_TRUTH, each rate off by seeded lognormal noise."""
    rng = random.Random(seed)
    rows = []
    for (latency, cost), strategies in QUICK_TRUTH.items():
        for strategy, (rate, cores, concurrency) in strategies.items():
            for repeat in range(1, 4):
                jitter = rng.lognormvariate(0, noise)
                rows.append(
                    row(
                        strategy,
                        rate * jitter,
                        cores * jitter,
                        latency_ms=latency,
                        cost=cost,
                        concurrency=concurrency,
                        repeat=repeat,
                    )
                )
    return rows


def test_verdicts_stay_the_same_across_noisy_comparisons() -> None:
    """Forty seeded comparisons with 5% noise give the same headline verdicts as the noiseless truth."""
    expected = [v.headline() for v in verdicts(synthetic_comparison(0, noise=0.0), cores=2)]
    assert expected == [
        "`async` wins; neither latency nor CPU binds",  # latency 20 ms
        "no clear winner (within noise) between `async` and `threads`",
        "`async-procs` wins, bound by all cores",
    ]
    for seed in range(40):
        assert [v.headline() for v in verdicts(synthetic_comparison(seed), cores=2)] == expected, (
            seed
        )


def test_picking_the_higher_median_alone_would_flip_with_noise() -> None:
    """The same noisy comparisons, judged by the higher median only, disagree on the tie: the rule matters."""
    leaders = set()
    for seed in range(40):
        tie = [
            v
            for v in verdicts(synthetic_comparison(seed), cores=2)
            if v.regime.endswith("200 ms, analysis cost 0")
        ]
        leaders.add(tie[0].leader)
    assert leaders == {"async", "threads"}


def test_verdicts_use_each_strategys_best_configuration_and_median_repeat() -> None:
    """Repeats collapse to their median; a strategy is judged by its best concurrency."""
    rows = [
        row("async", 100, 0.3, concurrency=10, repeat=1),
        row("async", 300, 0.3, concurrency=10, repeat=2),
        row("async", 200, 0.3, concurrency=10, repeat=3),
        *noisy("async", 800, 0.5, concurrency=100),
        *noisy("threads", 600, 0.9, concurrency=100),
    ]
    assert {(r.concurrency, r.pages_per_s) for r in medians(rows) if r.strategy == "async"} == {
        (10, 200),
        (100, 800),
    }
    [verdict] = verdicts(rows, cores=2)
    assert (verdict.winner, verdict.concurrency, verdict.pages_per_s) == ("async", 100, 800)
    assert verdict.runner_up == "threads"


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


def test_a_grid_with_no_scenario_is_custom_and_a_changed_scenario_says_so() -> None:
    """Grid options alone make a custom grid (no analysis cost, pages or site from quick); given
    with a scenario, they are named in its title."""
    custom = load_plan(None, None, {"strategies": "async", "concurrency": "4", "latency": "20ms"})
    assert {run.analysis_cost for run in custom.runs} == {0} and custom.site == {}
    assert custom.repeat == 3 and {run.pages for run in custom.runs} == {200}
    assert custom.title == (
        "custom grid: async x concurrency 4 x latency 20 ms x analysis cost 0 x 200 pages x 3 repeats"
    )
    quick = load_plan(None, None, {})
    assert quick.name == "quick" and quick.title.startswith(
        "quick: sync, threads, async, async-procs, processes x"
    )
    changed = load_plan("quick", None, {"latency": "20ms", "repeat": "1"})
    assert changed.name == "quick (modified: latency, repeat)"
    assert {run.analysis_cost for run in changed.runs} == {0, 8}


def test_every_shipped_scenario_loads() -> None:
    """quick, io-bound, cpu-bound, mixed, memory, adaptive and the lessons are valid plans;
    memory reaches 1,000+; adaptive sets fixed limits beside found ones on an origin that refuses
    past 10."""
    config = Path(__file__).parents[1] / "config"
    lessons = sorted(path.stem for path in config.glob("lesson-*.toml"))
    assert lessons
    for name in ("quick", "io-bound", "cpu-bound", "mixed", "memory", "adaptive", *lessons):
        assert load_plan(name, None, {}).runs
    assert max(run.concurrency for run in load_plan("memory", None, {}).runs) >= 1000
    adaptive = load_plan("adaptive", None, {})
    assert {"async", "async+adaptive"} <= {run.strategy for run in adaptive.runs}
    assert adaptive.site["overload"] == "reject" and adaptive.site["capacity"] == 10
    assert split_strategy("async+aimd") == ("async", ("--adaptive", "--adaptive-rule", "aimd"))
    assert split_strategy("threads") == ("threads", ())
    assert split_strategy("async+asyncio") == ("async", ("--loop", "asyncio"))


@pytest.mark.slow
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
            "sync,async,async+adaptive",
            "--concurrency",
            "4",
            "--latency",
            "20ms",
            "--analysis-cost",
            "0",
            "--pages",
            "15",
            "--repeat",
            "1",
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
    assert document["schema_version"] == 2 and document["machine"]["cores"] >= 1
    assert {run["strategy"] for run in document["runs"]} == {"sync", "async", "async+adaptive"}
    assert all(run["failed"] is None and run["pages"] == 15 for run in document["runs"])
    with (out / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(document["runs"]) and list(rows[0]) == FIELDS
    assert document["verdicts"] and document["verdicts"][0]["leader"] == "async"
    for chart in ("pages_per_s.png", "peak_memory.png", "best_per_strategy.png"):
        assert (out / chart).read_bytes().startswith(b"\x89PNG")
    report = (out / "report.md").read_text()
    assert "## Verdicts" in report and "pages_per_s.png" in report
    assert "Comparison (medians): custom grid: sync, async, async+adaptive" in result.stderr
    # Not a terminal: a line per run says what ran and how long is left.
    assert re.search(
        r"^\[1/\d+\] sync c=1 \S+ cost=\d+ #1: .*pages/s \(\d+s in, about .* left\)$",
        result.stderr,
        re.M,
    )
    assert (out / "report.html").read_text().startswith("<!doctype html>")


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--scenario", "nope"], "no scenario 'nope'"),
        (["--strategies", "bogus"], "unknown strategy 'bogus'"),
        (["--strategies", "async+fast"], "unknown variant in 'async+fast'"),
        (["--strategies", "sync+adaptive"], "sync sends one request at a time"),
        (["--strategies", "loop+asyncio"], "only async, async-procs and processes run on"),
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


@pytest.mark.slow
def test_a_failing_run_is_reported_and_the_comparison_goes_on(tmp_path: Path) -> None:
    """A run that times out is a failed row in the results, and the others are still measured."""
    config = tmp_path / "slow.toml"
    config.write_text(
        '[compare]\nstrategies = ["sync", "async"]\nconcurrency = [10]\nlatency = ["300ms"]\npages = 20\nrepeat = 1\nrun_timeout = "5s"\nsync_max_seconds = "60s"\n'
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
