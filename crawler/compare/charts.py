"""Draw a comparison: pages/s, memory, cores, CPU per page and loop lag against concurrency,
each strategy's best, and a strategy's pages/s against its number of processes.

Every chart is a grid of panels, one per regime (latency x analysis cost), two to a row so that it
stays readable on a narrow screen. The panels share one y axis starting at zero, so heights compare
across regimes; every concurrency of the grid is ticked; error bars span the repeats (min to max)
around the median; the figure has one title and one legend. The pages/s chart draws the ideal
Little's law sets, concurrency / latency, so the distance to it can be read off, and what the
cores allow at the cheapest CPU per page measured: one core's worth, and all of them. A sweep
over two decades of concurrency or more is drawn on log-log axes, where Little's law is the
straight line it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullLocator

from crawler.compare.metrics import RunResult
from crawler.compare.plan import DEFAULT_CHARTS, process_count

DPI = 110
PANEL_INCHES = (4.2, 3.2)
# One colour per strategy, the same in every chart (and colourblind-safe: Okabe-Ito).
COLOURS = {
    "sync": "#777777",
    "threads": "#0072B2",
    "async": "#009E73",
    "async-procs": "#D55E00",
    "processes": "#CC79A7",
    "loop": "#882255",  # beyond Okabe-Ito's eight: Paul Tol's wine
    "+adaptive": "#E69F00",
    "+aimd": "#56B4E9",
    "+autothrottle": "#000000",
    "+autoscaled": "#F0E442",
    "+asyncio": "#44AA99",  # Paul Tol's teal
    "+uvloop": "#009E73",  # async's own: it is async's default loop
    "+thread": "#AA4499",  # Paul Tol's purple
}
IDEAL_COLOUR = "#444444"

BOUND_STYLES: dict[str, Literal[":", "-."]] = {"one core": ":", "all cores": "-."}
# A sweep this wide (largest concurrency / smallest) is drawn with a log y axis as well.
LOG_LOG_SPAN = 100

Regime = tuple[float, int]
Config = tuple[str, int, float, int]
# The y axis' label of each value a chart draws.
UNITS = {
    "pages_per_s": "pages/s",
    "peak_rss_mb": "MiB",
    "cores_used": "cores",
    "cpu_ms_per_page": "CPU ms per page",
    "loop_lag_p99_ms": "ms",
    "latency_p50_ms": "ms",
}


def write_charts(
    out: Path,
    rows: Sequence[RunResult],
    concurrency: Sequence[int],
    charts: Sequence[str] = DEFAULT_CHARTS,
    cores: int = 1,
) -> list[str]:
    """Draw the charts named (see `plan.CHARTS`) into `out` and return their file names (none
    without a result; a chart with nothing to draw, as `scaling` without `+N` variants, is left
    out).

    Each is also drawn one panel to a row, as `<name>-narrow.png`, for report.html to show on
    screens too narrow for two panels side by side.
    """
    finished = [row for row in rows if row.failed is None and row.pages_per_s is not None]
    if not finished:
        return []
    drawings: dict[str, Callable[[int], Figure]] = {
        "pages_per_s": lambda columns: rate_figure(finished, concurrency, columns, cores),
        "best_per_strategy": lambda columns: best_figure(finished, columns),
        "peak_memory": lambda columns: memory_figure(finished, concurrency, columns),
        "cores_used": lambda columns: cores_figure(finished, concurrency, columns, cores),
        "cpu_per_page": lambda columns: line_figure(
            finished, concurrency, "cpu_ms_per_page", "CPU per page (ms)", columns
        ),
        "loop_lag": lambda columns: line_figure(
            finished, concurrency, "loop_lag_p99_ms", "Event loop lag, p99 (ms)", columns
        ),
        "latency": lambda columns: line_figure(
            finished, concurrency, "latency_p50_ms", "Fetch latency, p50 (ms)", columns
        ),
        "scaling": lambda columns: scaling_figure(finished, columns, cores),
    }
    names = []
    for chart in charts:
        if chart == "scaling" and not _counted(finished):
            continue
        if chart == "loop_lag" and not _values(finished, "loop_lag_p99_ms"):
            continue
        name = f"{chart}.png"
        drawings[chart](2).savefig(out / name, dpi=DPI)
        drawings[chart](1).savefig(out / narrow_name(name), dpi=DPI)
        names.append(name)
    return names


def narrow_name(name: str) -> str:
    """Return the file name of a chart's one-column version."""
    return name.replace(".png", "-narrow.png")


