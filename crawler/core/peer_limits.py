"""Other crawlers' rules for how hard to push an origin, re-implemented to be measured beside ours.

`--adaptive-rule` picks one for `--adaptive`; each is driven by the same calls as
`adaptive.OriginLimit` (`sent`, `succeeded`, `congested`; `allowed` and `delay` read back), so a
comparison changes the rule and nothing else. Each follows its project's published behaviour:

- `aimd`, spider-rs: one more in flight after 10 successes in a row, half as many on a failure.
- `autothrottle`, Scrapy's AutoThrottle: the concurrency stays at `--per-host`, and a *delay*
  moves instead. Each answer's latency gives a target delay, latency / target concurrency (1.0,
  Scrapy's default; `autothrottle:4` sets 4); the new delay is the mean of the old and the
  target, never below the target, within 0 and 60 s, from a start of 5 s; an answer other than
  200 may not lower it (error pages are fast). Retry-After plays no part in it (the core still
  honours it).
- `autoscaled`, Crawlee's AutoscaledPool: every 10 s, the desired concurrency grows by 5% if the
  crawler itself is not overloaded and it used at least 90% of it, and shrinks by 5% if it is.
  The crawler's own CPU, memory and event-loop lag never bind in these measurements, and the one
  server signal the pool reads is its HTTP client's rate-limit errors (429): they count as
  overload. It starts at 1 and never exceeds `--per-host`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(slots=True)
class Aimd:
    """spider-rs: additive increase after 10 straight successes, multiplicative decrease."""

    ceiling: int
    limit: int = 1
    streak: int = 0
    trajectory: list[tuple[float, int]] = field(default_factory=list)
    signals: int = 0
    delay: float | None = None

    @property
    def allowed(self) -> int:
        return max(1, min(self.limit, self.ceiling))

    def sent(self, in_flight: int) -> None:
        pass

    def succeeded(self, latency: float, sent_at: float, now: float) -> None:
        self.streak += 1
        if self.streak >= 10:
            self.streak = 0
            self._set(min(self.limit + 1, self.ceiling), now)

    def congested(
        self, sent_at: float, in_flight_then: int, now: float, rate_limit: bool = False
    ) -> None:
        self.signals += 1
        self.streak = 0
        self._set(max(1, self.limit // 2), now)

    def _set(self, limit: int, now: float) -> None:
        if limit != self.limit or not self.trajectory:
            self.limit = limit
            self.trajectory.append((round(now, 3), self.allowed))


AUTOTHROTTLE_START = 5.0
AUTOTHROTTLE_MAX = 60.0
AUTOTHROTTLE_TARGET = 1.0


@dataclass(slots=True)
class AutoThrottle:
    """Scrapy's AutoThrottle: concurrency fixed at --per-host, the delay follows latency."""

    ceiling: int
    target: float = AUTOTHROTTLE_TARGET  # AUTOTHROTTLE_TARGET_CONCURRENCY
    delay: float | None = AUTOTHROTTLE_START
    trajectory: list[tuple[float, int]] = field(default_factory=list)
    signals: int = 0

    @property
    def allowed(self) -> int:
        return self.ceiling

    def sent(self, in_flight: int) -> None:
        pass

    def succeeded(self, latency: float, sent_at: float, now: float) -> None:
        self._adjust(latency, ok=True)

    def congested(
        self, sent_at: float, in_flight_then: int, now: float, rate_limit: bool = False
    ) -> None:
        self.signals += 1
        self._adjust(now - sent_at, ok=False)

    def _adjust(self, latency: float, ok: bool) -> None:
        assert self.delay is not None
        target = latency / self.target
        new = max(target, (self.delay + target) / 2)
        new = min(max(0.0, new), AUTOTHROTTLE_MAX)
        if not ok and new <= self.delay:
            return  # an error page is fast: it may not make the crawl faster
        self.delay = new


AUTOSCALE_INTERVAL = 10.0
AUTOSCALE_STEP = 0.05
AUTOSCALE_BUSY = 0.9


@dataclass(slots=True)
class AutoscaledPool:
    """Crawlee's AutoscaledPool: +-5% every 10 s, from the crawler's own load (and 429s)."""

    ceiling: int
    desired: float = 1.0
    next_check: float = math.nan
    busiest: int = 0
    rate_limited: bool = False
    trajectory: list[tuple[float, int]] = field(default_factory=list)
    signals: int = 0
    delay: float | None = None

    @property
    def allowed(self) -> int:
        return max(1, min(int(self.desired), self.ceiling))

    def sent(self, in_flight: int) -> None:
        self.busiest = max(self.busiest, in_flight)

    def succeeded(self, latency: float, sent_at: float, now: float) -> None:
        self._tick(now)

    def congested(
        self, sent_at: float, in_flight_then: int, now: float, rate_limit: bool = False
    ) -> None:
        self.signals += 1
        self.rate_limited = self.rate_limited or rate_limit  # a 429: the client's overload
        self._tick(now)

    def _tick(self, now: float) -> None:
        if math.isnan(self.next_check):
            self.next_check = now + AUTOSCALE_INTERVAL
            self.trajectory.append((round(now, 3), self.allowed))
        if now < self.next_check:
            return
        self.next_check = now + AUTOSCALE_INTERVAL
        if self.rate_limited:
            self.desired = max(1.0, self.desired * (1 - AUTOSCALE_STEP))
        elif self.busiest >= AUTOSCALE_BUSY * self.allowed:
            # Grown by at least one, as the pool's ceil(desired * ratio) step does.
            self.desired = min(self.desired + max(1.0, self.desired * AUTOSCALE_STEP), self.ceiling)
        self.rate_limited, self.busiest = False, 0
        self.trajectory.append((round(now, 3), self.allowed))


__all__ = ["Aimd", "AutoThrottle", "AutoscaledPool"]
