"""The frontier: URLs waiting to be fetched, per origin and best rank first, and the seen-set.

`Frontier` is the boundary a durable or shared store implements: `crawler/state/` keeps it in
SQLite so a killed crawl resumes; `MemoryFrontier` keeps everything in this process. Its seen-set
stores 64-bit hashes of URLs, not the URLs: a set of ints is about half the memory, and a collision
at a million URLs has a probability near 3e-8. Python's own string hash serves: it is SipHash,
computed once per string and cached on it, and only has to agree with itself within this process.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from crawler.core.records import Record
from crawler.core.urls import origin_of


@dataclass(frozen=True, slots=True)
class FrontierEntry:
    """A URL waiting to be fetched, with how it was found."""

    url: str
    rank: int  # how it was found: crossings between origins, then steps (`depth.rank_of`)
    parent: str | None
    # A sitemap's nesting: 0 for one robots.txt names (or /sitemap.xml), 1 for one a sitemap
    # index lists, and so on; None for a page.
    sitemap: int | None = None
    lastmod: str | None = None  # the <lastmod> of the sitemap entry that listed the URL


class AddResult(NamedTuple):
    """What `Frontier.add` did: queued a new URL, moved a waiting one to a better rank, or
    neither."""

    added: bool
    moved_from: int | None = None


ADDED = AddResult(True)
ALREADY_SEEN = AddResult(False)


class Frontier(Protocol):
    """**Protocol**: the URLs still to fetch, and every URL ever accepted.

    A durable frontier also keeps each URL's outcome: `finish` hands it the final record, and a
    URL stays waiting in the store until then, so one fetched when the crawl died is fetched again.
    """

    durable: bool
    """True if URLs waiting (or in flight) outlive this process: an interrupted URL is then not
    recorded but left waiting, to be fetched when the crawl resumes."""

    def add(self, entry: FrontierEntry) -> AddResult:
        """Queue a URL not seen before. A URL still waiting at a greater rank moves to this one
        (a better path was found before it was fetched); one waiting at the same rank takes
        the entry's parent if it comes first in URL order; any other seen URL is left alone."""
        ...

    def pop(self, origin: str) -> FrontierEntry | None:
        """Take the waiting URL of `origin` of best rank (first come first within a rank)."""
        ...

    def head_rank(self, origin: str) -> int | None:
        """Return the rank of the next URL `pop(origin)` would give, or None."""
        ...

    def origins(self) -> Iterator[str]:
        """Yield the origins that have URLs waiting."""
        ...

    def drain(self) -> Counter[tuple[str, int]]:
        """Drop every waiting URL from this run (a page limit was reached, or the crawl is
        stopping) and return how many were dropped of each origin at each rank. A durable
        frontier keeps them for a resumed crawl, and from then on keeps new URLs for it too,
        queueing none for this run (`add` reports them as not added)."""
        ...

    def finish(self, record: Record) -> None:
        """Take a URL's final record."""
        ...

    def waiting_by_rank(self) -> Counter[tuple[str, int]]:
        """Return how many URLs of each origin wait at each rank (a resumed crawl starts with
        some)."""
        ...

    def scope_origins(self) -> list[str]:
        """Return the origins the crawl took into scope as it ran (a resumed crawl has some)."""
        ...

    def add_scope_origin(self, origin: str) -> None:
        """Keep an origin the crawl took into scope (where a seed redirected)."""
        ...

    def finished_count(self) -> int:
        """Return how many URLs have a final record (on a resumed crawl, from earlier runs)."""
        ...

    def __len__(self) -> int:
        """Return how many URLs are waiting."""
        ...


def comes_first(parent: str | None, other: str | None) -> bool:
    """Say whether `parent` is the better of two parents of one URL: the first in URL order (a
    seed's None before any), so the choice never depends on which was found first."""
    if parent is None:
        return other is not None
    return other is not None and parent < other


def url_digest(url: str) -> int:
    """Return the 64-bit hash the in-memory seen-set keeps for `url` (stable within a process)."""
    return hash(url)


class MemoryFrontier:
    """A frontier in this process's memory.

    `_live` holds each waiting URL's current entry (its rank and parent); a URL moved to a
    better rank leaves a stale copy in its old queue, skipped when it reaches the head of that
    queue because its rank no longer matches the live entry's.
    """

    durable = False

    def __init__(self) -> None:
        self._seen: set[int] = set()
        self._live: dict[int, FrontierEntry] = {}
        self._waiting: dict[str, dict[int, deque[FrontierEntry]]] = {}

    def __repr__(self) -> str:
        return (
            f"<MemoryFrontier [{len(self)} waiting | {len(self._seen)} seen"
            f" | {len(self._waiting)} origins]>"
        )

    def add(self, entry: FrontierEntry) -> AddResult:
        digest = url_digest(entry.url)
        if digest not in self._seen:
            self._seen.add(digest)
            result = ADDED
        else:
            live = self._live.get(digest)
            if live is None or live.rank < entry.rank:
                return ALREADY_SEEN
            if live.rank == entry.rank:
                if comes_first(entry.parent, live.parent):
                    self._live[digest] = entry  # same place in its queue, a better parent
                return ALREADY_SEEN
            result = AddResult(False, live.rank)
        self._live[digest] = entry
        by_rank = self._waiting.setdefault(origin_of(entry.url), {})
        by_rank.setdefault(entry.rank, deque()).append(entry)
        return result

    def _head(self, origin: str) -> tuple[int, deque[FrontierEntry]] | None:
        """Return the live queue of `origin` of best rank, dropping stale copies on the way."""
        by_rank = self._waiting.get(origin)
        while by_rank:
            rank = min(by_rank)
            queue = by_rank[rank]
            while queue and self._rank_waiting(queue[0].url) != rank:
                queue.popleft()
            if queue:
                return rank, queue
            del by_rank[rank]
        self._waiting.pop(origin, None)
        return None

    def _rank_waiting(self, url: str) -> int | None:
        live = self._live.get(url_digest(url))
        return live.rank if live is not None else None

    def pop(self, origin: str) -> FrontierEntry | None:
        head = self._head(origin)
        if head is None:
            return None
        return self._live.pop(url_digest(head[1].popleft().url))

    def head_rank(self, origin: str) -> int | None:
        head = self._head(origin)
        return head[0] if head is not None else None

    def origins(self) -> Iterator[str]:
        return iter(list(self._waiting))

    def drain(self) -> Counter[tuple[str, int]]:
        dropped = self.waiting_by_rank()
        self._waiting.clear()
        self._live.clear()
        return dropped

    def finish(self, record: Record) -> None:
        pass  # nothing outlives the process: the record goes only to the output

    def scope_origins(self) -> list[str]:
        return []

    def add_scope_origin(self, origin: str) -> None:
        pass  # the core's scope holds it for this run, the only one

    def waiting_by_rank(self) -> Counter[tuple[str, int]]:
        return Counter((origin_of(entry.url), entry.rank) for entry in self._live.values())

    def finished_count(self) -> int:
        return 0

    def __len__(self) -> int:
        return len(self._live)