def rate_figure(
    rows: Sequence[RunResult], concurrency: Sequence[int], columns: int = 2, cores: int = 1
) -> Figure:
    """Pages/s against concurrency, per regime, with Little's law's ideal and the cores' bounds."""

    ticks = _ticks(rows, concurrency)
    measured_top = max(row.pages_per_s or 0.0 for row in rows)
    # The ideal is drawn up to 3x the best measured rate; higher, it would flatten every curve.
    shown_top = 3 * measured_top
    log_log = ticks[-1] / ticks[0] >= LOG_LOG_SPAN
    bounds = {regime: _core_bounds(rows, regime, cores) for regime in _regimes(rows)}

    def draw(axis: Axes, regime: Regime) -> None:
        _lines(axis, rows, regime, "pages_per_s")
        for label, rate in bounds[regime].items():
            if rate <= shown_top:
                axis.axhline(rate, linestyle=BOUND_STYLES[label], color=IDEAL_COLOUR, linewidth=1)
        latency_s = regime[0] / 1000
        if latency_s > 0:
            ideal = [tick / latency_s for tick in ticks]
            # Marks at the grid's points, and the curve between them (it bends on a log axis).
            axis.plot(ticks, ideal, linestyle="none", marker="_", markersize=14, color=IDEAL_COLOUR)
            curve = np.geomspace(ticks[0], ticks[-1], 60)
            axis.plot(curve, curve / latency_s, "--", color=IDEAL_COLOUR, linewidth=1)
            off_chart = [tick for tick, rate in zip(ticks, ideal, strict=True) if rate > shown_top]
            if off_chart:
                # Low on the right on log-log axes: the top left is where the bounds are.
                axis.annotate(
                    f"ideal at {off_chart[0]:g}: {off_chart[0] / latency_s:,.0f}, off the chart",
                    (0.98, 0.03) if log_log else (0.02, 0.97),
                    xycoords="axes fraction",
                    va="bottom" if log_log else "top",
                    ha="right" if log_log else "left",
                    fontsize=8,
                    color=IDEAL_COLOUR,
                )

    title = "Pages per second against concurrency (median; bars: min-max)"
    figure = _grid(rows, title, draw, columns)
    _x_axes(figure, rows, concurrency)
    ideals = [tick / (row.latency_ms / 1000) for tick in ticks for row in rows if row.latency_ms]
    shown_bounds = [rate for found in bounds.values() for rate in found.values()]
    also = [rate for rate in [*ideals, *shown_bounds] if rate <= shown_top]
    _fit_y(figure, rows, "pages_per_s", also=also)
    if log_log:
        _log_y(figure, rows, "pages_per_s", also)
    extra = []
    if ideals:
        extra.append(
            Line2D([], [], linestyle="--", color=IDEAL_COLOUR, label="ideal: concurrency / latency")
        )
    for label, style in BOUND_STYLES.items():
        if any(found.get(label, math.inf) <= shown_top for found in bounds.values()):
            named = "1 core" if label == "one core" else f"all {cores} cores"
            extra.append(
                Line2D([], [], linestyle=style, color=IDEAL_COLOUR, label=f"{named} / CPU per page")
            )
    _legend(figure, rows, extra)
    return figure


def _core_bounds(rows: Sequence[RunResult], regime: Regime, cores: int) -> dict[str, float]:
    """Return the pages/s one core and all the machine's cores allow at the regime's cheapest
    CPU per page measured (the median of a configuration's repeats): a crawl using more CPU per
    page stays below them, and the mock server's share of the cores lowers them further."""
    costs = [
        _median(values)
        for (_, _, latency, cost), values in _values(rows, "cpu_ms_per_page").items()
        if (latency, cost) == regime and _median(values) > 0
    ]
    if not costs:
        return {}
    per_page_s = min(costs) / 1000
    found = {"one core": 1 / per_page_s}
    if cores > 1:
        found["all cores"] = cores / per_page_s
    return found


