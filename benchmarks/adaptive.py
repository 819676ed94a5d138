"""Measure `--adaptive` against fixed limits and the peers' rules on servers of known capacity.

The mock server serves `capacity` C requests at once per origin (50 ms each, so an origin's best
throughput is C / 50 ms) and past it either refuses with 503 and `Retry-After: 1`
(`overload=reject`) or queues (`overload=queue`). Its `/_stats` counters, read every half second
from outside the crawl, give what the server saw: answers served (200) and refused (503) over
time. Each crawl is `python -m crawler crawl SEEDS --time-limit D --quiet --stats-json S -o OUT`
plus the contender's flags, a process of its own against a server process of its own.

1. **The best fixed limit, T\\*.** `--per-host K` for K from 1 to 2C, in both overload modes: the
   throughput of the best K is T\\*, what a user who guessed perfectly would get.
2. **Steady capacity**, each mode: the default (`--per-host 16`, no `--adaptive`), `--adaptive`
   from 1 and from `--adaptive-start 100`, and the peers' rules re-implemented
   (`--adaptive-rule aimd`, `autothrottle` at Scrapy's default target concurrency of 1 and at C,
   `autoscaled`), the adaptive ones under `--concurrency 100 --per-host 100`. Measured: the
   throughput of the last 20 s against T\\*, 503s over the run and after convergence, the p50
   latency against the service time, and when it converged: the first second from which the
   5-second mean throughput reaches 0.9 T\\* and the mean of the rest of the run stays there.
3. **Capacity halved, then restored** (`capacity_schedule=20s=5,50s=10`, reject): when the 503
   burst after the halving ends (the first 3 s without one), and how long after the restoring the
   5-second mean is back at 0.9 T\\*.
4. **Two origins, one slow**: the 50 ms origin beside one that answers in 1 s and serves 4 at
   once; the fast origin's throughput against T\\*, the slow one's against its own best (4/s).
5. **1,000 origins** of capacities from 1 to 4 (`capacity_per=host`, `capacity_spread=4`, 1 s
   each, reject): where each origin's limit ended against its true capacity (the mock's oracle),
   503s, pages/s, and what the controller costs per origin (bytes and µs per sample, measured in
   this process on 1,000 limits driven by a synthetic latency trace).

Goals: ≥ 0.9 T\\* steady, ≤ 1% 503s after convergence (≤ 3% over the run), p50 ≤ 1.5x the
service time, converged within 30 s; halved: the burst over within 5 s, back to 0.9 T\\* within
30 s of the restoring.

Run: `.venv/bin/python benchmarks/adaptive.py [--only sweep,reject,queue,halved,two,broad]
[--report-only]`; writes results/adaptive.{json,md} and results/adaptive.png. About 25 minutes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import CHILD_ENVIRONMENT, RESULTS, command_line, git_revision, machine, write_results

from crawler.core.adaptive import OriginLimit
from mock_server import MockServerProcess, load_settings

SERVICE_S = 0.05
CAPACITY = 10
SWEEP = (1, 2, 4, 6, 8, 9, 10, 11, 12, 14, 16, 20)
SWEEP_S = 15.0
SWEEP_FROM_S = 5.0
RUN_S = 50.0
STEADY_FROM_S = 30.0
HALVED_AT_S, RESTORED_AT_S, HALVED_RUN_S = 20.0, 50.0, 80.0
TWO_RUN_S, TWO_FROM_S = 40.0, 20.0
SLOW_SERVICE_S, SLOW_CAPACITY = 1.0, 4
BROAD_ORIGINS, BROAD_CAPACITY, BROAD_SPREAD, BROAD_SERVICE_S, BROAD_RUN_S = 1000, 4, 4.0, 1.0, 60.0
SAMPLE_EVERY_S = 0.5
GOALS = {
    "throughput_share": 0.9,
    "refused_after_convergence": 0.01,
    "refused_overall": 0.03,
    "p50_over_service": 1.5,
    "converged_s": 30.0,
    "burst_s": 5.0,
    "recovered_s": 30.0,
}
ROOMY = ["--concurrency", "100", "--per-host", "100"]


@dataclass(frozen=True)
class Contender:
    """One way of choosing how hard to push: a label and the crawl flags that select it."""

    name: str
    flags: tuple[str, ...]


CONTENDERS = (
    Contender("fixed: the default (--per-host 16)", ()),
    Contender("--adaptive (from 1)", ("--adaptive", *ROOMY)),
    Contender("--adaptive (from 100)", ("--adaptive", "--adaptive-start", "100", *ROOMY)),
    Contender("AIMD (spider-rs)", ("--adaptive", "--adaptive-rule", "aimd", *ROOMY)),
    Contender(
        "AutoThrottle, target 1 (Scrapy's default)",
        ("--adaptive", "--adaptive-rule", "autothrottle", *ROOMY),
    ),
    Contender(
        f"AutoThrottle, target {CAPACITY}",
        ("--adaptive", "--adaptive-rule", f"autothrottle:{CAPACITY}", *ROOMY),
    ),
    Contender("AutoscaledPool (Crawlee)", ("--adaptive", "--adaptive-rule", "autoscaled", *ROOMY)),
)


def server_settings(overload: str, **more: Any) -> Any:
    """Return the mock settings of an origin of CAPACITY at SERVICE_S, deep enough for a run."""
    values = {"pages": 100_000, "latency": f"{SERVICE_S}s", "capacity": CAPACITY}
    return load_settings(overrides={**values, "overload": overload, **more})


class Timeline:
    """Read each server's /_stats every half second from a thread: served and refused so far."""

    def __init__(self, servers: Sequence[MockServerProcess]) -> None:
        self.servers = servers
        self.samples: list[list[tuple[float, int, int]]] = [[] for _ in servers]
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Timeline:
        for server in self.servers:
            request = urllib.request.Request(server.origins[0] + "/_stats", method="DELETE")
            urllib.request.urlopen(request, timeout=30).close()  # the schedule starts again too
        self.started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            for index, server in enumerate(self.servers):
                with urllib.request.urlopen(server.origins[0] + "/_stats", timeout=30) as answer:
                    stats = json.load(answer)
                by_status = stats["by_status"]
                at = time.monotonic() - self.started
                self.samples[index].append((at, by_status.get("200", 0), by_status.get("503", 0)))
            if self._done.wait(SAMPLE_EVERY_S):
                return

    def per_second(self, index: int = 0) -> tuple[list[float], list[float]]:
        """Return served/s and refused/s in whole seconds from the start."""
        samples = self.samples[index]
        seconds = int(samples[-1][0]) if samples else 0
        served, refused = [0.0] * seconds, [0.0] * seconds
        for (t0, ok0, no0), (t1, ok1, no1) in itertools.pairwise(samples):
            # Each sample interval's counts are spread over the seconds it covers.
            span = t1 - t0
            if span <= 0:
                continue
            start = t0
            while start < t1:
                second = int(start)
                end = min(t1, second + 1)
                if second < seconds:
                    served[second] += (ok1 - ok0) * (end - start) / span
                    refused[second] += (no1 - no0) * (end - start) / span
                start = end
        return served, refused


