"""`processes`: the crawl fetched and parsed by N processes, each with its own event loop.

Concurrency is not parallelism: `async` keeps thousands of requests in flight on one core, but
every GET, parse and fingerprint still takes that one core's time. Here the crawl's one core (the
sans-I/O `CrawlCore`, which alone decides what is fetched when) stays in this process, on an
event loop that only moves messages, and `--processes` fetching processes (`fetcher.py`) do the
I/O and the CPU work on every core. The core's decisions are the same as in every strategy, so
the records are too.

A request goes to the fetcher with the fewest in flight. A fetcher lost (killed, out of memory,
a parse that crashed it) loses nothing: a new one takes its place, and the requests it held are
performed again one at a time by a fetcher of their own, so a request is given up (recorded as
`local`, this machine's failure, not the site's) only when it lost a fetcher by itself, and the
records never depend on which requests shared a fetcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import os
import socket
import time
from dataclasses import dataclass, field

from crawler.core.engine import CrawlCore
from crawler.core.messages import FetchFailure, FetchRequest
from crawler.core.records import ErrorKind
from crawler.http.exchange import Capture
from crawler.output.jsonl import AsyncJsonlSink
from crawler.settings import CrawlSettings
from crawler.strategies import fetcher
from crawler.strategies.async_ import OnSent, Outcome, drive, run_on_loop
from crawler.strategies.context import RunContext
from crawler.strategies.frames import read_frame, write_frame
from crawler.strategies.worker_processes import WorkerContext

# How long a fetcher that was told to exit may take before it is killed.
EXIT_SECONDS = 5.0


class FetcherLost(Exception):
    """The fetcher a request was sent to went away before answering."""


@dataclass(eq=False)
class _Fetcher:
    """One fetching process and this end of its socket."""

    process: multiprocessing.process.BaseProcess
    writer: asyncio.StreamWriter
    pending: dict[int, tuple[asyncio.Future[Outcome], OnSent | None]] = field(default_factory=dict)
    alive: bool = True
    reading: asyncio.Task[None] | None = None


class Fetchers:
    """The crawl's fetching processes, and the one way a request is handed to them."""

    def __init__(self, settings: CrawlSettings, capture: Capture | None = None) -> None:
        self.settings = settings
        # --warc: the fetchers send each exchange here, ahead of its outcome.
        self.capture = capture
        self.count = settings.processes or os.cpu_count() or 1
        self.fetchers: list[_Fetcher] = []
        self.lost = 0
        self._ids = itertools.count()
        self._context = WorkerContext()
        self._alone: _Fetcher | None = None  # where suspect requests are performed again
        self._replaced = asyncio.Event()
        self._one_suspect = asyncio.Lock()

    async def start(self) -> None:
        """Start every fetcher (each then imports while the crawl begins)."""
        for _ in range(self.count):
            self.fetchers.append(await self._start_one())

    async def _start_one(self) -> _Fetcher:
        here, there = multiprocessing.Pipe(duplex=True)
        process = self._context.Process(
            target=fetcher.main,
            args=(
                there,
                self.settings.http_options,
                self.settings.page_options,
                self.settings.loop,
                os.getpid(),
                self.capture is not None,
            ),
            name="crawler-fetcher",
            daemon=True,
        )
        process.start()
        there.close()
        sock = socket.socket(fileno=os.dup(here.fileno()))
        here.close()
        reader, writer = await asyncio.open_connection(sock=sock)
        one = _Fetcher(process, writer)
        one.reading = asyncio.get_running_loop().create_task(self._read(one, reader))
        return one

    async def perform(self, request: FetchRequest, sent: OnSent | None) -> Outcome:
        """Have a fetcher perform `request`; `sent` (if any) is called when it leaves."""
        while not (alive := [f for f in self.fetchers if f.alive]):
            self._replaced.clear()  # all lost at once: wait for the first to be replaced
            await self._replaced.wait()
        one = min(alive, key=lambda f: len(f.pending))
        try:
            return await self._on(one, request, sent)
        except FetcherLost:
            pass
        async with self._one_suspect:
            if self._alone is None or not self._alone.alive:
                self._alone = await self._start_one()
            try:
                return await self._on(self._alone, request, sent)
            except FetcherLost:
                return FetchFailure(ErrorKind.LOCAL, 0.0, None, "it lost its fetching process")

    async def _on(self, one: _Fetcher, request: FetchRequest, sent: OnSent | None) -> Outcome:
        """Have fetcher `one` perform `request`; raise FetcherLost if it goes first."""
        ident = next(self._ids)
        answer: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        one.pending[ident] = (answer, sent)
        if not write_frame(one.writer, ("fetch", ident, request, sent is not None)):
            one.pending.pop(ident, None)
            raise FetcherLost  # it has gone; its reader will say so and replace it
        try:
            return await answer
        except asyncio.CancelledError:
            if one.pending.pop(ident, None) is not None and one.alive:
                write_frame(one.writer, ("cancel", ident))
            raise

    async def _read(self, one: _Fetcher, reader: asyncio.StreamReader) -> None:
        """Take one fetcher's messages until it goes; then hand its requests on."""
        try:
            while True:
                message = await read_frame(reader)
                assert isinstance(message, tuple)
                if message[0] == "sent":
                    entry = one.pending.get(message[1])
                    if entry is not None and entry[1] is not None:
                        entry[1]()
                elif message[0] == "exchange":
                    if self.capture is not None:
                        self.capture(message[2])
                else:
                    entry = one.pending.pop(message[1], None)
                    if entry is not None and not entry[0].done():
                        entry[0].set_result(message[2])
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        if one.alive:
            await self._lost(one)

    async def _lost(self, one: _Fetcher) -> None:
        """A fetcher went away on its own: start another, and fail its requests over."""
        one.alive = False
        self.lost += 1
        if one in self.fetchers:
            logging.getLogger("crawler").warning(
                "a fetching process was lost; a new one takes its place, and the requests it"
                " held are performed again one at a time"
            )
            self.fetchers.remove(one)
            self.fetchers.append(await self._start_one())
            self._replaced.set()
        for answer, _ in one.pending.values():
            if not answer.done():
                answer.set_exception(FetcherLost())
        one.pending.clear()

    async def close(self) -> None:
        """Tell every fetcher to exit, and wait for it (killing one that takes too long)."""
        if self._alone is not None:
            self.fetchers.append(self._alone)
        for one in self.fetchers:
            one.alive = False
            write_frame(one.writer, ("exit",))
            with contextlib.suppress(ConnectionError, RuntimeError):
                one.writer.close()
        deadline = time.monotonic() + EXIT_SECONDS
        for one in self.fetchers:
            await asyncio.to_thread(one.process.join, max(deadline - time.monotonic(), 0.0))
            if one.process.is_alive():
                one.process.kill()
            one.process.join()
            if one.reading is not None:
                one.reading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await one.reading


class ProcessesStrategy:
    """One core deciding, N processes fetching and parsing."""

    def run(self, core: CrawlCore, settings: CrawlSettings, context: RunContext) -> None:
        run_on_loop(_crawl(core, settings, context), settings.loop)


async def _crawl(core: CrawlCore, settings: CrawlSettings, context: RunContext) -> None:
    sink = AsyncJsonlSink(context.output, context.before_write, context.on_records)
    await sink.open()
    fetchers = Fetchers(settings, context.capture)
    try:
        await fetchers.start()
        await drive(core, settings, context, sink, fetchers.perform)
    finally:
        await fetchers.close()
        await sink.close()


__all__ = ["Fetchers", "ProcessesStrategy"]