def _log_y(figure: Figure, rows: Sequence[RunResult], field: str, also: Sequence[float]) -> None:
    """Put the shared y axis on a log scale, from a little under the lowest value to the top."""
    values = [value for found in _values(rows, field).values() for value in found if value > 0]
    values += [value for value in also if value > 0]
    if not values:
        return
    axis = figure.axes[0]
    axis.set_yscale("log")
    axis.set_ylim(min(values) / 1.5, max(values) * 1.5)


def cores_figure(
    rows: Sequence[RunResult], concurrency: Sequence[int], columns: int = 2, cores: int = 1
) -> Figure:
    """Cores the crawl kept busy (its CPU / its wall time) against concurrency, per regime."""
    machine = Line2D([], [], linestyle="-.", color=IDEAL_COLOUR, label=f"the machine: {cores}")
    figure = line_figure(
        rows, concurrency, "cores_used", "Cores the crawl kept busy", columns, [machine]
    )
    for axis in figure.axes:
        axis.axhline(cores, linestyle="-.", color=IDEAL_COLOUR, linewidth=1)
    _fit_y(figure, rows, "cores_used", also=[cores])
    return figure


def line_figure(
    rows: Sequence[RunResult],
    concurrency: Sequence[int],
    field: str,
    what: str,
    columns: int = 2,
    extra: Sequence[Line2D] = (),
) -> Figure:
    """`field` (a median line per strategy) against concurrency, one panel per regime; rows
    without a value for it (no event loop for a loop lag) are left out."""
    shown = [row for row in rows if getattr(row, field) is not None]
    figure = _grid(
        shown,
        f"{what} against concurrency (median; bars: min-max)",
        lambda axis, regime: _lines(axis, shown, regime, field),
        columns,
    )
    _x_axes(figure, shown, concurrency)
    _fit_y(figure, shown, field)
    _legend(figure, shown, list(extra))
    return figure


def scaling_figure(rows: Sequence[RunResult], columns: int = 2, cores: int = 1) -> Figure:
    """Speed-up against the number of processes of each `strategy+N` variant, per regime: its
    best median pages/s over that of its fewest processes (each point labelled with its pages/s),
    with the ideal, N times as fast while there are cores for them and no faster beyond."""
    counted = _counted(rows)
    shown = [row for row in rows if row.strategy in counted]
    families = sorted({strategy.partition("+")[0] for strategy in counted})
    counts = sorted(set(counted.values()))
    tops = [float(min(count, cores)) / min(counts[0], cores) for count in counts]

    def draw(axis: Axes, regime: Regime) -> None:
        best = _best_per_strategy(shown, regime)
        for family in families:
            points = sorted(
                (counted[name], values)
                for name, (_, values) in best.items()
                if name.partition("+")[0] == family
            )
            if not points:
                continue
            xs = [count for count, _ in points]
            base = _median(points[0][1])
            mids = [_median(values) / base for _, values in points]
            low = [mid - min(values) / base for mid, (_, values) in zip(mids, points, strict=True)]
            high = [max(values) / base - mid for mid, (_, values) in zip(mids, points, strict=True)]
            axis.errorbar(
                xs, mids, yerr=[low, high], marker="o", capsize=3, color=colour_of(family)
            )
            tops.extend(max(values) / base for _, values in points)
            for x, mid, (_, values) in zip(xs, mids, points, strict=True):
                axis.annotate(
                    f"{_median(values):,.0f}/s",
                    (x, mid),
                    xytext=(0, -12),
                    textcoords="offset points",
                    ha="center",
                    fontsize=8,
                )
            ideal = [min(count, cores) / min(xs[0], cores) for count in xs]
            axis.plot(xs, ideal, "--", color=IDEAL_COLOUR, linewidth=1)

    title = "Speed-up against processes: best pages/s over the fewest's (bars: min-max)"
    figure = _grid(shown, title, draw, columns)
    for axis in figure.axes:
        axis.set_xscale("log", base=2)
        axis.set_xticks(counts, [f"{count:g}" for count in counts])
        axis.xaxis.set_minor_locator(NullLocator())
        axis.set_xlim(counts[0] / 1.3, counts[-1] * 1.3)
        axis.set_xlabel("processes")
    figure.axes[0].set_ylim(0, max(tops) * 1.25)
    for axis in figure.axes[:: min(len(figure.axes), 2)]:
        axis.set_ylabel("speed-up")
    handles: list[Any] = [
        Line2D([], [], color=colour_of(family), marker="o", label=family) for family in families
    ]
    ideal = f"ideal: N x the fewest's, up to {cores} cores"
    handles.append(Line2D([], [], linestyle="--", color=IDEAL_COLOUR, label=ideal))
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 3))
    return figure