def crawl(
    seeds: Sequence[str], flags: Sequence[str], duration: float, scratch: Path
) -> dict[str, Any]:
    """Run one crawl for `duration` seconds; return its --stats-json summary."""
    stats_json, output = scratch / "stats.json", scratch / "out.jsonl"
    command = [sys.executable, "-m", "crawler", "crawl", *seeds, "-o", str(output), "--quiet"]
    command += ["--stats-json", str(stats_json), "--time-limit", f"{duration:g}s", *flags]
    subprocess.run(command, check=True, env=CHILD_ENVIRONMENT, timeout=duration + 120)
    summary: dict[str, Any] = json.loads(stats_json.read_text())
    return summary


def rolling(values: Sequence[float], width: int = 5) -> list[float]:
    """Return the mean of each `width` seconds ending at each second."""
    return [
        statistics.fmean(values[max(0, index - width + 1) : index + 1])
        for index in range(len(values))
    ]


def converged_at(served: Sequence[float], target: float, since: float = 0.0) -> float | None:
    """Return the first second (from `since`) whose 5-second mean reaches 0.9 `target` and from
    which the rest of the run keeps a mean of at least that; None if none does."""
    means = rolling(served)
    goal = GOALS["throughput_share"] * target
    for second in range(int(since), len(served)):
        if means[second] >= goal and statistics.fmean(served[second:]) >= goal:
            return float(second)
    return None


