"""Draw a comparison: pages/s and peak memory against concurrency, and each strategy's best.

Every chart is a grid of panels, one per regime (latency x analysis cost), two to a row so that it
stays readable on a narrow screen. The panels share one y axis starting at zero, so heights compare
across regimes; every concurrency of the grid is ticked; error bars span the repeats (min to max)
around the median; the figure has one title and one legend. The pages/s chart draws the ideal
Little's law sets, concurrency / latency, so the distance to it can be read off.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullLocator

from crawler.compare.metrics import RunResult

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
}
IDEAL_COLOUR = "#444444"

Regime = tuple[float, int]
Config = tuple[str, int, float, int]


def write_charts(out: Path, rows: Sequence[RunResult], concurrency: Sequence[int]) -> list[str]:
    """Draw the three charts into `out` and return their file names (none without a result).

    Each is also drawn one panel to a row, as `<name>-narrow.png`, for report.html to show on
    screens too narrow for two panels side by side.
    """
    finished = [row for row in rows if row.failed is None and row.pages_per_s is not None]
    if not finished:
        return []
    drawings: list[tuple[str, Callable[[int], Figure]]] = [
        ("pages_per_s.png", lambda columns: rate_figure(finished, concurrency, columns)),
        ("best_per_strategy.png", lambda columns: best_figure(finished, columns)),
        ("peak_memory.png", lambda columns: memory_figure(finished, concurrency, columns)),
    ]
    names = []
    for name, draw in drawings:
        draw(2).savefig(out / name, dpi=DPI)
        draw(1).savefig(out / narrow_name(name), dpi=DPI)
        names.append(name)
    return names


def narrow_name(name: str) -> str:
    """Return the file name of a chart's one-column version."""
    return name.replace(".png", "-narrow.png")


def rate_figure(rows: Sequence[RunResult], concurrency: Sequence[int], columns: int = 2) -> Figure:
    """Pages/s against concurrency, per regime, with Little's law's ideal."""

    ticks = _ticks(rows, concurrency)
    measured_top = max(row.pages_per_s or 0.0 for row in rows)
    # The ideal is drawn up to 3x the best measured rate; higher, it would flatten every curve.
    shown_top = 3 * measured_top

    def draw(axis: Axes, regime: Regime) -> None:
        _lines(axis, rows, regime, "pages_per_s")
        latency_s = regime[0] / 1000
        if latency_s > 0:
            ideal = [tick / latency_s for tick in ticks]
            # Marks at the grid's points, and the curve between them (it bends on a log axis).
            axis.plot(ticks, ideal, linestyle="none", marker="_", markersize=14, color=IDEAL_COLOUR)
            curve = np.geomspace(ticks[0], ticks[-1], 60)
            axis.plot(curve, curve / latency_s, "--", color=IDEAL_COLOUR, linewidth=1)
            off_chart = [tick for tick, rate in zip(ticks, ideal, strict=True) if rate > shown_top]
            if off_chart:
                axis.annotate(
                    f"ideal at {off_chart[0]:g}: {off_chart[0] / latency_s:,.0f}, off the chart",
                    (0.02, 0.97),
                    xycoords="axes fraction",
                    va="top",
                    fontsize=8,
                    color=IDEAL_COLOUR,
                )

    title = "Pages per second against concurrency (median; bars: min-max)"
    figure = _grid(rows, title, draw, columns)
    _x_axes(figure, rows, concurrency)
    ideals = [tick / (row.latency_ms / 1000) for tick in ticks for row in rows if row.latency_ms]
    _fit_y(figure, rows, "pages_per_s", also=[rate for rate in ideals if rate <= shown_top])
    ideal = Line2D([], [], linestyle="--", color=IDEAL_COLOUR, label="ideal: concurrency / latency")
    _legend(figure, rows, [ideal] if ideals else [])
    return figure


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
    regimes = sorted({(row.latency_ms, row.analysis_cost) for row in rows})
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
        axis.set_ylabel("pages/s" if field == "pages_per_s" else "MiB")


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


def colour_of(strategy: str) -> str:
    """Return a strategy's colour; one with a limit rule (`async+adaptive`) has its rule's."""
    plus, variant = strategy.partition("+")[1:]
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
