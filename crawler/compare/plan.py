"""A comparison's plan: which runs, on which site, how often. Read from a scenario TOML file.

A scenario's `[compare]` table names the grid (strategies x concurrency x latency x analysis cost)
and its `[mock_server]` table the site. A grid given on the command line with no scenario is that
grid alone: it inherits nothing from `quick`, and its site is the mock server's defaults. `sync`
makes one request at a time, so it runs once per (latency, cost) point, on fewer pages when the
latency would make it slow; the report says so.

A strategy may carry a variant after a `+`: a limit rule (`async+adaptive` is `async` with
`--adaptive`, concurrency the ceiling; `async+aimd`, `async+autothrottle` and `async+autoscaled`
the peers' rules), so one report sets fixed limits and found ones side by side (`--scenario
adaptive`); an event loop (`async+asyncio`, `async+uvloop`), so asyncio, uvloop and the `loop`
strategy's loop written from scratch crawl side by side (`--scenario lesson-event-loop`); where
`async` analyses pages (`async+thread`); or a number of processes (`processes+2` is `processes
--processes 2`, `async-procs+2` has 2 analysis workers), so one report scales a strategy over
cores.

A scenario may list its `regimes` (`"50ms/0"`: latency/analysis cost, optionally with a page
count of its own, `"0ms/4/200"`) instead of crossing every latency with every cost, cap the time
of any run (`max_seconds`: a run Little's law says would take longer crawls fewer pages), and
name the charts its report draws (`charts`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from command_kit.config import read_config_table
from command_kit.errors import SettingsError
from command_kit.units import parse_duration, parse_int
from crawler.run.embedded import SCENARIOS_IN_PACKAGE, SCENARIOS_IN_SOURCE, find_config
from crawler.strategies import STRATEGIES

# The variants a strategy of the grid may carry after a `+`: the crawl flags each adds, and the
# strategies it applies to.
_LIMITED = frozenset({"threads", "async", "async-procs", "processes", "loop", "broker"})
_ON_ASYNCIO = frozenset({"async", "async-procs", "processes"})
_ONE_AT_A_TIME = "sync sends one request at a time"
_NOT_ASYNCIO = "only async, async-procs and processes run on asyncio's loops"
# A number after the `+`: how many processes the strategy runs (its own flag for it).
_COUNTED = {"processes": "--processes", "broker": "--processes", "async-procs": "--workers"}
VARIANTS: dict[str, tuple[tuple[str, ...], frozenset[str], str]] = {
    "adaptive": (("--adaptive",), _LIMITED, _ONE_AT_A_TIME),
    "aimd": (("--adaptive", "--adaptive-rule", "aimd"), _LIMITED, _ONE_AT_A_TIME),
    "autothrottle": (("--adaptive", "--adaptive-rule", "autothrottle"), _LIMITED, _ONE_AT_A_TIME),
    "autoscaled": (("--adaptive", "--adaptive-rule", "autoscaled"), _LIMITED, _ONE_AT_A_TIME),
    "asyncio": (("--loop", "asyncio"), _ON_ASYNCIO, _NOT_ASYNCIO),
    "uvloop": (("--loop", "uvloop"), _ON_ASYNCIO, _NOT_ASYNCIO),
    "thread": (("--analysis-in", "thread"), frozenset({"async"}), "only async analyses inline"),
}


def split_strategy(name: str) -> tuple[str, tuple[str, ...]]:
    """Return a grid strategy's crawl strategy and the flags of its variant (none: as is)."""
    strategy, _, variant = name.partition("+")
    if variant.isdigit() and strategy in _COUNTED:
        return strategy, (_COUNTED[strategy], variant)
    return strategy, VARIANTS[variant][0] if variant in VARIANTS else ()


def process_count(name: str) -> int | None:
    """Return the processes a grid strategy's `+N` variant names (`processes+2`: 2), or None."""
    strategy, _, variant = name.partition("+")
    return int(variant) if variant.isdigit() and strategy in _COUNTED else None


def _check_strategy(name: str) -> None:
    strategy, plus, variant = name.partition("+")
    if strategy not in STRATEGIES:
        raise SettingsError(
            "strategies", f"unknown strategy {name!r} (known: {', '.join(STRATEGIES)})"
        )
    if not plus:
        return
    if variant.isdigit():
        if strategy not in _COUNTED:
            raise SettingsError(
                "strategies",
                f"{name!r}: a number of processes applies to {', '.join(_COUNTED)} only",
            )
        if not 1 <= int(variant) <= 256:
            raise SettingsError("strategies", f"{name!r}: processes must be 1 to 256")
        return
    if variant not in VARIANTS:
        known = ", ".join(VARIANTS)
        raise SettingsError("strategies", f"unknown variant in {name!r} (known: {known})")
    _, applies_to, why = VARIANTS[variant]
    if strategy not in applies_to:
        raise SettingsError("strategies", f"{name!r}: {why}")