def run_metrics(
    served: Sequence[float],
    refused: Sequence[float],
    best: float,
    steady_from: float,
    summary: dict[str, Any],
) -> dict[str, Any]:
    """Return a run's measures against the best fixed throughput `best`."""
    steady = served[int(steady_from) :]
    converged = converged_at(served, best)
    after = int(converged) if converged is not None else len(served)
    served_after, refused_after = sum(served[after:]), sum(refused[after:])
    total = sum(served) + sum(refused)
    p50 = summary["latency_ms"]["p50"]
    return {
        "steady_per_s": round(statistics.fmean(steady), 1) if steady else 0.0,
        "steady_share": round(statistics.fmean(steady) / best, 3) if steady and best else 0.0,
        "refused_share": round(sum(refused) / total, 4) if total else 0.0,
        "refused_after_convergence": (
            round(refused_after / (served_after + refused_after), 4)
            if converged is not None and served_after + refused_after
            else None
        ),
        "converged_s": converged,
        "p50_ms": p50,
        "p50_over_service": round(p50 / (SERVICE_S * 1000), 2) if p50 else None,
        "served_per_s": [round(value, 1) for value in served],
        "refused_per_s": [round(value, 1) for value in refused],
        "limits": {
            origin: entry["trajectory"]
            for origin, entry in summary.get("limits", {}).get("origins", {}).items()
        },
    }


def sweep(overload: str, scratch: Path) -> dict[str, Any]:
    """Fixed limits 1..2C: each one's throughput, and the best of them (T*)."""
    rows = []
    with MockServerProcess(server_settings(overload)) as server:
        for limit in SWEEP:
            with Timeline([server]) as timeline:
                summary = crawl([server.base_url], ["--per-host", str(limit)], SWEEP_S, scratch)
            served, refused = timeline.per_second()
            steady = served[int(SWEEP_FROM_S) :]
            rows.append(
                {
                    "per_host": limit,
                    "served_per_s": round(statistics.fmean(steady), 1),
                    "refused_per_s": round(statistics.fmean(refused[int(SWEEP_FROM_S) :]), 1),
                    "p50_ms": summary["latency_ms"]["p50"],
                }
            )
            print(overload, rows[-1], file=sys.stderr)
    best = max(rows, key=lambda row: row["served_per_s"])
    return {"rows": rows, "best_per_host": best["per_host"], "best_per_s": best["served_per_s"]}


def contest(
    overload: str, best: float, scratch: Path, schedule: str = "", duration: float = RUN_S
) -> list[dict[str, Any]]:
    """Every contender on one server for `duration` seconds; their measures against `best`."""
    more = {"capacity_schedule": schedule} if schedule else {}
    rows = []
    with MockServerProcess(server_settings(overload, **more)) as server:
        for contender in CONTENDERS:
            with Timeline([server]) as timeline:
                summary = crawl([server.base_url], contender.flags, duration, scratch)
            served, refused = timeline.per_second()
            steady_from = STEADY_FROM_S if not schedule else RESTORED_AT_S + 20
            row = {"contender": contender.name, "flags": list(contender.flags)}
            row |= run_metrics(served, refused, best, steady_from, summary)
            if schedule:
                row |= halving_metrics(served, refused, best)
            rows.append(row)
            shown = {key: value for key, value in row.items() if not isinstance(value, list | dict)}
            print(overload, schedule, shown, file=sys.stderr)
    return rows


def halving_metrics(
    served: Sequence[float], refused: Sequence[float], best: float
) -> dict[str, Any]:
    """When the 503 burst after the halving ended, and how soon after the restoring the
    throughput was back at 0.9 T*; the throughput while halved against T*/2."""
    burst_end = None
    for second in range(int(HALVED_AT_S), int(RESTORED_AT_S) - 3):
        if not any(value >= 0.5 for value in refused[second : second + 3]):
            burst_end = second - HALVED_AT_S
            break
    recovered = converged_at(served, best, since=RESTORED_AT_S)
    halved = served[int(HALVED_AT_S) + 10 : int(RESTORED_AT_S)]
    return {
        "burst_s": burst_end,
        "recovered_s": recovered - RESTORED_AT_S if recovered is not None else None,
        "halved_share": round(statistics.fmean(halved) / (best / 2), 3) if halved else None,
    }