def _counted(rows: Sequence[RunResult]) -> dict[str, int]:
    """Return the strategies that name a number of processes (`processes+2`), with it."""
    found = {}
    for row in rows:
        count = process_count(row.strategy)
        if count is not None:
            found[row.strategy] = count
    return found


def _regimes(rows: Sequence[RunResult]) -> list[Regime]:
    return sorted({(row.latency_ms, row.analysis_cost) for row in rows})


def memory_figure(
    rows: Sequence[RunResult], concurrency: Sequence[int], columns: int = 2
) -> Figure:
    """Peak resident memory of the crawl's process tree against concurrency, per regime."""
    figure = _grid(
        rows,
        "Peak memory (MiB) of the crawl's processes against concurrency",
        lambda axis, regime: _lines(axis, rows, regime, "peak_rss_mb"),
        columns,
    )
    _x_axes(figure, rows, concurrency)
    _fit_y(figure, rows, "peak_rss_mb")
    _legend(figure, rows, [])
    return figure


def best_figure(rows: Sequence[RunResult], columns: int = 2) -> Figure:
    """Each strategy's best median pages/s per regime, as labelled bars."""

    def draw(axis: Axes, regime: Regime) -> None:
        best = _best_per_strategy(rows, regime)
        names = [name for name in _strategies(rows) if name in best]
        rates = [best[name][1] for name in names]
        medians = [_median(values) for values in rates]
        low = [mid - min(values) for mid, values in zip(medians, rates, strict=True)]
        high = [max(values) - mid for mid, values in zip(medians, rates, strict=True)]
        places = range(len(names))
        colours = [colour_of(name) for name in names]
        axis.bar(places, medians, yerr=[low, high], capsize=3, color=colours)
        for place, mid, values in zip(places, medians, rates, strict=True):
            # Above the error bar's top, so the number never sits on it.
            axis.annotate(
                f"{mid:,.0f}",
                (place, max(values)),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=9,
            )
        labels = [f"{name}\nc={best[name][0]}" for name in names]
        axis.set_xticks(list(places), labels, fontsize=8.5)

    title = "Best pages per second of each strategy (at its best concurrency)"
    figure = _grid(rows, title, draw, columns)
    _fit_y(figure, rows, "pages_per_s", headroom=1.3)
    _legend(figure, rows, [])
    return figure


def _grid(
    rows: Sequence[RunResult], title: str, draw: Callable[[Axes, Regime], None], columns: int
) -> Figure:
    """Lay out one panel per regime, `columns` to a row, sharing the y axis; draw each."""
    regimes = _regimes(rows)
    columns = min(len(regimes), columns)
    lines = math.ceil(len(regimes) / columns)
    figure = Figure(
        figsize=(PANEL_INCHES[0] * columns, PANEL_INCHES[1] * lines + 0.9), layout="constrained"
    )
    axes = figure.subplots(lines, columns, sharey=True, squeeze=False)
    for index, axis in enumerate(axes.flat):
        if index >= len(regimes):
            axis.set_visible(False)
            continue
        latency, cost = regimes[index]
        draw(axis, (latency, cost))
        axis.set_title(f"latency {latency:g} ms, analysis cost {cost}", fontsize=10)
        axis.grid(True, axis="y", alpha=0.3)
    # One panel to a row is for narrow screens: the title wraps to fit it.
    figure.suptitle(
        title if columns > 1 else title.replace(" (", "\n("), fontsize=12, fontweight="bold"
    )
    return figure


