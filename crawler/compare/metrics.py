"""From a measurement to the numbers a comparison compares: rates, cores, efficiency."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from crawler.compare.measure import Measurement
from crawler.compare.plan import RunSpec


@dataclass(frozen=True, slots=True)
class RunResult:
    """One row of `results.json` (see README: the results schema)."""

    strategy: str
    concurrency: int
    latency_ms: float
    analysis_cost: int
    pages: int
    scaled_from: int | None
    repeat: int
    process_wall_s: float | None
    wall_s: float | None
    pages_per_s: float | None
    cpu_s: float | None
    cores_used: float | None
    server_cpu_s: float | None  # the mock server's CPU meanwhile: it shares the machine's cores
    machine_busy: float | None  # the share of all cores busy meanwhile, whoever used them
    peak_rss_mb: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    errors: int | None
    ideal_s: float | None
    efficiency: float | None
    failed: str | None = None
    # How late the crawl's event loop woke its heartbeat (p99); None without an asyncio loop.
    loop_lag_p99_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the row as a JSON-ready dict."""
        return asdict(self)

    @property
    def cpu_ms_per_page(self) -> float | None:
        """Return the crawl's CPU milliseconds per page written (the server's not included)."""
        if self.cpu_s is None or not self.pages_per_s or not self.wall_s:
            return None
        return 1000 * self.cpu_s / (self.pages_per_s * self.wall_s)


def result_of(spec: RunSpec, repeat: int, measurement: Measurement, cores: int) -> RunResult:
    """Turn a measurement into a result row.

    efficiency = ideal / wall, ideal = max(N x latency / concurrency, CPU used / cores): Little's
    law bounds an I/O-bound crawl, the core count a CPU-bound one. Wall and CPU are the crawl's own
    (its summary's), so interpreter start-up, which no strategy controls, is left out of both.
    """
    summary = measurement.summary
    failed = measurement.failure is not None
    pages = 0 if failed else int(summary["pages"])
    # The crawl's own wall time: interpreter start-up is not the strategy's doing.
    wall = float(summary.get("wall_s") or measurement.wall_s) if not failed else measurement.wall_s
    process_wall = measurement.wall_s
    cpu = float(summary.get("cpu_s") or measurement.cpu_s) if not failed else measurement.cpu_s
    ideal = max(pages * spec.latency / spec.concurrency, cpu / cores)
    latency = summary.get("latency_ms", {})

    def unless_failed(value: float) -> float | None:
        return None if failed else value

    return RunResult(
        strategy=spec.strategy,
        concurrency=spec.concurrency,
        latency_ms=round(spec.latency * 1000, 3),
        analysis_cost=spec.analysis_cost,
        pages=spec.pages,
        scaled_from=spec.scaled_from,
        repeat=repeat,
        process_wall_s=round(process_wall, 4),
        wall_s=unless_failed(round(wall, 4)),
        pages_per_s=unless_failed(round(pages / wall, 2)) if wall > 0 else None,
        cpu_s=unless_failed(round(cpu, 4)),
        cores_used=unless_failed(round(cpu / wall, 3)) if wall > 0 else None,
        server_cpu_s=measurement.server_cpu_s,
        machine_busy=measurement.machine_busy,
        peak_rss_mb=round(measurement.peak_rss_mb, 1),
        latency_p50_ms=latency.get("p50"),
        latency_p95_ms=latency.get("p95"),
        errors=None if failed else sum(summary.get("errors", {}).values()),
        ideal_s=unless_failed(round(ideal, 4)),
        efficiency=unless_failed(round(ideal / wall, 3)) if wall > 0 else None,
        failed=measurement.failure,
        loop_lag_p99_ms=None if failed else summary.get("loop_lag_ms", {}).get("p99"),
    )