def two_origins(best: float, scratch: Path) -> list[dict[str, Any]]:
    """A fast origin beside a slow one: each one's throughput against its own best."""
    slow_best = SLOW_CAPACITY / SLOW_SERVICE_S
    slow_settings = load_settings(
        overrides={
            "pages": 100_000,
            "latency": f"{SLOW_SERVICE_S}s",
            "capacity": SLOW_CAPACITY,
            "overload": "reject",
        }
    )
    rows = []
    with (
        MockServerProcess(server_settings("reject")) as fast,
        MockServerProcess(slow_settings) as slow,
    ):
        for contender in CONTENDERS:
            with Timeline([fast, slow]) as timeline:
                summary = crawl([fast.base_url, slow.base_url], contender.flags, TWO_RUN_S, scratch)
            row: dict[str, Any] = {"contender": contender.name}
            for index, (name, target) in enumerate((("fast", best), ("slow", slow_best))):
                served, refused = timeline.per_second(index)
                steady = served[int(TWO_FROM_S) :]
                total = sum(served) + sum(refused)
                row[name] = {
                    "steady_per_s": round(statistics.fmean(steady), 1),
                    "steady_share": round(statistics.fmean(steady) / target, 3),
                    "refused_share": round(sum(refused) / total, 4) if total else 0.0,
                }
            row["p50_ms"] = summary["latency_ms"]["p50"]
            rows.append(row)
            print("two", row, file=sys.stderr)
    return rows


def controller_cost(origins: int = BROAD_ORIGINS, samples: int = 200) -> dict[str, Any]:
    """Bytes and CPU per origin of `OriginLimit`, driven by a trace that queues past 8 in flight."""
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    limits = [OriginLimit(ceiling=100, seed=index) for index in range(origins)]
    started = time.process_time()
    calls = 0
    for step in range(samples):
        now = step * 0.01
        for limit in limits:
            in_flight = limit.allowed
            limit.sent(in_flight)
            latency = 0.05 * max(1.0, in_flight / 8)
            limit.succeeded(latency, now - latency, now)
            calls += 2
    cpu = time.process_time() - started
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    return {
        "origins": origins,
        "samples_per_origin": samples,
        "bytes_per_origin": round(grown / origins),
        "us_per_sample": round(cpu / calls * 2 * 1e6, 2),
        "final_limits": sorted({limit.allowed for limit in limits}),
    }


def broad(scratch: Path) -> dict[str, Any]:
    """1,000 origins of capacities 1..4: where each one's limit ended against its capacity."""
    settings = load_settings(
        overrides={
            "pages": BROAD_ORIGINS * 200,
            "hosts": BROAD_ORIGINS,
            "hosts_on": "addresses",
            "latency": f"{BROAD_SERVICE_S}s",
            "capacity": BROAD_CAPACITY,
            "capacity_per": "host",
            "capacity_spread": BROAD_SPREAD,
            "overload": "reject",
        }
    )
    capacity_of = {index: settings.host_capacity(index) for index in range(BROAD_ORIGINS)}
    runs = {}
    with MockServerProcess(settings) as server:
        config = scratch / "broad.toml"
        hosts = [origin.removeprefix("http://") for origin in server.origins[1:]]
        config.write_text("[crawl]\nallow_domains = " + json.dumps(hosts) + "\n")
        index_of = {origin: index for index, origin in enumerate(server.origins)}
        wide = ["--config", str(config), "--concurrency", "3000"]
        for name, flags in (
            ("--adaptive", [*wide, "--adaptive", "--per-host", "100"]),
            (f"fixed --per-host {BROAD_CAPACITY}", [*wide, "--per-host", str(BROAD_CAPACITY)]),
        ):
            with Timeline([server]) as timeline:
                summary = crawl([server.base_url], flags, BROAD_RUN_S, scratch)
            served, refused = timeline.per_second()
            total = sum(served) + sum(refused)
            run: dict[str, Any] = {
                "served_per_s": round(statistics.fmean(served[20:]), 1),
                "refused_share": round(sum(refused) / total, 4) if total else 0.0,
                "pages": summary["pages"],
                "cpu_us_per_page": round(summary["cpu_s"] / max(1, summary["pages"]) * 1e6),
            }
            origins = summary.get("limits", {}).get("origins", {})
            if origins:
                ratios = [
                    entry["limit"] / capacity_of[index_of[origin]]
                    for origin, entry in origins.items()
                    if origin in index_of
                ]
                run["origins_with_a_limit"] = len(ratios)
                run["limit_over_capacity"] = {
                    "p10": round(statistics.quantiles(ratios, n=10)[0], 2),
                    "median": round(statistics.median(ratios), 2),
                    "p90": round(statistics.quantiles(ratios, n=10)[-1], 2),
                }
                run["at_most_capacity"] = round(sum(r <= 1 for r in ratios) / len(ratios), 3)
            runs[name] = run
            print("broad", name, run, file=sys.stderr)
    capacities = list(capacity_of.values())
    return {
        "capacities": {c: capacities.count(c) for c in sorted(set(capacities))},
        "best_per_s": round(sum(capacities) / BROAD_SERVICE_S),
        "runs": runs,
        "controller": controller_cost(),
    }


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:g} s"


