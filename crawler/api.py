"""Crawling from Python: the crawl `crawler crawl` makes, its records handed over as it writes them.

    for record in crawler.crawl_sync(["https://docs.example.org/"], max_pages=100):
        print(record.status, record.url)

    async for record in crawler.crawl(["https://docs.example.org/"], strategy="threads"):
        ...

Settings are the command's, by their Python names (`max_pages=100`, `per_host=4`,
`extract=["title=title::text"]`), read and validated by the same code as its flags, so a bad one
raises `SettingsError` (its message the command's one line) before any request; `config=` reads
a config file as `--config` does. Two defaults differ, as a library's should: no records file
(`output=""`; give one to keep them on disk as well) and no status line (`quiet=True`).

The crawl runs on a thread of its own with the chosen strategy, exactly as the command runs it
(`run_crawl`), so every strategy, limit and record is the same; each record is handed over once
the crawl has written it, in the order of its output. A consumer slower than the crawl holds it
back (at most `BUFFERED_RECORDS` wait), so memory stays bounded. Leaving the loop early stops the
crawl as a Ctrl-C would: requests in flight get `grace` to finish, and the run's `summary` then
says `interrupted`. After the last record, `summary` holds what `--stats-json` would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import queue
import signal
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console

from crawler.core.records import Record
from crawler.pages.callback import PageCallback
from crawler.run.crawl import CrawlOutcome, run_crawl
from crawler.settings import CrawlSettings, load_crawl_settings
from crawler.stopping.control import StopControl
from crawler.strategies.context import RunContext

# Records the crawl may finish ahead of its consumer before it waits for it.
BUFFERED_RECORDS = 10_000
_DONE = object()  # what the crawl's thread puts last


class CrawlFailed(Exception):
    """The crawl could not go on (a file it writes refused, every seed failed): the command's
    one-line problem, with its exit status."""

    def __init__(self, problem: str, exit_code: int) -> None:
        super().__init__(problem)
        self.exit_code = exit_code


def settings_for(
    seeds: str | Iterable[str],
    config: str | Path | None,
    settings: dict[str, Any],
    on_page: PageCallback | None = None,
) -> CrawlSettings:
    """Return validated crawl settings from Python arguments, with the library's defaults."""
    given = {"output": "", "quiet": True, **settings}
    if isinstance(seeds, str):
        seeds = [seeds]
    if seeds := tuple(seeds):
        given["seeds"] = seeds
    loaded = load_crawl_settings(Path(config) if config is not None else None, given)
    return loaded if on_page is None else dataclasses.replace(loaded, on_page=on_page)


class CrawlRun:
    """One crawl on its own thread: iterate it for its records; `summary` once it is over.

    A run left unread holds its crawl back once `BUFFERED_RECORDS` wait: `with crawl_sync(...)
    as run:` (or `close()`) ends it however the reading ends.
    """

    def __init__(self, settings: CrawlSettings) -> None:
        self.settings = settings
        self.summary: dict[str, Any] | None = None
        self._records: queue.Queue[object] = queue.Queue(BUFFERED_RECORDS)
        self._closed = threading.Event()
        self._outcome: CrawlOutcome | None = None
        self._error: BaseException | None = None
        self._iterated = False
        # Made here, silent: a library's caller hears of a stop from `summary`, not from stderr.
        self._context = RunContext(settings.output, handle_signals=False)
        self._context.stop = StopControl(settings.grace, signals=False, announce=_silent)
        self._context.on_records = self._hand_over
        self._thread = threading.Thread(target=self._run, name="crawler", daemon=True)
        self._thread.start()

    def __iter__(self) -> Iterator[Record]:
        if self._iterated:
            raise RuntimeError("a crawl's records can be read once: start another crawl")
        self._iterated = True
        finished = False
        try:
            while True:
                item = self._records.get()
                if item is _DONE:
                    finished = True
                    break
                assert isinstance(item, Record)
                yield item
        finally:
            if finished:
                self._thread.join()
            else:  # left early: the consumer is done with the crawl
                self.close()
        self._raise_failure()

    def __enter__(self) -> CrawlRun:
        return self

    def __exit__(self, *exception: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the crawl if it is still running (requests in flight get its grace) and wait
        for its thread; records still to come are dropped."""
        if self._thread.is_alive():
            self._closed.set()
            stop = self._context.stop
            if stop is not None:
                stop.ask(signal.SIGINT, time.monotonic(), 0)
            while self._thread.is_alive():  # make room for a record it is handing over
                self._drain()
                self._thread.join(0.05)
        self._drain()

    def _drain(self) -> None:
        try:
            while True:
                self._records.get_nowait()
        except queue.Empty:
            pass

    def _hand_over(self, records: list[Record]) -> None:
        """Called by the crawl's sink with each block of records it has written."""
        for record in records:
            while not self._closed.is_set():
                try:
                    self._records.put(record, timeout=0.1)
                    break
                except queue.Full:
                    continue

    def _run(self) -> None:
        try:
            quiet = Console(quiet=True)
            self._outcome = run_crawl(
                self.settings, handle_signals=False, console=quiet, context=self._context
            )
            self.summary = self._outcome.summary
        except BaseException as error:  # handed to the consumer, raised where it iterates
            self._error = error
        finally:
            while True:
                try:
                    self._records.put(_DONE, timeout=0.1)
                    break
                except queue.Full:
                    if self._closed.is_set():
                        break

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error
        outcome = self._outcome
        if outcome is None or self._closed.is_set():
            return
        if outcome.exit_code not in (0, 130) and outcome.problem:
            raise CrawlFailed(outcome.problem, outcome.exit_code)


def crawl_sync(
    seeds: str | Iterable[str] = (),
    *,
    config: str | Path | None = None,
    on_page: PageCallback | None = None,
    **settings: Any,
) -> CrawlRun:
    """Start a crawl and return it; iterating it yields each record as the crawl writes it.

    With no seeds, the bundled mock site is served and crawled, as by `crawler crawl`. Raises
    `SettingsError` for a bad setting; iterating raises `CrawlFailed` when the crawl had to stop
    (a full disk) or every seed failed, once the records it wrote have been yielded.
    `on_page(record, page)` sees every HTML page where it is parsed, and may add fields to its
    record's `extra` and URLs to crawl (see `crawler.pages.callback`).
    """
    return CrawlRun(settings_for(seeds, config, settings, on_page))


async def crawl(
    seeds: str | Iterable[str] = (),
    *,
    config: str | Path | None = None,
    on_page: PageCallback | None = None,
    **settings: Any,
) -> AsyncIterator[Record]:
    """Crawl, yielding each record as the crawl writes it, without blocking the caller's event
    loop (the crawl runs on its own thread and loop). The settings and errors are `crawl_sync`'s.
    """
    run = crawl_sync(seeds, config=config, on_page=on_page, **settings)
    records = iter(run)
    loop = asyncio.get_running_loop()
    try:
        while True:
            record = await loop.run_in_executor(None, next, records, None)
            if record is None:
                break
            yield record
    finally:
        await loop.run_in_executor(None, run.close)


def _silent(message: str) -> None:
    """Say nothing: a library's stop is reported in its summary."""


__all__ = ["CrawlFailed", "CrawlRun", "crawl", "crawl_sync"]
