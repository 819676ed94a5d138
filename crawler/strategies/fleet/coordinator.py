"""`broker`: the crawl's core here, its requests performed by workers anywhere, through Redis.

The coordinator is the only process that decides: it runs the crawl's one `CrawlCore` (so depth,
scope, robots.txt, retries and politeness are the core's, as in every strategy) on the `async`
driver, and its performer hands each request to the `jobs` stream instead of to aiohttp. Workers
(`worker.py`) take requests through a consumer group, fetch and parse them, and answer on the
`results` stream. The core counts a request in flight from the moment it is handed out to the
moment its outcome is read here, so `--concurrency`, `--per-host`, `--delay` and a Retry-After
hold for the whole fleet, however many workers on however many machines.

Failures, and what each costs:
- A worker killed or frozen: its requests' leases run out and other workers claim them; a frozen
  worker's late answers are refused by Redis itself (`keys.COMPLETE`).
- Redis lost (killed, restarted from its AOF, or the network): every task here waits for it; once
  it is back, every request still in flight is handed out again. An answer that comes twice (the
  old hand-out and the new) is taken once: a request is answered by its key, once.
- This process killed: the records kept in `--state` are the crawl's; `--resume` starts a new
  run (new streams, new token), and workers of the old run join it by themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import multiprocessing
import os
import secrets
import socket
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from command_kit.errors import ResourceError
from crawler.core.engine import CrawlCore
from crawler.core.messages import FetchFailure, FetchRequest
from crawler.core.records import ErrorKind
from crawler.output.aborts import CrawlAborted
from crawler.output.jsonl import AsyncJsonlSink
from crawler.settings import CrawlSettings, redacted_url
from crawler.strategies.async_ import OnSent, Outcome, drive, run_on_loop
from crawler.strategies.context import RunContext
from crawler.strategies.fleet import codec, keys
from crawler.strategies.fleet.connection import SOCKET_TIMEOUT, TRANSIENT, connect
from crawler.strategies.worker_processes import WorkerContext

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

LOG = logging.getLogger("crawler")

# The coordinator's key lives this long unrenewed: a resume after a crash waits at most this long.
COORDINATOR_TTL = 3.0
HEARTBEAT_SECONDS = 1.0
RETRIED_WHILE_RECOVERING: tuple[type[Exception], ...] = (*TRANSIENT, ResponseError)
# How long the broker may be out of reach before the crawl stops (resumable with --state).
BROKER_PATIENCE = 120.0
# A crawl whose coordinator has been gone this long is forgotten: its keys expire (its records
# are in its state file, if it has one, and a resume starts afresh).
ABANDONED_SECONDS = 3600.0
# How long a worker of this machine has to leave once the crawl has ended.
EXIT_SECONDS = 5.0


@dataclass(eq=False)
class _Pending:
    """A request handed out and not yet answered."""

    request: FetchRequest
    text: str
    answer: asyncio.Future[Outcome]
    sent: OnSent | None  # None: its origin does not wait to hear that it left

    entry: bytes | None = None  # its id in the jobs stream, once added


@dataclass
class FleetStats:
    """What the broker cost: its round trips and the bytes of the messages."""

    round_trips: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    handed_out_again: int = 0
    answers_twice: int = 0
    outages: int = 0


class Dispatch:
    """The performer of the `broker` strategy: requests out to the jobs stream, answers back."""

    def __init__(self, settings: CrawlSettings) -> None:
        assert settings.broker is not None
        self.url = settings.broker
        self.shown_url = redacted_url(settings.broker)
        self.crawl_id = settings.crawl_id or _default_crawl_id(settings.state)
        self.keys = keys.CrawlKeys(self.crawl_id)
        self.token = secrets.token_hex(8)
        self.options_text = codec.encode_options(
            settings.http_options,
            settings.page_options,
            settings.lease,
            resumable=settings.state is not None,
        )
        self.local_count = settings.processes or os.cpu_count() or 1
        self.loop_kind = settings.loop
        self.redis: aioredis.Redis = connect(self.url)
        self.heartbeat_script: AsyncScript = self.redis.register_script(keys.HEARTBEAT)
        self.pending: dict[str, _Pending] = {}
        self.unsent: deque[str] = deque()
        self.stats = FleetStats()
        self._ids = itertools.count()
        self._wake_sender = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._generation = 0  # how many outages have been recovered from
        self._recovering = asyncio.Lock()
        self._failure: CrawlAborted | None = None
        self._failed = asyncio.Event()
        self._last_result = b"0-0"
        self._workers: list[multiprocessing.process.BaseProcess] = []
        # redis-py may turn a cancelled command into a ConnectionError: the tasks look here.
        self._closing = False
        self._closed = asyncio.Event()

    # -- starting and ending -------------------------------------------------------------------

    async def start(self) -> None:
        """Take the crawl id, open fresh streams, tell workers of the crawl, start local ones."""
        try:
            await self._take_crawl_id()
            await self.redis.delete(self.keys.options, self.keys.jobs, self.keys.results)
            await self._forget_abandoned()
            await self._prepare()
        except TRANSIENT as error:
            raise ResourceError(
                "broker", f"cannot reach the broker at {self.shown_url}: {error}"
            ) from None
        except ResponseError as error:  # a password refused, a database that does not exist
            raise ResourceError(
                "broker", f"the broker at {self.shown_url} refused: {error}"
            ) from None
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._send_forever()),
            loop.create_task(self._read_forever()),
            loop.create_task(self._heartbeat_forever()),
        ]
        for task in self._tasks:
            task.add_done_callback(self._task_ended)
        self._start_local_workers()
        LOG.info(
            "crawl %s through %s: %d worker(s) here; more join with: crawler worker URL",
            self.crawl_id,
            self.shown_url,
            self.local_count,
        )

    async def _take_crawl_id(self) -> None:
        """Become the crawl's coordinator, waiting out a crashed one's key; refuse a live one's."""
        deadline = time.monotonic() + COORDINATOR_TTL + 1.0
        while not await self.redis.set(
            self.keys.coordinator, self.token, nx=True, px=int(COORDINATOR_TTL * 1000)
        ):
            if time.monotonic() > deadline:
                raise ResourceError(
                    "crawl_id",
                    f"{self.crawl_id!r} is the id of a crawl still running on this broker;"
                    " give this one another",
                )
            await asyncio.sleep(0.2)

    async def _forget_abandoned(self) -> None:
        """Take crawls whose keys have expired (their coordinator died long ago) off the list."""
        members: Any = await self.redis.smembers(keys.REGISTRY)
        for member in members:
            crawl_id = member.decode("utf-8", "replace")
            if not await self.redis.exists(keys.CrawlKeys(crawl_id).options):
                await self.redis.srem(keys.REGISTRY, member)

    async def _prepare(self) -> None:
        """Make the crawl's streams, options and registry entry exist (again, after an outage)."""
        with contextlib.suppress(ResponseError):  # BUSYGROUP: it is there already
            await self.redis.xgroup_create(self.keys.jobs, keys.GROUP, id="0", mkstream=True)
        await self.redis.set(self.keys.options, f"{self.token}\n{self.options_text}")
        await self.redis.sadd(keys.REGISTRY, self.crawl_id)
        self.stats.round_trips += 3

    def _start_local_workers(self) -> None:
        from crawler.strategies.fleet import worker

        context = WorkerContext()
        for _ in range(self.local_count):
            process = context.Process(
                target=worker.serve_for_parent,
                args=(self.url, self.crawl_id, self.loop_kind, os.getpid()),
                name="crawler-worker",
                daemon=True,
            )
            process.start()
            self._workers.append(process)

    async def close(self) -> None:
        """End the crawl in Redis (its workers then leave), and wait for this machine's."""
        # Each task returns when it sees `_closing`: redis-py does not always end a command
        # that is cancelled while it blocks (XREAD), so the reader is woken by a message.
        self._closing = True
        self._closed.set()
        self._wake_sender.set()
        with contextlib.suppress(*TRANSIENT, ResponseError):
            await self.redis.xadd(self.keys.results, {"k": ""})
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SOCKET_TIMEOUT):
                await asyncio.gather(*self._tasks, return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(*TRANSIENT, ResponseError):
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.srem(keys.REGISTRY, self.crawl_id)
                pipe.delete(self.keys.options, self.keys.jobs, self.keys.results)
                pipe.delete(self.keys.coordinator)
                await pipe.execute()
        with contextlib.suppress(*TRANSIENT):
            await self.redis.aclose()
        deadline = time.monotonic() + EXIT_SECONDS
        for process in self._workers:
            await asyncio.to_thread(process.join, max(deadline - time.monotonic(), 0.0))
            if process.is_alive():
                process.kill()
                process.join()

    # -- the performer -------------------------------------------------------------------------

    async def perform(self, request: FetchRequest, sent: OnSent | None) -> Outcome:
        """Hand `request` to the fleet and give its answer (the page already analysed)."""
        if self._failure is not None:
            raise self._failure
        key = f"{self.token}:{next(self._ids)}"
        answer: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.pending[key] = _Pending(request, codec.encode_request(request), answer, sent)
        self.unsent.append(key)
        self._wake_sender.set()
        try:
            return await answer
        finally:
            self.pending.pop(key, None)

    # -- the tasks -----------------------------------------------------------------------------

    async def _send_forever(self) -> None:
        """Add requests to the jobs stream, as many per round trip as are waiting."""
        while not self._closing:
            await self._wake_sender.wait()
            self._wake_sender.clear()
            batch = [key for key in self.unsent if key in self.pending]
            self.unsent.clear()
            if not batch:
                continue
            generation = self._generation
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for key in batch:
                        handed = self.pending[key]
                        job = {"k": key, "r": handed.text}
                        if handed.sent is not None:
                            job["s"] = "1"  # say when it leaves
                        pipe.xadd(self.keys.jobs, job)  # type: ignore[arg-type]
                    entries = await pipe.execute()
            except TRANSIENT as error:
                self.unsent.extendleft(reversed(batch))
                await self._recover(generation, error)
                continue
            self.stats.round_trips += 1
            for key, entry in zip(batch, entries, strict=True):
                pending = self.pending.get(key)
                if pending is None:
                    continue
                self.stats.bytes_out += len(key) + len(pending.text)
                pending.entry = entry

    async def _read_forever(self) -> None:
        """Take the workers' answers from the results stream, and trim what has been read."""
        while not self._closing:
            generation = self._generation
            try:
                reply: Any = await self.redis.xread(
                    {self.keys.results: self._last_result}, count=1000, block=1000
                )
                self.stats.round_trips += 1
                if not reply:
                    continue
                for _, entries in reply:
                    for entry, fields in entries:
                        self._last_result = entry
                        self._take(fields)
            except TRANSIENT as error:
                await self._recover(generation, error)

    def _take(self, fields: dict[bytes, bytes]) -> None:
        """Take one message of the results stream: a request sent, or a request's outcome."""
        key = fields.get(b"k", b"").decode("utf-8", "replace")
        pending = self.pending.get(key)
        self.stats.bytes_in += sum(len(name) + len(value) for name, value in fields.items())
        if pending is None:
            if b"o" in fields:
                self.stats.answers_twice += 1  # answered already, or given up: the first counts
            return
        if b"s" in fields:
            if pending.sent is not None:
                pending.sent()
                pending.sent = None  # once: a request handed out again may say it twice
            return
        try:
            outcome = codec.decode_outcome(fields[b"o"])
        except (codec.Undecodable, KeyError) as error:
            outcome = FetchFailure(ErrorKind.OTHER, 0.0, None, f"a worker's answer: {error}")
        if not pending.answer.done():
            pending.answer.set_result(outcome)

    async def _heartbeat_forever(self) -> None:
        """Keep the coordinator's key; trim the jobs stream below the oldest request in flight,
        and the results stream below the last answer read (here, not after every read: a
        round trip of redis-py costs more than a second's answers take to keep)."""
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HEARTBEAT_SECONDS):
                    await self._closed.wait()
            if self._closing:
                return
            generation = self._generation
            try:
                kept = await self.heartbeat_script(
                    keys=[self.keys.coordinator],
                    args=[self.token, int(COORDINATOR_TTL * 1000)],
                )
                if not kept and not await self.redis.set(
                    self.keys.coordinator, self.token, nx=True, px=int(COORDINATOR_TTL * 1000)
                ):
                    self._fail(
                        f"another crawl took over the crawl id {self.crawl_id!r} on the broker"
                    )
                    return
                oldest = min(
                    (p.entry for p in self.pending.values() if p.entry is not None),
                    key=_entry_order,
                    default=None,
                )
                async with self.redis.pipeline(transaction=False) as pipe:
                    if oldest is not None:
                        pipe.xtrim(self.keys.jobs, minid=oldest)
                    pipe.xtrim(self.keys.results, minid=self._last_result)
                    for key in (self.keys.options, self.keys.jobs, self.keys.results):
                        pipe.expire(key, int(ABANDONED_SECONDS))
                    await pipe.execute()
                self.stats.round_trips += 2
            except TRANSIENT as error:
                await self._recover(generation, error)

    async def _recover(self, generation: int, error: BaseException) -> None:
        """Wait for the broker to come back; then hand out again every request in flight."""
        async with self._recovering:
            if self._closing:
                return
            if generation != self._generation:
                return  # another task saw the same outage and has recovered from it
            self.stats.outages += 1
            LOG.warning("lost the broker at %s (%s); reconnecting", self.shown_url, error)
            give_up = time.monotonic() + BROKER_PATIENCE
            wait = 0.1
            while not self._closing:
                try:
                    await self.redis.ping()
                    await self._prepare()
                    break
                except RETRIED_WHILE_RECOVERING as still:  # LOADING: still reading its AOF
                    if time.monotonic() > give_up:
                        self._fail(
                            f"the broker at {self.shown_url} was out of reach for"
                            f" {BROKER_PATIENCE:.0f}s ({still})"
                        )
                        return
                    await asyncio.sleep(wait)
                    wait = min(wait * 2, 2.0)
            again = [key for key, p in self.pending.items() if not p.answer.done()]
            self.stats.handed_out_again += len(again)
            self.unsent.extend(again)
            self._generation += 1
            self._wake_sender.set()
            LOG.warning("the broker is back: %d requests in flight handed out again", len(again))

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        """A task that ends before the crawl does leaves it unable to go on: stop, saying why."""
        if self._closing or task.cancelled():
            return
        error = task.exception()
        self._fail(f"the broker at {self.shown_url} answered what cannot be handled: {error}")

    def _fail(self, problem: str) -> None:
        """Stop the crawl: no request can be performed any more."""
        self._failure = CrawlAborted(problem)
        for pending in self.pending.values():
            if not pending.answer.done():
                pending.answer.set_exception(self._failure)