def _goal(met: bool) -> str:
    return "yes" if met else "**no**"


def markdown(result: dict[str, Any]) -> str:
    """Return the results as the tables results/adaptive.md shows."""
    lines = [
        "# `--adaptive` against fixed limits and the peers' rules",
        "",
        f"`{result['command']}` at {result['revision']} on {result['machine']['cores']} cores,"
        f" {result['machine']['date']}. Mock origin: capacity {CAPACITY}, {SERVICE_S * 1000:g} ms"
        " per request, 503 + `Retry-After: 1` past capacity (`reject`) or a queue (`queue`).",
        "Throughput is what the server served (its `/_stats`, read every 0.5 s), as a share of T*,"
        " the best fixed `--per-host`'s. See the docstring of benchmarks/adaptive.py for each"
        " measure. ![charts](adaptive.png)",
        "",
    ]
    if result.get("measured_at"):
        at = ", ".join(f"{part} at {revision}" for part, revision in result["measured_at"].items())
        lines += [f"Parts measured: {at}.", ""]
    for overload in ("reject", "queue"):
        found = result.get("sweep", {}).get(overload)
        if not found:
            continue
        lines += [
            f"## Fixed limits, `{overload}`: T* = {found['best_per_s']:g} pages/s at"
            f" `--per-host {found['best_per_host']}`",
            "",
            "| --per-host | " + " | ".join(str(row["per_host"]) for row in found["rows"]) + " |",
            "|---|" + "---|" * len(found["rows"]),
            "| served/s | "
            + " | ".join(f"{row['served_per_s']:g}" for row in found["rows"])
            + " |",
            "| 503/s | " + " | ".join(f"{row['refused_per_s']:g}" for row in found["rows"]) + " |",
            "| p50 ms | " + " | ".join(f"{row['p50_ms']:g}" for row in found["rows"]) + " |",
            "",
        ]
    for key, title in (
        ("reject", "Steady capacity, `reject`"),
        ("queue", "Steady capacity, `queue`"),
        ("halved", "Capacity halved at 20 s, restored at 50 s (`reject`)"),
    ):
        rows = result.get("contests", {}).get(key)
        if not rows:
            continue
        halved = key == "halved"
        head = "| rule | steady / T* | 503s (run) | 503s after conv. | converged | p50 / service |"
        head += " burst over | back at 0.9 T* | halved / (T*/2) |" if halved else ""
        lines += [f"## {title}", "", head, "|---" * (head.count("|") - 1) + "|"]
        for row in rows:
            line = (
                f"| {row['contender']} | {_share(row['steady_share'])} |"
                f" {row['refused_share']:.1%} | {_share(row['refused_after_convergence'])} |"
                f" {_seconds(row['converged_s'])} | {row['p50_over_service'] or '-'}x |"
            )
            if halved:
                line += (
                    f" {_seconds(row['burst_s'])} | {_seconds(row['recovered_s'])} |"
                    f" {_share(row['halved_share'])} |"
                )
            lines.append(line)
        lines.append("")
    two = result.get("two_origins")
    if two:
        lines += [
            f"## Two origins: {SERVICE_S * 1000:g} ms capacity {CAPACITY}, and"
            f" {SLOW_SERVICE_S:g} s capacity {SLOW_CAPACITY}",
            "",
            "| rule | fast / T* | fast 503s | slow / its best | slow 503s |",
            "|---|---|---|---|---|",
        ]
        for row in two:
            lines.append(
                f"| {row['contender']} | {_share(row['fast']['steady_share'])} |"
                f" {row['fast']['refused_share']:.1%} | {_share(row['slow']['steady_share'])} |"
                f" {row['slow']['refused_share']:.1%} |"
            )
        lines.append("")
    wide = result.get("broad")
    if wide:
        lines += [
            f"## {BROAD_ORIGINS:,} origins, capacities {wide['capacities']},"
            f" {BROAD_SERVICE_S:g} s each (best {wide['best_per_s']:,} pages/s)",
            "",
            "| run | served/s | 503s | CPU µs/page | limit / capacity p10, median, p90 |"
            " limit ≤ capacity |",
            "|---|---|---|---|---|---|",
        ]
        for name, run in wide["runs"].items():
            spread_ = run.get("limit_over_capacity")
            shown = f"{spread_['p10']}, {spread_['median']}, {spread_['p90']}" if spread_ else "-"
            lines.append(
                f"| {name} | {run['served_per_s']:g} | {run['refused_share']:.1%} |"
                f" {run['cpu_us_per_page']:,} | {shown} | {_share(run.get('at_most_capacity'))} |"
            )
        cost = wide["controller"]
        lines += [
            "",
            f"The controller alone ({cost['origins']:,} limits, {cost['samples_per_origin']}"
            f" samples each): {cost['bytes_per_origin']:,} bytes per origin (trajectory"
            f" included), {cost['us_per_sample']} µs of CPU per sample (a `sent` and a"
            " `succeeded`).",
            "",
        ]
    lines += goals_table(result)
    return "\n".join(lines) + "\n"


