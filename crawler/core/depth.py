"""The depth barrier: which URLs may be dispatched, and which records are final.

Every strategy, in every run, must write the same records, whatever order responses arrive in:
the same depth for each URL, and the same parent. So a URL is dispatched only once the path that
gives its depth is settled, and a record is handed over only once no better parent can appear.

A URL's path is chosen by its *rank*: first the fewest crossings from one origin to another,
then the fewest steps (a link or a redirect is one step). Each site is so crawled breadth-first on
its own: a URL of origin A that took no crossing can only be reached, at a better rank, through
A's own pages, so A's barrier waits for A alone, and a slow origin never holds back a fast one.
A URL reached only through another origin comes after its own site's pages of fewer crossings,
and waits, as a breadth-first crawl does, for every origin's URLs that could still reach it.

The two counts are packed into one int, `crossings * CROSSING + depth`, so that ranks compare as
ints: the frontier, the dispatch heap and the durable store order URLs by it and know nothing
else of it. `--max-depth` (at most 1000) stays below `CROSSING`, and crossings never outnumber
steps, so a rank fits in 20 bits.

The rules, for a URL of origin A at rank (c, t), where a rank "one step on" from (c', t') is
(c', t'+1) within an origin and (c'+1, t'+1) across:
- it may be dispatched when no unfinished URL of A ranks below (c, t-1) (so A's shallowest is of
  c crossings, at depth t-1 or more) and, if c > 0, no unfinished URL anywhere could reach it
  across at a rank below (c, t);
- its record is final when no unfinished URL could still reach it at (c, t) or below: then its
  parent, the first in URL order of those that led to it at its rank, is known;
- a seed's redirect is no step (the site moved; its target is a seed too), so while any seed is
  unfinished, only seeds are dispatched and no record is final.
A waiting URL found again at a better rank moves there. The barrier counts unfinished URLs per
origin and rank; the lag of one level costs little concurrency.
"""

from __future__ import annotations

import math
from collections import Counter

CROSSING = 1 << 10  # a rank's crossings count in units of this: above any --max-depth
RANK_BITS = 20  # a rank fits in this many bits: crossings <= depth <= 1000
SEED_RANK = 0


def rank_of(crossings: int, depth: int) -> int:
    """Return the rank of a path with `crossings` changes of origin and `depth` steps."""
    return crossings * CROSSING + depth


def depth_of(rank: int) -> int:
    """Return the steps from a seed of a URL of `rank`."""
    return rank % CROSSING


def crossings_of(rank: int) -> int:
    """Return how many times the path of a URL of `rank` changed origin."""
    return rank // CROSSING


def step_from(rank: int, crossed: bool) -> int:
    """Return the rank one step on from `rank`, within its origin or across to another."""
    return rank + 1 + (CROSSING if crossed else 0)


class DepthBarrier:
    """Unfinished URLs per origin and rank: which may be dispatched, which records are final."""

    def __init__(self) -> None:
        self._unfinished: dict[str, Counter[int]] = {}
        self._everywhere: Counter[int] = Counter()

    def __repr__(self) -> str:
        live = {
            origin: {rank: count for rank, count in sorted(counts.items()) if count}
            for origin, counts in sorted(self._unfinished.items())
        }
        return f"<DepthBarrier {live} | floor {self.floor()}>"

    def add(self, origin: str, rank: int, count: int = 1) -> None:
        """Count URLs of `origin` accepted at `rank` (queued, or resumed from a durable
        frontier)."""
        self._unfinished.setdefault(origin, Counter())[rank] += count
        self._everywhere[rank] += count

    def finish(self, origin: str, rank: int, count: int = 1) -> bool:
        """Count URLs of `origin` at `rank` as finished: recorded, left for a resume, or
        dropped. Say whether the floor moved (the last URL of the best rank anywhere finished)."""
        counts = self._unfinished[origin]
        counts[rank] -= count
        if counts[rank] <= 0:
            del counts[rank]
            if not counts:
                del self._unfinished[origin]
        self._everywhere[rank] -= count
        if self._everywhere[rank] > 0:
            return False
        del self._everywhere[rank]
        return rank < self.floor()

    def move(self, origin: str, worse: int, better: int) -> None:
        """Count a waiting URL as moved to a better rank (a better path was found)."""
        self.finish(origin, worse)
        self.add(origin, better)

    def floor(self) -> float:
        """Return the best rank of an unfinished URL anywhere (infinity when there is none):
        what URLs reached across origins, and every record while seeds are out, wait for."""
        return min(self._everywhere, default=math.inf)

    def shallowest_of(self, origin: str) -> float:
        """Return the best rank of an unfinished URL of `origin` (infinity when none)."""
        counts = self._unfinished.get(origin)
        return min(counts) if counts else math.inf

    def may_dispatch(self, origin: str, rank: int) -> bool:
        """Say whether a URL of `origin` at `rank` may be dispatched: no path to it at a better
        rank can still be found."""
        floor = self.floor()
        if floor == SEED_RANK:
            return rank == SEED_RANK
        own = self.shallowest_of(origin)
        if own < math.inf and (
            crossings_of(int(own)) != crossings_of(rank) or depth_of(rank) > depth_of(int(own)) + 1
        ):
            return False
        return crossings_of(rank) == 0 or step_from(int(floor), crossed=True) >= rank

    def is_final(self, origin: str, rank: int) -> bool:
        """Say whether a record of `origin` at `rank` is final: no URL that could still become
        its parent is unfinished."""
        floor = self.floor()
        if floor == SEED_RANK:
            return False
        own = self.shallowest_of(origin)
        if own < math.inf and step_from(int(own), crossed=False) <= rank:
            return False
        return floor == math.inf or step_from(int(floor), crossed=True) > rank
