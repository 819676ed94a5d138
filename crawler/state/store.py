"""The state file: one SQLite database holding a crawl's settings, its URLs and their records.

Three tables. `meta` holds what the crawl means (seeds, scope, depth...) so a resume with other
settings is refused. `urls` holds every URL the crawl accepted, with its rank (crossings between
origins, then depth: `crawler.core.depth`) and whether it is still waiting (its index over waiting
URLs is the on-disk frontier). `records` holds each finished URL's record, numbered in the order
it was written to the output, which is how the output file is brought back in line after a crash.

Writes are queued in memory and committed together by `commit()`: a commit is one transaction, so
the file always holds the state as of some moment of the crawl, never half of one. WAL mode with
`synchronous=NORMAL` makes a commit cost no fsync: a killed process loses nothing committed (the
operating system has it), and a power cut loses at most the last commits, never consistency.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from command_kit.errors import ResourceError, SettingsError, SetupError
from crawler.core.frontier import FrontierEntry
from crawler.output.aborts import CrawlAborted, cannot_write
from crawler.settings import CrawlSettings

SCHEMA_VERSION = 4

# What a crawl is: settings that, changed, would make a resumed crawl a different crawl. Limits
# and speed (concurrency, delay, retries, max_pages, strategy) may change between runs.
MEANING = (
    "seeds",
    "allow_domains",
    "include",
    "exclude",
    "max_depth",
    "ignore_robots",
    "respect_nofollow",
    "sitemaps",
    "sitemaps_only",
    "sitemap_since",
)

WAITING, DONE, REDIRECT_HOP = 0, 1, 2
# The meta key of the origins a crawl took into scope as it ran.
SCOPE_ORIGINS = "scope_origins"
NO_RANK = -1  # a redirect hop's rank: it is never waiting

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS urls (
    id INTEGER PRIMARY KEY,         -- in order of discovery, so new rows append to the table
    url TEXT NOT NULL,
    state INTEGER NOT NULL,         -- WAITING (or in flight), DONE, or REDIRECT_HOP (seen only)
    origin TEXT NOT NULL,
    rank INTEGER NOT NULL,
    parent TEXT,
    position INTEGER NOT NULL,      -- queue order within an origin and rank (later if moved)
    sitemap INTEGER,                -- a sitemap's nesting level; NULL for a page
    lastmod TEXT                    -- the <lastmod> of the sitemap entry that listed it
);
CREATE INDEX IF NOT EXISTS waiting ON urls (origin, rank, position) WHERE state = {WAITING};
CREATE TABLE IF NOT EXISTS records (
    number INTEGER PRIMARY KEY,     -- 1, 2, 3...: the record's line in the output
    url TEXT NOT NULL,
    line TEXT NOT NULL
);
"""


def already_holds_a_crawl(path: str | Path) -> SettingsError:
    """Return the error for a state file reused without --resume."""
    return SettingsError(
        "state",
        f"{path} holds a crawl already: add --resume to continue it, or remove the file"
        " to start over",
    )


