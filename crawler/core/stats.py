"""Counters a crawl keeps while it runs, and the summary it ends with."""

from __future__ import annotations

import random
import statistics
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from crawler.core.adaptive import OriginLimitView
from crawler.core.near_duplicates import NearDuplicates
from crawler.core.records import BROKEN, Record

# Broken links kept for the end-of-crawl report; past this many, only counted.
MAX_BROKEN_KEPT = 1000
# Heartbeats of the event loop kept for its lag's percentiles: 512 KiB, whatever the crawl's length.
LAG_SAMPLES = 65_536


@dataclass(slots=True)
class CrawlStats:
    """Requests, responses and records so far. Latencies are kept as a compact array of floats."""

    requests: int = 0
    request_errors: Counter[str] = field(default_factory=Counter)
    latencies: array[float] = field(default_factory=lambda: array("d"))
    records: int = 0
    ok: int = 0
    bytes: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    deferred: int = 0  # URLs cut off by a stop and left waiting in a durable frontier
    near_duplicates: NearDuplicates = field(default_factory=NearDuplicates)
    # Origins a seed redirected to, which the crawl took into its scope.
    scope_added: list[str] = field(default_factory=list)
    retries: int = 0  # attempts scheduled again after a failure (robots.txt included)
    max_depth_reached: int = 0
    broken: list[dict[str, Any]] = field(default_factory=list)
    broken_total: int = 0
    # What a crawl that ended early left undone: URLs it had queued, retries it was waiting for.
    left_queued: int = 0
    left_retries: int = 0
    # How late the event loop woke a heartbeat: how long CPU work on the loop made every
    # coroutine wait. A uniform sample of at most LAG_SAMPLES beats (a day's crawl beats 8.6
    # million times), with the worst kept exactly; empty for strategies with no event loop.
    loop_lags: array[float] = field(default_factory=lambda: array("d"))
    loop_beats: int = 0
    loop_lag_max: float = 0.0
    _lag_sampler: random.Random = field(default_factory=lambda: random.Random(0))
    # --sitemaps: sitemaps recorded, the entries they held, index entries past the nesting limit.
    sitemaps: int = 0
    sitemap_entries: int = 0
    sitemaps_too_deep: int = 0
    # How the threads strategy's lock was taken: acquisitions, contended ones, their waits.
    lock: dict[str, float | int] | None = None

    def request_done(self, elapsed: float, error: str | None) -> None:
        """Count one finished HTTP request."""
        self.requests += 1
        self.latencies.append(elapsed)
        if error is not None:
            self.request_errors[error] += 1

    def loop_lag(self, late: float) -> None:
        """Count one heartbeat of the event loop, `late` seconds after it was due (kept in the
        sample with the chance every beat has: reservoir sampling, Vitter's algorithm R)."""
        self.loop_beats += 1
        self.loop_lag_max = max(self.loop_lag_max, late)
        if len(self.loop_lags) < LAG_SAMPLES:
            self.loop_lags.append(late)
            return
        slot = self._lag_sampler.randrange(self.loop_beats)
        if slot < LAG_SAMPLES:
            self.loop_lags[slot] = late

    def record_written(self, record: Record) -> None:
        """Count one finished URL."""
        self.records += 1
        self.bytes += record.bytes
        self.statuses[str(record.status) if record.status is not None else "none"] += 1
        self.max_depth_reached = max(self.max_depth_reached, record.depth)
        if record.kind == "sitemap":
            self.sitemaps += 1
            self.sitemap_entries += record.links
        if record.error is None:
            self.ok += 1
        else:
            self.errors[record.error.value] += 1
            # A /sitemap.xml nobody named (its parent is none) that is missing is no broken link.
            guessed = record.kind == "sitemap" and record.parent is None
            if record.error in BROKEN and not guessed:
                self.broken_total += 1
                if len(self.broken) < MAX_BROKEN_KEPT:
                    self.broken.append(
                        {
                            "url": record.url,
                            "error": record.error.value,
                            "status": record.status,
                            "linked_from": record.parent,
                        }
                    )

    def summary(self, wall_seconds: float) -> dict[str, Any]:
        """Return the end-of-crawl summary (what `--stats-json` writes)."""
        return {
            "pages": self.records,
            "ok": self.ok,
            "errors": dict(sorted(self.errors.items())),
            "statuses": dict(sorted(self.statuses.items())),
            "requests": self.requests,
            "retries": self.retries,
            "request_errors": dict(sorted(self.request_errors.items())),
            "bytes": self.bytes,
            "deferred": self.deferred,
            "latency_ms": _percentiles(self.latencies),
            "loop_lag_ms": {
                **_percentiles(self.loop_lags),
                "max": round(self.loop_lag_max * 1000, 2) if self.loop_beats else None,
            },
            "lock": self.lock,
            "wall_s": round(wall_seconds, 3),
            "pages_per_s": round(self.records / wall_seconds, 2) if wall_seconds > 0 else None,
            "near_duplicates": self.near_duplicates.summary(),
            "scope_added": list(self.scope_added),
            "max_depth_reached": self.max_depth_reached,
            "sitemaps": {
                "read": self.sitemaps,
                "entries": self.sitemap_entries,
                "too_deep": self.sitemaps_too_deep,
            },
            "left": {"queued": self.left_queued, "retries": self.left_retries},
            "broken": {"total": self.broken_total, "links": list(self.broken)},
        }


def limits_summary(views: Sequence[OriginLimitView], zero: float | None) -> dict[str, Any]:
    """Return each origin's `--adaptive` limit for `--stats-json`: where it ended, how many
    congestion signals it saw, and its trajectory as [seconds since the first request, limit]."""
    origin = zero or 0.0
    return {
        view.origin: {
            "limit": view.limit.allowed,
            "signals": view.limit.signals,
            "trajectory": [
                [round(at - origin, 3), allowed] for at, allowed in view.limit.trajectory
            ],
        }
        for view in sorted(views, key=lambda view: view.origin)
    }


def _percentiles(latencies: array[float]) -> dict[str, float | None]:
    if not latencies:
        return {"p50": None, "p95": None, "p99": None}
    if len(latencies) == 1:
        only = round(latencies[0] * 1000, 2)
        return {"p50": only, "p95": only, "p99": only}
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        name: round(cuts[index] * 1000, 2)
        for name, index in (("p50", 49), ("p95", 94), ("p99", 98))
    }
