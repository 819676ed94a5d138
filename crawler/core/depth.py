"""The depth barrier: which depths may be dispatched while shallower URLs are unfinished.

Depth is the shortest link distance from a seed, whatever order responses arrive in. A URL found
at depth t is dispatched only once every URL of depth t-2 or less has finished, for by then any
shorter path to it would have been found (a URL still waiting moves to the smaller depth when one
is). The barrier counts unfinished URLs per depth; the lag of one level costs little concurrency
and makes every strategy write the same records.
"""

from __future__ import annotations

import math
from collections import Counter


class DepthBarrier:
    """Unfinished URLs per depth, and the deepest level that may be dispatched now."""

    def __init__(self) -> None:
        self._unfinished: Counter[int] = Counter()

    def __repr__(self) -> str:
        live = {depth: count for depth, count in sorted(self._unfinished.items()) if count}
        return f"<DepthBarrier {live} | dispatchable to {self.dispatchable_depth()}>"

    def add(self, depth: int, count: int = 1) -> None:
        """Count URLs accepted at `depth` (queued, or resumed from a durable frontier)."""
        self._unfinished[depth] += count

    def finish(self, depth: int, count: int = 1) -> None:
        """Count URLs at `depth` as finished: recorded, left for a resume, or dropped."""
        self._unfinished[depth] -= count

    def move(self, deeper: int, shallower: int) -> None:
        """Count a waiting URL as moved to a smaller depth (a shorter path was found)."""
        self._unfinished[deeper] -= 1
        self._unfinished[shallower] += 1

    def dispatchable_depth(self) -> float:
        """Return the deepest level that may be dispatched: one below the shallowest unfinished
        level (infinity when nothing is unfinished)."""
        live = [depth for depth, count in self._unfinished.items() if count > 0]
        return min(live) + 1 if live else math.inf
