"""`SqliteFrontier`: the frontier of a crawl that must survive its process, kept in the state file.

Every change goes to the `StateStore` (committed in batches); memory holds only what the core asks
about many times a second. That is, per URL ever seen, one dict entry (its hash, and its row in the
file with the rank it waits at, packed in one int); per origin and rank, a count and a short
read-ahead queue. The
waiting URLs themselves live on disk, read back `READ_AHEAD` at a time, so a frontier of a million
URLs costs about 130 bytes each in memory, not the 170 of `MemoryFrontier`; and rows are numbered in
order of discovery, so the file grows by appending, not by inserting into a tree keyed by URL.

A URL leaves the `urls` table's waiting set only when its record is committed, in the same
transaction: a URL in flight when the process dies is still waiting in the file, and is fetched
again by the resumed crawl.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from crawler.core.depth import RANK_BITS
from crawler.core.frontier import (
    ADDED,
    ALREADY_SEEN,
    AddResult,
    FrontierEntry,
    comes_first,
    url_digest,
)
from crawler.core.records import Record
from crawler.core.urls import origin_of
from crawler.state.store import WAITING, StateStore

READ_AHEAD = 512
# `_seen` packs a URL's row number and the rank it waits at into one int: row << RANK_BITS | rank.
TAKEN = (1 << RANK_BITS) - 1  # as the rank: not waiting (fetched or in flight)


def _pack(row: int, rank: int) -> int:
    return row << RANK_BITS | rank


@dataclass(slots=True)
class _Queue:
    """The waiting URLs of one origin at one rank: how many, and the next few in memory.

    `buffer` holds URLs in queue order up to `cursor` (a queue position); those after it are only
    in the store, and `spilled` says there are some.
    """

    count: int = 0
    buffer: deque[FrontierEntry] = field(default_factory=deque)
    cursor: int = 0
    spilled: bool = False


class SqliteFrontier:
    """A frontier whose waiting URLs, seen-set and records live in a `StateStore`."""

    durable = True

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._seen: dict[int, int] = {}
        self._queues: dict[str, dict[int, _Queue]] = {}
        self._waiting = 0
        self._drained = False
        # Better parents offered for waiting URLs this run (see `_offer_parent`).
        self._better_parents: dict[int, FrontierEntry] = {}
        self._load()

    def __repr__(self) -> str:
        return (
            f"<SqliteFrontier {self.store.path} [{self._waiting} waiting"
            f" | {len(self._seen)} seen | {self.store.records} finished]>"
        )

    def _load(self) -> None:
        """Rebuild the in-memory index from the store (empty for a new crawl)."""
        for row, url, state, rank in self.store.seen_urls():
            self._seen[url_digest(url)] = _pack(row, rank if state == WAITING else TAKEN)
        for origin, rank, count in self.store.waiting_counts():
            queue = self._queue(origin, rank)
            queue.count, queue.spilled, queue.cursor = count, True, 0
            self._waiting += count

    def _queue(self, origin: str, rank: int) -> _Queue:
        by_rank = self._queues.setdefault(origin, {})
        queue = by_rank.get(rank)
        if queue is None:
            queue = by_rank[rank] = _Queue()
        return queue

    def _rank_of(self, url: str) -> int | None:
        packed = self._seen.get(url_digest(url))
        return None if packed is None else packed & TAKEN

    # -- The Frontier protocol -----------------------------------------------------------------

    def add(self, entry: FrontierEntry) -> AddResult:
        digest = url_digest(entry.url)
        packed = self._seen.get(digest)
        waiting_at = None if packed is None else packed & TAKEN
        if waiting_at is not None and (waiting_at == TAKEN or waiting_at < entry.rank):
            return ALREADY_SEEN  # most links of most pages: decided without touching the store
        if waiting_at == entry.rank:
            self._offer_parent(digest, packed, entry)
            return ALREADY_SEEN
        origin = origin_of(entry.url)
        if packed is None:
            row = position = self.store.take_number()
            self.store.insert(row, origin, entry)
            if self._drained:
                self._seen[digest] = _pack(row, TAKEN)  # waiting in the file, for the next run
                return ALREADY_SEEN
            result = ADDED
        else:
            assert waiting_at is not None
            row, position = packed >> RANK_BITS, self.store.take_number()
            self.store.move(row, entry, position)
            self._queue(origin, waiting_at).count -= 1
            self._waiting -= 1
            result = AddResult(False, waiting_at)
        self._seen[digest] = _pack(row, entry.rank)
        queue = self._queue(origin, entry.rank)
        queue.count += 1
        self._waiting += 1
        if not queue.spilled and len(queue.buffer) < READ_AHEAD:
            queue.buffer.append(entry)
            queue.cursor = position
        else:
            queue.spilled = True
        return result

    def _offer_parent(self, digest: int, packed: int | None, entry: FrontierEntry) -> None:
        """Keep the better of a waiting URL's parents (with the <lastmod> it came with): in
        memory for this run (a buffered entry may carry the old one), in the store for a
        resumed one."""
        parent = entry.parent
        if parent is None or packed is None:
            return
        better = self._better_parents.get(digest)
        if better is not None and better.parent is not None and better.parent <= parent:
            return
        self._better_parents[digest] = entry
        self.store.offer_parent(packed >> RANK_BITS, parent, entry.lastmod)

    def pop(self, origin: str) -> FrontierEntry | None:
        queue = self._head(origin)
        if queue is None:
            return None
        entry = queue.buffer.popleft()
        queue.count -= 1
        self._waiting -= 1
        digest = url_digest(entry.url)
        self._seen[digest] = self._seen[digest] | TAKEN
        better = self._better_parents.pop(digest, None)
        if better is not None and comes_first(better.parent, entry.parent):
            entry = dataclasses.replace(entry, parent=better.parent, lastmod=better.lastmod)
        return entry

    def head_rank(self, origin: str) -> int | None:
        by_rank = self._queues.get(origin)
        if not by_rank:
            return None
        live = [rank for rank, queue in by_rank.items() if queue.count > 0]
        return min(live) if live else None

    def origins(self) -> Iterator[str]:
        return iter(
            [
                origin
                for origin, by_rank in self._queues.items()
                if any(queue.count for queue in by_rank.values())
            ]
        )

    def drain(self) -> Counter[tuple[str, int]]:
        dropped = self.waiting_by_rank()
        for digest, packed in self._seen.items():
            self._seen[digest] = packed | TAKEN
        # The store keeps them waiting: a resumed crawl (with a higher --max-pages) takes them up.
        self._queues.clear()
        self._waiting = 0
        self._drained = True
        return dropped

    def finish(self, record: Record) -> None:
        row = self._seen[url_digest(record.url)] >> RANK_BITS
        self.store.finish(row, record.url, record.to_json(), ())

    def scope_origins(self) -> list[str]:
        return self.store.scope_origins()

    def add_scope_origin(self, origin: str) -> None:
        self.store.add_scope_origin(origin)

    def waiting_by_rank(self) -> Counter[tuple[str, int]]:
        counts: Counter[tuple[str, int]] = Counter()
        for origin, by_rank in self._queues.items():
            for rank, queue in by_rank.items():
                counts[origin, rank] += queue.count
        return +counts

    def finished_count(self) -> int:
        return self.store.records

    def __len__(self) -> int:
        return self._waiting

    # -- Reading ahead -------------------------------------------------------------------------

    def _head(self, origin: str) -> _Queue | None:
        """Return the queue of `origin` of best rank with a live URL at its front."""
        by_rank = self._queues.get(origin)
        while by_rank:
            rank = min(by_rank)
            queue = by_rank[rank]
            while queue.count > 0:
                buffer = queue.buffer
                while buffer and self._rank_of(buffer[0].url) != rank:
                    buffer.popleft()  # moved to a better rank since it was read
                if buffer:
                    return queue
                if not queue.spilled:
                    break
                self._read_ahead(origin, rank, queue)
            self._waiting -= queue.count  # zero, unless the file was edited under us
            del by_rank[rank]
        self._queues.pop(origin, None)
        return None

    def _read_ahead(self, origin: str, rank: int, queue: _Queue) -> None:
        """Fill a queue's buffer from the store (committing queued writes first)."""
        self.store.commit()
        rows = self.store.waiting_after(origin, rank, queue.cursor, READ_AHEAD)
        for position, url, parent, sitemap, lastmod in rows:
            queue.buffer.append(FrontierEntry(url, rank, parent, sitemap, lastmod))
            queue.cursor = position
        queue.spilled = len(rows) == READ_AHEAD