def _lines(axis: Axes, rows: Sequence[RunResult], regime: Regime, field: str) -> None:
    """Plot one line per strategy: the median of `field` per concurrency, min-max error bars."""
    names = _strategies(rows)
    for index, strategy in enumerate(names):
        # Side by side around each concurrency, so equal values do not hide one another.
        dodge = 1 + 0.05 * (index - (len(names) - 1) / 2)
        points = sorted(
            (concurrency, values)
            for (name, concurrency, latency, cost), values in _values(rows, field).items()
            if name == strategy and (latency, cost) == regime
        )
        if not points:
            continue
        xs = [x * dodge for x, _ in points]
        mids = [_median(values) for _, values in points]
        low = [mid - min(values) for mid, (_, values) in zip(mids, points, strict=True)]
        high = [max(values) - mid for mid, (_, values) in zip(mids, points, strict=True)]
        axis.errorbar(xs, mids, yerr=[low, high], marker="o", capsize=3, color=colour_of(strategy))


def _x_axes(figure: Figure, rows: Sequence[RunResult], concurrency: Sequence[int]) -> None:
    """Tick every concurrency of the grid (and 1, where `sync` is drawn) on a log scale."""
    ticks = _ticks(rows, concurrency)
    for axis in figure.axes:
        axis.set_xscale("log")
        axis.set_xticks(ticks, [f"{tick:g}" for tick in ticks])
        axis.xaxis.set_minor_locator(NullLocator())
        axis.set_xlim(ticks[0] / 1.4, ticks[-1] * 1.4)
        axis.set_xlabel("concurrency")


def _fit_y(
    figure: Figure,
    rows: Sequence[RunResult],
    field: str,
    headroom: float = 1.15,
    also: Sequence[float] = (),
) -> None:
    """Start the shared y axis at zero and end it above the highest repeat (and `also`)."""
    top = max((max(values) for values in _values(rows, field).values()), default=1.0)
    top = max([top, *also])
    figure.axes[0].set_ylim(0, top * headroom)
    for axis in figure.axes[:: min(len(figure.axes), 2)]:
        axis.set_ylabel(UNITS[field])


def _legend(figure: Figure, rows: Sequence[RunResult], extra: list[Line2D]) -> None:
    """Put one legend for the whole figure under its title."""
    handles: list[Any] = [
        Line2D([], [], color=colour_of(name), marker="o", label=name) for name in _strategies(rows)
    ]
    handles += extra
    columns = 3 if figure.get_figwidth() > 1.5 * PANEL_INCHES[0] else 2
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), columns))


def _ticks(rows: Sequence[RunResult], concurrency: Sequence[int]) -> list[int]:
    return sorted(set(concurrency) | {row.concurrency for row in rows})


# The colours of `strategy+N` variants, by N: 1, 2, 4, 8 and more (Paul Tol's muted scheme).
COUNT_COLOURS = ("#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE")


def colour_of(strategy: str) -> str:
    """Return a strategy's colour; one with a limit rule (`async+adaptive`) has its rule's, one
    with a number of processes (`processes+2`) its number's."""
    plus, variant = strategy.partition("+")[1:]
    if variant.isdigit():
        step = max(int(variant), 1).bit_length() - 1
        return COUNT_COLOURS[min(step, len(COUNT_COLOURS) - 1)]
    return COLOURS.get(plus + variant if plus else strategy, "#999999")


def _strategies(rows: Sequence[RunResult]) -> list[str]:
    order = list(COLOURS)
    names = {row.strategy for row in rows}
    return sorted(
        names, key=lambda name: (order.index(name) if name in order else len(order), name)
    )


def _values(rows: Sequence[RunResult], field: str) -> dict[Config, list[float]]:
    """Return each configuration's values of `field`, one per finished repeat."""
    found: dict[Config, list[float]] = {}
    for row in rows:
        value = getattr(row, field)
        if value is not None:
            key = (row.strategy, row.concurrency, row.latency_ms, row.analysis_cost)
            found.setdefault(key, []).append(float(value))
    return found


def _best_per_strategy(
    rows: Sequence[RunResult], regime: Regime
) -> dict[str, tuple[int, list[float]]]:
    """Return each strategy's best (highest median) concurrency and its pages/s repeats."""
    best: dict[str, tuple[int, list[float]]] = {}
    for (name, limit, latency, cost), values in _values(rows, "pages_per_s").items():
        if (latency, cost) != regime:
            continue
        if name not in best or _median(values) > _median(best[name][1]):
            best[name] = (limit, values)
    return best


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]
