"""What the lessons' scenarios ask of `crawler compare`: listed regimes, a cap on a run's time,
variants that count processes or move the analysis, the charts a scenario names (log-log sweeps
with the cores' bounds, cores used, CPU per page, loop lag, scaling over processes)."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.axes import Axes

from command_kit.errors import SettingsError
from crawler.compare.charts import (
    IDEAL_COLOUR,
    colour_of,
    cores_figure,
    rate_figure,
    scaling_figure,
    write_charts,
)
from crawler.compare.metrics import RunResult
from crawler.compare.plan import load_plan, process_count, split_strategy


def row(
    strategy: str,
    rate: float,
    cpu_ms_per_page: float,
    concurrency: int = 1,
    latency_ms: float = 20,
    cost: int = 0,
    repeat: int = 1,
    loop_lag_p99_ms: float | None = None,
) -> RunResult:
    """A made-up result row: 1,000 pages at `rate` pages/s, `cpu_ms_per_page` of CPU each."""
    wall = 1000 / rate
    cpu = cpu_ms_per_page * 1000 / 1000
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
        cpu_s=cpu,
        cores_used=cpu / wall,
        server_cpu_s=0.0,
        machine_busy=None,
        peak_rss_mb=60,
        latency_p50_ms=latency_ms,
        latency_p95_ms=latency_ms,
        errors=0,
        ideal_s=wall,
        efficiency=1.0,
        loop_lag_p99_ms=loop_lag_p99_ms,
    )


def scenario(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lesson.toml"
    path.write_text("[compare]\n" + text)
    return path


def test_listed_regimes_are_run_as_listed_each_with_its_own_pages(tmp_path: Path) -> None:
    """`regimes` runs just those (latency, cost) pairs, not their product, and says so in the
    title; a latency, cost or page count given on the command line replaces theirs."""
    path = scenario(
        tmp_path,
        'strategies = ["sync", "async"]\nconcurrency = [1, 10]\n'
        'regimes = ["0ms/4/200", "100ms/0"]\npages = 3000\nrepeat = 1\n',
    )
    plan = load_plan(None, path, {})
    regimes = {
        (run.latency, run.analysis_cost, run.pages) for run in plan.runs if run.strategy == "async"
    }
    assert regimes == {(0.0, 4, 200), (0.1, 0, 3000)}  # sync is scaled at 100 ms, as ever
    assert "regimes (latency/cost) 0 ms/4, 100 ms/0" in plan.title
    replaced = load_plan(None, path, {"latency": "20ms"})
    assert {
        (run.latency, run.analysis_cost, run.pages)
        for run in replaced.runs
        if run.strategy == "async"
    } == {(0.02, 4, 200), (0.02, 0, 3000)}  # each cost kept, with its pages
    costs = load_plan(None, path, {"analysis_cost": "1", "pages": "50"})
    assert {(run.latency, run.analysis_cost, run.pages) for run in costs.runs} == {
        (0.0, 1, 50),
        (0.1, 1, 50),
    }
    for bad in ('"100ms"', '"fast/0"', '"0ms/0/0"'):
        with pytest.raises(SettingsError):
            load_plan(None, scenario(tmp_path, f'strategies = ["async"]\nregimes = [{bad}]\n'), {})


def test_max_seconds_caps_every_strategy_by_littles_law(tmp_path: Path) -> None:
    """A run Little's law says would outlast `max_seconds` crawls fewer pages (at least 10),
    sync included; one that would not keeps the scenario's pages."""
    path = scenario(
        tmp_path,
        'strategies = ["sync", "async"]\nconcurrency = [1, 64]\nlatency = ["200ms"]\n'
        'pages = 1000\nmax_seconds = "2s"\nrepeat = 1\n',
    )
    pages = {(run.strategy, run.concurrency): run for run in load_plan(None, path, {}).runs}
    assert pages["sync", 1].pages == 10 and pages["sync", 1].scaled_from == 1000
    assert pages["async", 1].pages == 10
    assert pages["async", 64].pages == 640 and pages["async", 64].scaled_from == 1000