def _default_crawl_id(state: str | None) -> str:
    """Return a crawl's id: the same for every run of a crawl kept in one state file (so its
    workers see a resumed crawl as the crawl they served), a new one for a crawl without."""
    if state is None:
        return secrets.token_hex(4)
    where = f"{socket.gethostname()}:{os.path.abspath(state)}"
    return hashlib.sha256(where.encode()).hexdigest()[:8]


def _entry_order(entry: bytes) -> tuple[int, int]:
    milliseconds, _, sequence = entry.partition(b"-")
    return int(milliseconds), int(sequence or 0)


class BrokerStrategy:
    """One core deciding here; workers anywhere fetching and parsing, through Redis."""

    def run(self, core: CrawlCore, settings: CrawlSettings, context: RunContext) -> None:
        run_on_loop(_crawl(core, settings, context), settings.loop)


async def _crawl(core: CrawlCore, settings: CrawlSettings, context: RunContext) -> None:
    dispatch = Dispatch(settings)
    await dispatch.start()
    sink = AsyncJsonlSink(context.output, context.before_write, context.on_records)
    await sink.open()
    try:
        await drive(core, settings, context, sink, dispatch.perform)
    finally:
        await dispatch.close()
        await sink.close()


__all__ = ["BrokerStrategy", "Dispatch", "FleetStats"]
