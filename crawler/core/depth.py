"""The depth barrier: which depths may be dispatched, and which records are final.

Depth is the shortest distance from a seed, counting a link or a redirect as one step, whatever
order responses arrive in. A URL found at depth t is dispatched only once every URL of depth t-2
or less has finished, for by then any shorter path to it would have been found (a URL still
waiting moves to the smaller depth when one is). A seed's redirect does not count as a step (the
site moved; its target is a seed too), so nothing deeper than the seeds is dispatched before every
URL of depth 0 has finished.

A URL's parent is the first, in URL order, of the URLs one step shallower that lead to it; those
are all known once every URL of depth t-1 has finished, so a record of depth t is final then (of
depth 0, once depth 0 has finished). The barrier counts unfinished URLs per depth; the lag of one
level costs little concurrency and makes every strategy write the same records.
"""

from __future__ import annotations

import math
from collections import Counter


class DepthBarrier:
    """Unfinished URLs per depth: the deepest level that may be dispatched, and which records
    are final."""

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

    def shallowest_unfinished(self) -> float:
        """Return the smallest depth with an unfinished URL (infinity when there is none)."""
        live = [depth for depth, count in self._unfinished.items() if count > 0]
        return min(live) if live else math.inf

    def dispatchable_depth(self) -> float:
        """Return the deepest level that may be dispatched: one below the shallowest unfinished
        level, but only the seeds' while one of them is unfinished (infinity when nothing is)."""
        shallowest = self.shallowest_unfinished()
        return shallowest if shallowest == 0 else shallowest + 1

    def is_final(self, depth: int) -> bool:
        """Say whether a record of `depth` is final: no URL that could still become its parent
        is unfinished."""
        return self.shallowest_unfinished() >= max(depth, 1)
