"""`--adaptive`: one origin's concurrency limit, found from its own answers (sans-I/O).

An origin's best concurrency is its knee: below it the server idles between requests, above it
requests queue (latency grows) or are refused (503, 429, timeouts, resets). `OriginLimit` looks
for the knee with both kinds of signal, per origin, between 1 and the user's `--per-host`:

- **Latency, per window.** Successful answers are latency samples (a refused one is fast and says
  nothing about service time). The origin's best latency is its no-load latency; once per window
  of `limit` samples (about one round trip), the window's median against it estimates how many
  requests are queued at the server, `limit * (1 - best / median)`, as TCP Vegas and Netflix's
  concurrency-limits do. Few queued: grow (doubling in a slow start, then one step per window);
  many queued: shrink in proportion (`limit * best / median`, at most by half). A window in
  which fewer than half the limit were in flight grows nothing (Gradient2's rule: the crawl, not
  the server, held it back).
- **Congestion, at once.** A 503, 429, timeout or reset halves the limit (or more, to below the
  fewest in flight at which a request was refused), once per round of
  requests: a signal from a request sent before the last cut is the same congestion, already
  answered. The lowest number in flight at which a request was refused is remembered as the
  knee's upper bound; the limit regrows quickly to just below it and stays there, trying one more
  only after a pause that doubles each time the try is refused (2 s, 4 s ... 24 s); a refused try
  goes back to just below the knee rather than halving. A refusal
  costs the whole origin its Retry-After (the core holds every request off), so a limit that
  probed above the knee every round trip, as AIMD does, would spend its time waiting.
- **Re-probing the no-load latency.** Every 30 s or so (jittered, by a seeded generator: the same
  crawl makes the same choices), the limit is pinned low for a few samples and the best latency
  is re-measured from them alone, as Envoy's adaptive concurrency filter does, so a best latency
  learned long ago (the server since became slower for everyone) does not make every window look
  queued.

The limit never goes above `--per-host` (nor the crawl above `--concurrency`) and never removes a
delay: the politeness slot still spaces requests and honours Retry-After for the whole origin.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Protocol

MIN_WINDOW = 5  # samples per window at the smallest limits
QUEUED_LOW = 1.0  # at most this many queued (the window's estimate): the limit may grow
QUEUED_HIGH_SHARE = 0.25  # more than max(2, this share of the limit) queued: it shrinks
CUT = 0.5  # the multiplicative decrease on a congestion signal
PROBE_PAUSE = 2.0  # seconds at the knee before trying one more; doubles with each refusal
PROBE_PAUSE_MAX = 24.0
REPROBE_EVERY = 30.0  # seconds between re-measures of the no-load latency (jittered +-25%)
REPROBE_LIMIT = 2  # the limit pinned while re-measuring
REPROBE_SAMPLES = 5
TRAJECTORY_POINTS = 512  # a trajectory longer than this keeps every other point


class LimitRule(Protocol):
    """How hard to push one origin: told of every request's fate, it says how many may be in
    flight (`allowed`) and, for a rule that moves a delay instead, the delay."""

    trajectory: list[tuple[float, int]]  # (time, allowed) at each change
    signals: int  # congestion signals seen

    @property
    def allowed(self) -> int: ...

    @property
    def delay(self) -> float | None: ...

    def sent(self, in_flight: int) -> None: ...

    def succeeded(self, latency: float, sent_at: float, now: float) -> None: ...

    def congested(
        self, sent_at: float, in_flight_then: int, now: float, rate_limit: bool = False
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class OriginLimitView:
    """One origin's limit as the status line, the summary and --stats-json show it."""

    origin: str
    limit: LimitRule
    in_flight: int


RULES = ("crawler", "aimd", "autothrottle", "autoscaled")


def parse_rule(text: str) -> tuple[str, float | None]:
    """Read a rule's name and its parameter: `autothrottle:4` is AutoThrottle with a target
    concurrency of 4; the other rules take none. Raise ValueError naming what is wrong."""
    name, colon, parameter = str(text).partition(":")
    if name not in RULES:
        raise ValueError(f"{text!r} is not one of {', '.join(RULES)} (or autothrottle:TARGET)")
    if not colon:
        return name, None
    if name != "autothrottle":
        raise ValueError(f"{name} takes no parameter (only autothrottle:TARGET does)")
    try:
        target = float(parameter)
    except ValueError:
        raise ValueError(
            f"autothrottle's target concurrency {parameter!r} is not a number"
        ) from None
    if not 0 < target <= 1000:
        raise ValueError(f"autothrottle's target concurrency must be in (0, 1000] (got {target:g})")
    return name, target


def new_limit(rule: str, ceiling: int, start: int, seed: int) -> LimitRule:
    """Return origin's limit under `rule` (see `parse_rule`), starting at `start` in flight."""
    from crawler.core import peer_limits

    name, parameter = parse_rule(rule)
    if name == "crawler":
        return OriginLimit(ceiling, float(start), seed)
    if name == "aimd":
        return peer_limits.Aimd(ceiling, min(start, ceiling))
    if name == "autothrottle":
        return peer_limits.AutoThrottle(ceiling, parameter or peer_limits.AUTOTHROTTLE_TARGET)
    return peer_limits.AutoscaledPool(ceiling, float(min(start, ceiling)))