def goals_table(result: dict[str, Any]) -> list[str]:
    """Return the goals and whether `--adaptive` (both starts) met each."""
    lines = ["## Goals (`--adaptive`, both starts)", "", "| goal | met |", "|---|---|"]
    for key in ("reject", "queue"):
        for row in result.get("contests", {}).get(key, []):
            if not row["contender"].startswith("--adaptive"):
                continue
            after = row["refused_after_convergence"]
            converged = row["converged_s"]
            p50 = row["p50_over_service"] or 99
            lines += [
                f"| {key}, {row['contender']}: steady ≥ 0.9 T* ({_share(row['steady_share'])}) |"
                f" {_goal(row['steady_share'] >= GOALS['throughput_share'])} |",
                f"| {key}, {row['contender']}: 503s ≤ 1% after convergence, ≤ 3% overall"
                f" ({_share(after)}, {row['refused_share']:.1%}) |"
                f" {_goal(after is not None and after <= 0.01 and row['refused_share'] <= 0.03)} |",
                f"| {key}, {row['contender']}: p50 ≤ 1.5x service ({p50}x) |"
                f" {_goal(p50 <= GOALS['p50_over_service'])} |",
                f"| {key}, {row['contender']}: converged ≤ 30 s ({_seconds(converged)}) |"
                f" {_goal(converged is not None and converged <= GOALS['converged_s'])} |",
            ]
    for row in result.get("contests", {}).get("halved", []):
        if row["contender"].startswith("--adaptive"):
            burst, back = row["burst_s"], row["recovered_s"]
            lines += [
                f"| halved, {row['contender']}: burst over ≤ 5 s ({_seconds(burst)}) |"
                f" {_goal(burst is not None and burst <= GOALS['burst_s'])} |",
                f"| halved, {row['contender']}: back at 0.9 T* ≤ 30 s ({_seconds(back)}) |"
                f" {_goal(back is not None and back <= GOALS['recovered_s'])} |",
            ]
    return [*lines, ""]