# Three repeats at least: the fewest for which "its slowest beats the other's fastest" means
# something (3 against 3 fall apart by chance once in 20 times; see verdict.py).
DEFAULT_REPEAT = 3


# The charts a report can draw (see charts.py), and those it draws unless its scenario says.
CHARTS = (
    "pages_per_s",
    "best_per_strategy",
    "peak_memory",
    "cores_used",
    "cpu_per_page",
    "loop_lag",
    "latency",
    "scaling",
)
DEFAULT_CHARTS = ("pages_per_s", "best_per_strategy", "peak_memory")


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One crawl to measure."""

    strategy: str
    concurrency: int
    latency: float
    analysis_cost: int
    pages: int
    scaled_from: int | None = None  # the grid's page count, when this run crawls fewer

    @property
    def key(self) -> tuple[str, int, float, int]:
        """Return what identifies the run in the grid."""
        return (self.strategy, self.concurrency, self.latency, self.analysis_cost)


@dataclass(frozen=True, slots=True)
class ComparePlan:
    """Everything `crawler compare` will do."""

    name: str  # the scenario, "quick (modified: latency)", or "custom grid"
    runs: tuple[RunSpec, ...]
    repeat: int = DEFAULT_REPEAT
    site: Mapping[str, Any] = field(default_factory=dict)
    run_timeout: float = 300.0
    charts: tuple[str, ...] = DEFAULT_CHARTS

    @property
    def title(self) -> str:
        """Return what was run, in one line: the name and the grid's every axis."""
        return f"{self.name}: {describe_grid(self.runs, self.repeat)}"


# The options that say what to run; given with no scenario, they are the whole grid.
GRID_KEYS = ("strategies", "concurrency", "latency", "analysis_cost")

_KEYS = {
    "strategies",
    "concurrency",
    "latency",
    "analysis_cost",
    "pages",
    "repeat",
    "sync_max_seconds",
    "max_seconds",
    "run_timeout",
    "regimes",
    "charts",
}


def load_plan(
    scenario: str | None, config: Path | None, overrides: Mapping[str, Any]
) -> ComparePlan:
    """Build the plan from a scenario name or a config file, with command-line overrides.

    With neither, grid options make a custom grid (code defaults for what they leave out, the
    mock server's default site); with no grid option either, the plan is the `quick` scenario.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    custom = scenario is None and config is None and any(key in given for key in GRID_KEYS)
    path = config if config is not None else find_config(scenario or "quick")
    if not custom and not path.exists():
        known = ", ".join(sorted(scenario_names()))
        raise SettingsError("scenario", f"no scenario {scenario!r} (known: {known})")
    table = {} if custom else read_config_table(path, "compare")
    unknown = set(table) - _KEYS
    if unknown:
        raise SettingsError(
            sorted(unknown)[0], f"unknown [compare] key (known: {', '.join(sorted(_KEYS))})"
        )
    values: dict[str, Any] = {**table, **given}
    try:
        strategies = _as_list(values.get("strategies", [name.value for name in STRATEGIES]))
        concurrency = [parse_int(value) for value in _as_list(values.get("concurrency", [10]))]
        latencies = [parse_duration(value) for value in _as_list(values.get("latency", ["0ms"]))]
        costs = [parse_int(value) for value in _as_list(values.get("analysis_cost", [0]))]
        pages = parse_int(values.get("pages", 200))
        repeat = parse_int(values.get("repeat", DEFAULT_REPEAT))
        sync_max_seconds = parse_duration(values.get("sync_max_seconds", "20s"))
        max_seconds = parse_duration(values["max_seconds"]) if "max_seconds" in values else math.inf
        run_timeout = parse_duration(values.get("run_timeout", "300s"))
        regimes = [(latency, cost, pages) for latency, cost in itertools.product(latencies, costs)]
        if "regimes" in table:
            regimes = _overridden(_regimes(table["regimes"], pages), given, latencies, costs)
            if "pages" in given:  # the command line's page count is every regime's
                regimes = [(latency, cost, pages) for latency, cost, _ in regimes]
    except ValueError as error:
        raise SettingsError("compare", str(error)) from None
    charts = tuple(_as_list(values.get("charts", list(DEFAULT_CHARTS))))
    for chart in charts:
        if chart not in CHARTS:
            raise SettingsError("charts", f"unknown chart {chart!r} (known: {', '.join(CHARTS)})")
    for strategy in strategies:
        _check_strategy(strategy)
    latencies, costs = [regime[0] for regime in regimes], [regime[1] for regime in regimes]
    if not (strategies and concurrency and regimes):
        raise SettingsError(
            "compare",
            "the grid is empty: give at least one strategy, concurrency, latency and cost",
        )
    fewest_pages = min(regime[2] for regime in regimes)
    if (
        min(concurrency) < 1
        or fewest_pages < 1
        or repeat < 1
        or min(latencies) < 0
        or min(costs) < 0
    ):
        raise SettingsError(
            "compare",
            "concurrency, pages and repeat must be at least 1; latency and cost not negative",
        )
    runs = []
    for strategy, limit, (latency, cost, regime_pages) in itertools.product(
        strategies, concurrency, regimes
    ):
        if strategy == "sync":
            if limit != concurrency[0]:
                continue  # one request at a time whatever the limit: one run per point
            limit = 1
        spec = RunSpec(strategy, limit, latency, cost, regime_pages)
        # Little's law's time for the run: past the cap, fewer pages measure the same rate.
        seconds = min(max_seconds, sync_max_seconds) if strategy == "sync" else max_seconds
        if latency > 0 and regime_pages * latency / limit > seconds:
            scaled = max(10, int(seconds * limit / latency))
            spec = replace(spec, pages=scaled, scaled_from=regime_pages)
        runs.append(spec)
    site = {} if custom else read_config_table(path, "mock_server")
    return ComparePlan(
        _name(path.stem, custom, [key for key in (*GRID_KEYS, "pages", "repeat") if key in given]),
        tuple(runs),
        repeat,
        site,
        run_timeout,
        charts,
    )


def _overridden(
    regimes: list[tuple[float, int, int]],
    given: Mapping[str, Any],
    latencies: list[float],
    costs: list[int],
) -> list[tuple[float, int, int]]:
    """Return a scenario's regimes with the command line's latencies or costs put in: a latency
    given replaces every regime's latency (each cost kept, with its pages), a cost given every
    regime's cost (each latency kept), both the whole list."""
    if "latency" in given and "analysis_cost" in given:
        pages = max(regime[2] for regime in regimes)
        return [(latency, cost, pages) for latency, cost in itertools.product(latencies, costs)]
    if "latency" in given:
        kept = {cost: pages for _, cost, pages in regimes}
        return [(latency, cost, pages) for latency in latencies for cost, pages in kept.items()]
    if "analysis_cost" in given:
        by_latency = {latency: pages for latency, _, pages in regimes}
        return [(latency, cost, pages) for latency, pages in by_latency.items() for cost in costs]
    return regimes