def meaning_of(settings: CrawlSettings) -> dict[str, Any]:
    """Return the settings that define what a crawl is, as JSON-ready values."""
    return {name: _jsonable(getattr(settings, name)) for name in MEANING}


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@dataclass(slots=True)
class _Pending:
    """Writes queued since the last commit, by kind; applied in this order, which respects every
    URL's life (inserted, maybe moved shallower, then done)."""

    inserts: list[tuple[int, str, int, str, int, str | None, int, int | None, str | None]] = field(
        default_factory=list
    )
    moves: list[tuple[int, str | None, int | None, str | None, int, int]] = field(
        default_factory=list
    )
    parents: list[tuple[str, str | None, int, str]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    done: list[tuple[int]] = field(default_factory=list)
    hops: list[tuple[int, str]] = field(default_factory=list)
    records: list[tuple[int, str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.inserts
            or self.moves
            or self.parents
            or self.meta
            or self.done
            or self.hops
            or self.records
        )


class StateStore:
    """The SQLite file behind a durable crawl. Used from one thread at a time."""

    def __init__(self, path: str | Path, connection: sqlite3.Connection) -> None:
        self.path = Path(path)
        self._db = connection
        self._pending = _Pending()
        self.records = self._scalar("SELECT COUNT(*) FROM records")
        # One counter numbers rows and queue positions alike: both only ever grow.
        self.next_number = (
            max(
                self._scalar("SELECT COALESCE(MAX(id), 0) FROM urls"),
                self._scalar("SELECT COALESCE(MAX(position), 0) FROM urls"),
            )
            + 1
        )

    def __repr__(self) -> str:
        return f"<StateStore {self.path} [{self.records} records]>"

    @classmethod
    def open(
        cls, path: str | Path, settings: CrawlSettings, resume: bool, extra: Mapping[str, Any]
    ) -> tuple[StateStore, bool]:
        """Open the state file for a crawl; return it and whether it continues an earlier run.

        A new file records the crawl's meaning (and `extra`, such as the embedded site's port);
        an existing one is continued only with `resume`, and only if the meaning is the same.
        """
        target = Path(path)
        store = cls(target, _connect(target))
        # A file without settings is new, or was killed while being created: start it afresh.
        stored = store._meta()
        if stored and not resume:
            store._db.close()
            raise already_holds_a_crawl(target)
        if stored:
            try:
                store._check_meaning(stored, settings)
            except SetupError:
                store._db.close()
                raise
        else:
            store._write_meta({"schema": SCHEMA_VERSION, **meaning_of(settings), **extra})
        return store, bool(stored)

    @staticmethod
    def read_meta(path: str | Path) -> dict[str, Any]:
        """Return the settings stored in an existing state file (empty if there is none)."""
        target = Path(path)
        if not target.exists() or target.stat().st_size == 0:
            return {}
        try:
            db = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
            try:
                if not db.execute("SELECT name FROM sqlite_master").fetchall():
                    return {}  # created, then killed before its first table
                rows = db.execute("SELECT key, value FROM meta").fetchall()
            finally:
                db.close()
            return {key: json.loads(value) for key, value in rows}
        except (sqlite3.Error, ValueError) as error:
            raise ResourceError("state", f"{target} is not a crawl state file ({error})") from None

    def _write_meta(self, values: Mapping[str, Any]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [(key, json.dumps(value)) for key, value in values.items()],
            )

    def _meta(self) -> dict[str, Any]:
        return {key: json.loads(value) for key, value in self._db.execute("SELECT * FROM meta")}

    def _check_meaning(self, stored: Mapping[str, Any], settings: CrawlSettings) -> None:
        if stored.get("schema") != SCHEMA_VERSION:
            raise ResourceError(
                "state",
                f"{self.path} was written by another version (schema {stored.get('schema')})",
            )
        for name, value in meaning_of(settings).items():
            if stored.get(name) != value:
                raise SettingsError(
                    "state",
                    f"{self.path} holds a crawl with {{{name}}} {stored.get(name)!r}, not"
                    f" {value!r}; resume it with the same settings, or use another state file",
                    mentions=(name,),
                )

    # -- Reading (at start-up, and for export) -------------------------------------------------

    def seen_urls(self) -> Iterator[tuple[int, str, int, int]]:
        """Yield (id, url, state, rank) for every URL accepted so far."""
        yield from self._db.execute("SELECT id, url, state, rank FROM urls")

    def waiting_counts(self) -> Iterator[tuple[str, int, int]]:
        """Yield (origin, rank, count) of the URLs waiting."""
        yield from self._db.execute(
            f"SELECT origin, rank, COUNT(*) FROM urls WHERE state = {WAITING} GROUP BY origin, rank"
        )

    def waiting_after(
        self, origin: str, rank: int, after: int, limit: int
    ) -> list[tuple[int, str, str | None, int | None, str | None]]:
        """Return (position, url, parent, sitemap, lastmod) of the next waiting URLs of one
        origin and rank."""
        return self._db.execute(
            "SELECT position, url, parent, sitemap, lastmod FROM urls"
            f" WHERE state = {WAITING} AND origin = ? AND rank = ?"
            " AND position > ? ORDER BY position LIMIT ?",
            (origin, rank, after, limit),
        ).fetchall()

    def waiting_total(self) -> int:
        """Return how many URLs wait (committed state): what a resumed crawl starts with."""
        return self._scalar(f"SELECT COUNT(*) FROM urls WHERE state = {WAITING}")

    def record_lines(self, after: int = 0) -> Iterator[tuple[int, str, str]]:
        """Yield (number, url, JSON line) of the records numbered above `after`, in order."""
        yield from self._db.execute(
            "SELECT number, url, line FROM records WHERE number > ? ORDER BY number", (after,)
        )

    @staticmethod
    def lines_of(path: str | Path) -> Iterator[str]:
        """Yield every record line of the state file at `path`, in crawl order, reading it
        read-only: exporting while the crawl runs (or after it crashed) changes nothing."""
        meta = StateStore.read_meta(path)
        if meta.get("schema") != SCHEMA_VERSION:
            raise ResourceError("state", f"{path} is not a crawl state file")
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            for (line,) in db.execute("SELECT line FROM records ORDER BY number"):
                yield line
        finally:
            db.close()

    def record_url(self, number: int) -> str | None:
        """Return the URL of record `number` (counted from 1), or None."""
        row = self._db.execute("SELECT url FROM records WHERE number = ?", (number,)).fetchone()
        return row[0] if row else None

    # -- Writing ---------------------------------------------------------------------------

    def take_number(self) -> int:
        """Return a new number for a row or a queue position."""
        number = self.next_number
        self.next_number += 1
        return number

    def insert(self, row: int, origin: str, entry: FrontierEntry) -> None:
        """Queue a newly accepted URL, waiting, at the end of its origin and rank's queue."""
        self._pending.inserts.append(
            (
                row,
                entry.url,
                WAITING,
                origin,
                entry.rank,
                entry.parent,
                row,
                entry.sitemap,
                entry.lastmod,
            )
        )

    def move(self, row: int, entry: FrontierEntry, position: int) -> None:
        """Queue a waiting URL's move to a better rank (at the end of that queue): it is now
        what `entry` says it is."""
        self._pending.moves.append(
            (entry.rank, entry.parent, entry.sitemap, entry.lastmod, position, row)
        )

    def offer_parent(self, row: int, parent: str, lastmod: str | None) -> None:
        """Queue a better parent for a waiting URL, kept if it comes first in URL order, with
        the <lastmod> that parent gave it (a sitemap's entry), if any."""
        self._pending.parents.append((parent, lastmod, row, parent))

    def scope_origins(self) -> list[str]:
        """Return the origins the crawl took into its scope (where its seeds redirected)."""
        queued: list[str] | None = self._pending.meta.get(SCOPE_ORIGINS)
        return list(queued if queued is not None else self._meta().get(SCOPE_ORIGINS, []))

    def add_scope_origin(self, origin: str) -> None:
        """Queue an origin taken into scope, so a resumed crawl keeps it in scope too."""
        self._pending.meta[SCOPE_ORIGINS] = [*self.scope_origins(), origin]

    def finish(self, row: int, url: str, line: str, hops: Sequence[tuple[int, str]]) -> None:
        """Queue a URL's record, and the (row, url) of the redirect hops it went through."""
        self._pending.done.append((row,))
        self._pending.hops.extend(hops)
        self.records += 1
        self._pending.records.append((self.records, url, line))

    def commit(self) -> None:
        """Write every queued change in one transaction.

        If the transaction fails (a full disk, an I/O error), SQLite rolls it back, so the file
        keeps the state of the last commit, and the queued writes are kept for another try:
        `CrawlAborted` says which file refused and why.
        """
        pending = self._pending
        if not pending:
            return
        try:
            with self._db:
                db = self._db
                db.executemany(
                    "INSERT INTO urls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", pending.inserts
                )
                db.executemany(
                    "UPDATE urls SET rank = ?, parent = ?, sitemap = ?, lastmod = ?, position = ?"
                    " WHERE id = ?",
                    pending.moves,
                )
                db.executemany(
                    "UPDATE urls SET parent = ?, lastmod = ? WHERE id = ? AND parent > ?",
                    pending.parents,
                )
                db.executemany(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    [(key, json.dumps(value)) for key, value in pending.meta.items()],
                )
                db.executemany(f"UPDATE urls SET state = {DONE} WHERE id = ?", pending.done)
                db.executemany(
                    "INSERT INTO urls (id, url, state, origin, rank, parent, position)"
                    f" VALUES (?, ?, {REDIRECT_HOP}, '', {NO_RANK}, NULL, 0)",
                    pending.hops,
                )
                db.executemany("INSERT INTO records VALUES (?, ?, ?)", pending.records)
        except sqlite3.Error as error:
            raise cannot_write(self.path, error) from None
        self._pending = _Pending()

    def forget_pending(self) -> None:
        """Drop what was queued since the last commit, as a crash would: the file stays as of
        that commit, and a resumed crawl does the work again (a crawl whose archive refused a
        write must not commit records whose exchanges it lacks)."""
        self._pending = type(self._pending)()

    def close(self) -> None:
        """Commit what is queued and close the file (folding the WAL back into it).

        A commit that fails here has been reported already by the crawl that stopped on it; the
        file is left as of its last good commit, which is what a resume starts from.
        """
        try:
            self.commit()
        except CrawlAborted:
            pass
        finally:
            self._db.close()

    def _scalar(self, sql: str) -> int:
        value = self._db.execute(sql).fetchone()[0]
        return int(value)


def _connect(path: Path) -> sqlite3.Connection:
    try:
        # Strategies with threads call in from their workers, one at a time under their lock.
        db = sqlite3.connect(path, check_same_thread=False)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA cache_size = -32000")  # 32 MB of page cache, whatever the crawl's size
        db.executescript(_SCHEMA)
    except sqlite3.DatabaseError as error:
        raise ResourceError("state", f"cannot use {path} as a state file: {error}") from None
    return db
