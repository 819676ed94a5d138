"""`SqliteFrontier`: the frontier of a crawl that must survive its process, kept in the state file.

Every change goes to the `StateStore` (committed in batches); memory holds only what the core asks
about many times a second. That is, per URL ever seen, one small dict entry (its hash, and the depth
it waits at, or -1 once taken); per origin and depth, a count and a short read-ahead queue. The
waiting URLs themselves live on disk, read back `READ_AHEAD` at a time, so a frontier of a million
URLs costs about 100 bytes each in memory, not the 170 of `MemoryFrontier`.

A URL leaves the `urls` table's waiting set only when its record is committed, in the same
transaction: a URL in flight when the process dies is still waiting in the file, and is fetched
again by the resumed crawl.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from crawler.core.frontier import ADDED, ALREADY_SEEN, AddResult, FrontierEntry, url_digest
from crawler.core.records import Record
from crawler.core.urls import origin_of
from crawler.state.store import WAITING, StateStore

READ_AHEAD = 512
TAKEN = -1  # in `_depth_of`: seen, and not waiting (fetched, in flight, or a redirect hop)


@dataclass(slots=True)
class _Queue:
    """The waiting URLs of one origin at one depth: how many, and the next few in memory.

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
        self._depth_of: dict[int, int] = {}
        self._queues: dict[str, dict[int, _Queue]] = {}
        self._waiting = 0
        self._finished = store.records
        self._drained = False
        self._load()

    def __repr__(self) -> str:
        return (
            f"<SqliteFrontier {self.store.path} [{self._waiting} waiting"
            f" | {len(self._depth_of)} seen | {self._finished} finished]>"
        )

    def _load(self) -> None:
        """Rebuild the in-memory index from the store (empty for a new crawl)."""
        for url, state, depth in self.store.seen_urls():
            self._depth_of[url_digest(url)] = depth if state == WAITING else TAKEN
        for origin, depth, count in self.store.waiting_counts():
            queue = self._queue(origin, depth)
            queue.count, queue.spilled, queue.cursor = count, True, 0
            self._waiting += count

    def _queue(self, origin: str, depth: int) -> _Queue:
        by_depth = self._queues.setdefault(origin, {})
        queue = by_depth.get(depth)
        if queue is None:
            queue = by_depth[depth] = _Queue()
        return queue

    # -- The Frontier protocol -----------------------------------------------------------------

    def add(self, entry: FrontierEntry) -> AddResult:
        digest = url_digest(entry.url)
        waiting_at = self._depth_of.get(digest)
        seq = self.store.next_seq
        self.store.next_seq += 1
        origin = origin_of(entry.url)
        if waiting_at is None:
            result = ADDED
            self.store.insert(entry.url, origin, entry.depth, entry.parent, seq)
            if self._drained:
                self._depth_of[digest] = TAKEN  # waiting in the file, for the next run
                return ALREADY_SEEN
        elif waiting_at == TAKEN or waiting_at <= entry.depth:
            return ALREADY_SEEN
        else:
            result = AddResult(False, waiting_at)
            self._queue(origin, waiting_at).count -= 1
            self._waiting -= 1
            self.store.move(entry.url, entry.depth, entry.parent, seq)
        self._depth_of[digest] = entry.depth
        queue = self._queue(origin, entry.depth)
        queue.count += 1
        self._waiting += 1
        if not queue.spilled and len(queue.buffer) < READ_AHEAD:
            queue.buffer.append(entry)
            queue.cursor = seq
        else:
            queue.spilled = True
        return result

    def mark_seen(self, url: str) -> bool:
        digest = url_digest(url)
        if digest in self._depth_of:
            return False
        # Stored as a hop with its record, by finish(): if the crawl dies first, the redirect is
        # followed again on resume.
        self._depth_of[digest] = TAKEN
        return True

    def pop(self, origin: str) -> FrontierEntry | None:
        head = self._head(origin)
        if head is None:
            return None
        queue = head[1]
        entry = queue.buffer.popleft()
        queue.count -= 1
        self._waiting -= 1
        self._depth_of[url_digest(entry.url)] = TAKEN
        return entry

    def head_depth(self, origin: str) -> int | None:
        by_depth = self._queues.get(origin)
        if not by_depth:
            return None
        live = [depth for depth, queue in by_depth.items() if queue.count > 0]
        return min(live) if live else None

    def origins(self) -> Iterator[str]:
        return iter(
            [
                origin
                for origin, by_depth in self._queues.items()
                if any(queue.count for queue in by_depth.values())
            ]
        )

    def drain(self) -> Counter[int]:
        dropped: Counter[int] = Counter()
        for by_depth in self._queues.values():
            for depth, queue in by_depth.items():
                if queue.count:
                    dropped[depth] += queue.count
        for digest, depth in self._depth_of.items():
            if depth != TAKEN:
                self._depth_of[digest] = TAKEN
        # The store keeps them waiting: a resumed crawl (with a higher --max-pages) takes them up.
        self._queues.clear()
        self._waiting = 0
        self._drained = True
        return dropped

    def finish(self, record: Record, redirects: Sequence[str]) -> None:
        self.store.finish(record.url, record.to_json(), redirects)
        self._finished += 1

    def waiting_by_depth(self) -> Counter[int]:
        counts: Counter[int] = Counter()
        for by_depth in self._queues.values():
            for depth, queue in by_depth.items():
                counts[depth] += queue.count
        return +counts

    def finished_count(self) -> int:
        return self._finished

    def __len__(self) -> int:
        return self._waiting

    # -- Reading ahead -------------------------------------------------------------------------

    def _head(self, origin: str) -> tuple[int, _Queue] | None:
        """Return the shallowest queue of `origin` with a live URL at its front."""
        by_depth = self._queues.get(origin)
        while by_depth:
            depth = min(by_depth)
            queue = by_depth[depth]
            while queue.count > 0:
                buffer = queue.buffer
                while buffer and self._depth_of.get(url_digest(buffer[0].url)) != depth:
                    buffer.popleft()  # moved to a shallower depth since it was read
                if buffer:
                    return depth, queue
                if not queue.spilled:
                    break
                self._read_ahead(origin, depth, queue)
            self._waiting -= queue.count  # zero, unless the file was edited under us
            del by_depth[depth]
        self._queues.pop(origin, None)
        return None

    def _read_ahead(self, origin: str, depth: int, queue: _Queue) -> None:
        """Fill a queue's buffer from the store (committing queued writes first)."""
        self.store.commit()
        rows = self.store.waiting_after(origin, depth, queue.cursor, READ_AHEAD)
        for seq, url, parent in rows:
            queue.buffer.append(FrontierEntry(url, depth, parent))
            queue.cursor = seq
        queue.spilled = len(rows) == READ_AHEAD