def test_variants_count_processes_and_move_the_analysis() -> None:
    """`processes+N` is `--processes N`, `async-procs+N` has N workers, `async+thread` analyses
    on a thread; a count or a thread where it means nothing is a clear error."""
    assert split_strategy("processes+2") == ("processes", ("--processes", "2"))
    assert split_strategy("async-procs+4") == ("async-procs", ("--workers", "4"))
    assert split_strategy("async+thread") == ("async", ("--analysis-in", "thread"))
    assert process_count("processes+4") == 4 and process_count("async") is None
    assert colour_of("processes+1") != colour_of("processes+2")
    for bad, needle in (
        ("threads+2", "a number of processes applies to"),
        ("processes+0", "processes must be 1 to 256"),
        ("threads+thread", "only async analyses inline"),
    ):
        with pytest.raises(SettingsError, match=needle):
            load_plan(None, None, {"strategies": bad})


def test_a_scenario_names_its_charts(tmp_path: Path) -> None:
    """`charts` chooses what the report draws; an unknown one is a clear error; scaling and loop
    lag are left out when nothing in the grid gives them."""
    plan = load_plan("lesson-blocking-the-loop", None, {})
    assert plan.charts[0] == "loop_lag"
    with pytest.raises(SettingsError, match="unknown chart 'pie'"):
        load_plan(None, scenario(tmp_path, 'strategies = ["async"]\ncharts = ["pie"]\n'), {})
    rows = [row("sync", 40, 2.0), row("async", 40, 3.0, loop_lag_p99_ms=1.5)]
    drawn = write_charts(tmp_path, rows, [1], ("pages_per_s", "loop_lag", "scaling"), cores=2)
    assert drawn == ["pages_per_s.png", "loop_lag.png"]
    assert (tmp_path / "loop_lag-narrow.png").stat().st_size > 0


def _lines_of(axis: Axes, style: str) -> list[float]:
    return [
        float(line.get_ydata()[0])  # type: ignore[index]
        for line in axis.get_lines()
        if line.get_color() == IDEAL_COLOUR and line.get_linestyle() == style
    ]


def test_a_wide_sweep_is_log_log_with_the_cores_bounds() -> None:
    """Over two decades of concurrency or more, the pages/s chart is log-log (Little's law a
    straight line); each panel draws what one core and all cores allow at the cheapest CPU per
    page measured there."""
    sweep = [1, 4, 16, 64, 256]
    rows = [row("async", min(50 * c, 900), 1.0, concurrency=c) for c in sweep]
    rows += [row("sync", 48, 0.8)]
    [axis] = rate_figure(rows, sweep, cores=2).axes
    assert axis.get_yscale() == "log" and axis.get_xscale() == "log"
    assert _lines_of(axis, ":") == [pytest.approx(1250)]  # one core at 0.8 ms a page
    assert _lines_of(axis, "-.") == [pytest.approx(2500)]  # and both
    [narrow] = rate_figure(rows[:2], [1, 4], cores=2).axes
    assert narrow.get_yscale() == "linear"


def test_cores_and_scaling_charts_draw_the_machine_and_the_ideal() -> None:
    """Cores used has the machine's cores as a line; scaling plots best pages/s against the
    processes, with N times one process's rate, flat past the cores."""
    [cores_axis] = cores_figure([row("async", 100, 9.0)], [1], cores=2).axes
    assert _lines_of(cores_axis, "-.") == [2]
    rows = [
        row("processes+1", 100, 10.0, concurrency=64),
        row("processes+2", 180, 10.0, concurrency=64),
        row("processes+4", 170, 12.0, concurrency=64),
    ]
    [axis] = scaling_figure(rows, cores=2).axes
    [ideal] = [line for line in axis.get_lines() if line.get_color() == IDEAL_COLOUR]
    assert list(ideal.get_xdata()) == [1, 2, 4]  # type: ignore[arg-type]
    assert list(ideal.get_ydata()) == [1, 2, 2]  # type: ignore[arg-type]
    assert [tick.get_text() for tick in axis.get_xticklabels()] == ["1", "2", "4"]