@dataclass(slots=True)
class OriginLimit:
    """One origin's adaptive concurrency limit; every method is told the time."""

    ceiling: int  # --per-host
    limit: float = 1.0
    seed: int = 0
    best: float = math.inf  # the no-load latency: the least latency seen since the last re-probe
    slow_start: bool = True
    knee: int | None = None  # the fewest in flight at which a request was refused, lately
    probe_after: float = 0.0  # when the limit may next try the knee
    probe_pause: float = PROBE_PAUSE
    probe_started: float | None = None  # a try at the knee under way since then
    last_cut: float = -math.inf
    reprobe_at: float = math.nan  # set from the first sample
    reprobing: list[float] | None = None  # samples of a re-measure under way
    reprobe_started: float = -math.inf
    window: list[float] = field(default_factory=list)
    window_busy: int = 0  # the most in flight at any send of the window
    trajectory: list[tuple[float, int]] = field(default_factory=list)
    signals: int = 0
    _random: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.limit = float(min(max(self.limit, 1.0), self.ceiling))
        self._random = random.Random(self.seed)

    @property
    def allowed(self) -> int:
        """How many requests the origin may have in flight now."""
        if self.reprobing is not None:
            return max(1, min(REPROBE_LIMIT, int(self.limit), self.ceiling))
        return max(1, min(int(self.limit), self.ceiling))

    def sent(self, in_flight: int) -> None:
        """Note a request leaving with `in_flight` (itself included) now in flight."""
        self.window_busy = max(self.window_busy, in_flight)

    def succeeded(self, latency: float, sent_at: float, now: float) -> None:
        """Take the latency of a successful answer to a request sent at `sent_at` as a sample."""
        if math.isnan(self.reprobe_at):  # the first: a limit that starts high measures first
            self._note(now)
            self.reprobe_at = now if self.limit > 2 * REPROBE_LIMIT else self._next_reprobe(now)
        if self.reprobing is not None:
            if sent_at < self.reprobe_started:
                return  # sent before the limit was pinned: it waited behind the others
            self.reprobing.append(latency)
            if len(self.reprobing) >= REPROBE_SAMPLES:
                self.best = min(self.reprobing)
                self.reprobing = None
                self.window.clear()
                self.window_busy = 0
                self.reprobe_at = self._next_reprobe(now)
                self._note(now)
            return
        self.best = min(self.best, latency)
        self.window.append(latency)
        if len(self.window) >= max(MIN_WINDOW, int(self.limit)):
            self._end_window(now)
        if now >= self.reprobe_at:
            self.reprobing = []
            self.reprobe_started = now
            self._note(now)

    @property
    def delay(self) -> float | None:
        """The spacing this rule asks for: none (it moves the concurrency, not a delay)."""
        return None

    def congested(
        self, sent_at: float, in_flight_then: int, now: float, rate_limit: bool = False
    ) -> None:
        """A request sent at `sent_at`, with `in_flight_then` in flight, was refused (503, 429)
        or lost (timeout, reset): cut, unless the last cut already answered this congestion."""
        self.signals += 1
        self.knee = in_flight_then if self.knee is None else min(self.knee, in_flight_then)
        if sent_at < self.last_cut:
            return
        self.last_cut = now
        self.slow_start = False
        cut = self.limit * CUT
        if self.probe_started is not None:  # a try at the knee refused: wait longer for the next
            self.probe_pause = min(self.probe_pause * 2, PROBE_PAUSE_MAX)
            self.probe_started = None
            # The limit just below held a moment ago: back to it, not halved (if the server
            # has since slowed further, the next round's refusals cut again).
            cut = self.limit - 1.0
        self.probe_after = now + self.probe_pause
        # Cut, and at once below where it was refused: a round that would go past the knee
        # again would cost another Retry-After.
        self.limit = max(1.0, min(cut, self.knee - 1.0))
        self.reprobing = None
        self.window.clear()
        self.window_busy = 0
        self._note(now)

    def _end_window(self, now: float) -> None:
        samples = sorted(self.window)
        median = samples[len(samples) // 2]
        busy = self.window_busy
        self.window.clear()
        self.window_busy = 0
        if self.probe_started is not None and self.probe_started < now - median:
            self.probe_started = None  # a round at the old knee went unrefused: it has moved
            self.probe_pause = PROBE_PAUSE
        queued = self.limit * (1.0 - self.best / median) if median > 0 else 0.0
        if queued > max(2.0, QUEUED_HIGH_SHARE * self.limit):
            self.slow_start = False
            self.limit = max(1.0, self.limit * max(CUT, self.best / median))
        elif queued <= QUEUED_LOW and busy * 2 >= int(self.limit):
            self._grow(now)
        self._note(now)

    def _grow(self, now: float) -> None:
        grown = self.limit * 2 if self.slow_start else self.limit + 1
        if self.knee is not None and grown >= self.knee:
            if self.limit < self.knee - 1:
                grown = float(self.knee - 1)  # back up to just below the knee at once
            elif now >= self.probe_after:
                grown = float(self.knee)  # one try at the knee; refused, it waits longer
                self.knee = None
                self.probe_started = now
            else:
                return
        self.limit = min(grown, float(self.ceiling))

    def _next_reprobe(self, now: float) -> float:
        return now + REPROBE_EVERY * self._random.uniform(0.75, 1.25)

    def _note(self, now: float) -> None:
        """Keep the limit's trajectory, at most TRAJECTORY_POINTS changes (thinned by halves)."""
        point = (round(now, 3), self.allowed)
        if self.trajectory and self.trajectory[-1][1] == point[1]:
            return
        self.trajectory.append(point)
        if len(self.trajectory) > TRAJECTORY_POINTS:
            del self.trajectory[1::2]


__all__ = ["RULES", "LimitRule", "OriginLimit", "OriginLimitView", "new_limit", "parse_rule"]