def chart(result: dict[str, Any], path: Path) -> None:
    """Draw the sweep, the steady and halved runs over time, and the limits' trajectories."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(2, 2, figsize=(14, 9), constrained_layout=True)
    sweep_axes, steady_axes, halved_axes, limit_axes = axes.flat
    for overload, style in (("reject", "o-"), ("queue", "s--")):
        found = result.get("sweep", {}).get(overload)
        if found:
            sweep_axes.plot(
                [row["per_host"] for row in found["rows"]],
                [row["served_per_s"] for row in found["rows"]],
                style,
                label=f"fixed --per-host, {overload}",
            )
    sweep_axes.axvline(CAPACITY, color="grey", linestyle=":", label=f"capacity {CAPACITY}")
    sweep_axes.set(xlabel="--per-host", ylabel="pages/s served", title="Fixed limits: T*")
    sweep_axes.legend()
    for key, ax, title in (
        ("reject", steady_axes, "Steady capacity (reject): pages/s served"),
        ("halved", halved_axes, "Capacity halved at 20 s, restored at 50 s: pages/s served"),
    ):
        for row in result.get("contests", {}).get(key, []):
            ax.plot(rolling(row["served_per_s"], 3), label=row["contender"], linewidth=1.3)
        best = result.get("sweep", {}).get("reject", {}).get("best_per_s")
        if best:
            ax.axhline(0.9 * best, color="grey", linestyle=":", label="0.9 T*")
        ax.set(xlabel="seconds", ylabel="pages/s (3 s mean)", title=title)
        ax.legend(fontsize=7)
    for key, style in (("reject", "-"), ("halved", "--"), ("queue", ":")):
        for row in result.get("contests", {}).get(key, []):
            if not row["contender"].startswith("--adaptive"):
                continue
            for trajectory in row["limits"].values():
                if trajectory:
                    times = [point[0] for point in trajectory] + [
                        HALVED_RUN_S if key == "halved" else RUN_S
                    ]
                    values = [point[1] for point in trajectory]
                    limit_axes.step(
                        times, [*values, values[-1]], style, where="post",
                        label=f"{key}, {row['contender']}",
                    )  # fmt: skip
    limit_axes.step(
        [0, HALVED_AT_S, RESTORED_AT_S, HALVED_RUN_S],
        [CAPACITY, CAPACITY / 2, CAPACITY, CAPACITY],
        "k:",
        where="post",
        label="capacity (halved run)",
    )
    limit_axes.set(
        xlabel="seconds", ylabel="limit (in flight)", title="--adaptive's limit", ylim=(0, 24)
    )
    limit_axes.legend(fontsize=7)
    figure.savefig(path, dpi=90)
    pyplot.close(figure)


PARTS = ("sweep", "reject", "queue", "halved", "two", "broad")


def measure(parts: Sequence[str], result: dict[str, Any], scratch: Path) -> None:
    """Run the chosen parts, keeping what earlier runs measured for the others."""
    result.setdefault("sweep", {})
    result.setdefault("contests", {})
    if "sweep" in parts:
        for overload in ("reject", "queue"):
            result["sweep"][overload] = sweep(overload, scratch)
    for overload in ("reject", "queue"):
        if overload in parts:
            best = result["sweep"][overload]["best_per_s"]
            result["contests"][overload] = contest(overload, best, scratch)
    best = result["sweep"]["reject"]["best_per_s"] if "reject" in result["sweep"] else 0.0
    if "halved" in parts:
        schedule = f"{HALVED_AT_S:g}s={CAPACITY // 2},{RESTORED_AT_S:g}s={CAPACITY}"
        result["contests"]["halved"] = contest(
            "reject", best, scratch, schedule=schedule, duration=HALVED_RUN_S
        )
    if "two" in parts:
        result["two_origins"] = two_origins(best, scratch)
    if "broad" in parts:
        result["broad"] = broad(scratch)
    revision = git_revision()
    result["measured_at"] = result.get("measured_at", {}) | dict.fromkeys(parts, revision)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PARTS), help="parts to run: " + ",".join(PARTS))
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the Markdown and chart from the JSON"
    )
    arguments = parser.parse_args()
    path = RESULTS / "adaptive.json"
    result: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    if not arguments.report_only:
        parts = [part for part in arguments.only.split(",") if part]
        unknown = sorted(set(parts) - set(PARTS))
        if unknown:
            parser.error(f"unknown parts {', '.join(unknown)} (known: {', '.join(PARTS)})")
        if "sweep" not in parts and "reject" not in result.get("sweep", {}):
            parser.error("no T* measured yet: run the sweep first")
        result |= {
            "benchmark": "adaptive",
            "command": command_line(),
            "revision": git_revision(),
            "machine": machine(),
            "goals": GOALS,
        }
        with tempfile.TemporaryDirectory() as scratch:
            try:
                measure(parts, result, Path(scratch))
            finally:
                path.write_text(json.dumps(result, indent=2) + "\n")
    # The measurements first: a report that fails to draw must not lose half an hour of runs.
    path.write_text(json.dumps(result, indent=2) + "\n")
    write_results("adaptive", result, markdown(result))
    chart(result, RESULTS / "adaptive.png")
    print((RESULTS / "adaptive.md").read_text())


if __name__ == "__main__":
    main()