def _regimes(listed: Any, pages: int) -> list[tuple[float, int, int]]:
    """Return the (latency, analysis cost, pages) a scenario lists, as `["0ms/8/200", "50ms/0"]`
    (a regime without a page count has the scenario's)."""
    found = []
    for regime in _as_list(listed):
        parts = [part.strip() for part in str(regime).split("/")]
        if len(parts) not in (2, 3):
            raise ValueError(f"a regime is LATENCY/COST[/PAGES], e.g. 50ms/0, not {regime!r}")
        own_pages = parse_int(parts[2]) if len(parts) == 3 else pages
        found.append((parse_duration(parts[0]), parse_int(parts[1]), own_pages))
    return found


def _name(stem: str, custom: bool, changed: list[str]) -> str:
    """Name the plan by where its grid came from, so a report never claims a scenario it changed."""
    if custom:
        return "custom grid"
    if changed:
        return f"{stem} (modified: {', '.join(key.replace('_', ' ') for key in changed)})"
    return stem


def describe_grid(runs: tuple[RunSpec, ...], repeat: int) -> str:
    """Return the grid the runs cover, e.g. `sync, async x concurrency 4 x latency 20 ms x ...`."""

    def listed(values: set[Any], unit: str = "") -> str:
        return ", ".join(f"{value:g}" for value in sorted(values)) + unit

    strategies = ", ".join(dict.fromkeys(run.strategy for run in runs))
    limits = {run.concurrency for run in runs if run.strategy != "sync"} or {1}
    pages = max(run.pages for run in runs)
    latencies = {run.latency for run in runs}
    costs = {run.analysis_cost for run in runs}
    regimes = {(run.latency, run.analysis_cost) for run in runs}
    if len(regimes) == len(latencies) * len(costs):
        axes = [
            f"latency {listed({latency * 1000 for latency in latencies}, ' ms')}",
            f"analysis cost {listed(costs)}",
        ]
    else:  # listed regimes, not every latency with every cost
        pairs = ", ".join(f"{latency * 1000:g} ms/{cost}" for latency, cost in sorted(regimes))
        axes = [f"regimes (latency/cost) {pairs}"]
    parts = [
        strategies,
        f"concurrency {listed(limits)}",
        *axes,
        f"{pages} pages",
        f"{repeat} repeat{'s' if repeat != 1 else ''}",
    ]
    return " x ".join(parts)


def scenario_names() -> set[str]:
    """Return the names of the scenarios that ship with the crawler."""
    names: set[str] = set()
    for folder in (SCENARIOS_IN_SOURCE, SCENARIOS_IN_PACKAGE):
        if folder.is_dir():
            names.update(
                path.stem for path in folder.glob("*.toml") if "[compare]" in path.read_text()
            )
    return names


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return list(value)
    return [value]
