"""Which origin sends next, without looking at every origin: a heap, timers, and parked origins.

A broad crawl has thousands of origins, and most of them cannot send at any moment: full, spaced
by a delay, waiting for robots.txt, or holding only URLs the depth barrier keeps back (the core
keeps those aside, and offers them again when the barrier moves). Scanning
them all on every dispatch makes each request cost more the wider the crawl. Instead an origin is
*pushed* when something happens that may let it send (work arrives, a request of it completes or
leaves, robots.txt is read, its delay ends, the barrier moves), and each push costs O(log n).

`ReadyOrigins` holds two structures, and is told priorities, not states; the core re-checks an
origin when it pops it (entries may be stale), and puts it back where it belongs:
- a heap of origins that may send, keyed by priority (robots.txt first, then the best-ranked
  work: `depth.rank_of`) and then by arrival, one entry per origin at its best priority;
- timers: origins that may send from some moment (a delay, a robots.txt retry).
"""

from __future__ import annotations

import heapq
import itertools
import math

# The priority of an origin whose robots.txt is due: before any page of any origin.
ROBOTS_FIRST = -1


class ReadyOrigins:
    """Origins that may send, best-ranked work first; origins waiting for a time."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, str]] = []
        self._best: dict[str, int] = {}  # each origin's best priority in the heap
        self._timers: list[tuple[float, str]] = []
        self._timer_of: dict[str, float] = {}
        self._arrival = itertools.count()

    def __repr__(self) -> str:
        return f"<ReadyOrigins [{len(self._best)} ready | {len(self._timer_of)} timed]>"

    def push(self, origin: str, priority: int) -> None:
        """Offer `origin` at `priority` (kept only if better than its entry already queued)."""
        if self._best.get(origin, math.inf) <= priority:
            return
        self._best[origin] = priority
        heapq.heappush(self._heap, (priority, next(self._arrival), origin))

    def pop(self) -> tuple[int, str] | None:
        """Take the origin of best priority (first come first among equals), or None."""
        while self._heap:
            priority, _, origin = heapq.heappop(self._heap)
            if self._best.get(origin) == priority:
                del self._best[origin]
                return priority, origin
        return None

    def wake_at(self, origin: str, when: float) -> None:
        """Hold `origin` until `when` (an earlier timer of it wins)."""
        if self._timer_of.get(origin, math.inf) <= when:
            return
        self._timer_of[origin] = when
        heapq.heappush(self._timers, (when, origin))

    def due(self, now: float) -> list[str]:
        """Take the origins whose timers have passed."""
        woken = []
        while self._timers and self._timers[0][0] <= now:
            when, origin = heapq.heappop(self._timers)
            if self._timer_of.get(origin) == when:
                del self._timer_of[origin]
                woken.append(origin)
        return woken

    def next_timer(self) -> float:
        """Return when the earliest timer passes (infinity if none)."""
        while self._timers and self._timer_of.get(self._timers[0][1]) != self._timers[0][0]:
            heapq.heappop(self._timers)  # replaced by an earlier timer, or already woken
        return self._timers[0][0] if self._timers else math.inf

    def clear(self) -> None:
        """Forget every origin (the crawl is stopping)."""
        self._heap.clear()
        self._best.clear()
        self._timers.clear()
        self._timer_of.clear()
