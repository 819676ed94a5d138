"""A worker of the fleet: takes requests from every crawl on a Redis, fetches and parses them.

A worker decides nothing and keeps nothing that matters: the crawl's coordinator chose each
request and its moment, and Redis holds the request until this worker's answer is in. What a
worker holds is a lease (its entry pending in the consumer group), renewed while it works; a
worker killed or frozen loses its leases to the others, and a frozen one's late answers are
refused (`keys.COMPLETE`). So workers can be started, killed and started again anywhere, at any
time: `crawler worker redis://HOST:PORT/DB` on each machine, as many as its cores.

A worker serves the crawls it finds in `crawler:crawls`, waits (up to `--wait`) for one when
there is none, waits for a crawl whose coordinator crashed to be resumed, and leaves once every
crawl it served has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import logging
import os
import socket
import time
from typing import TYPE_CHECKING, Any

import aiohttp
from redis.exceptions import NoScriptError, ResponseError

from crawler.core.messages import FetchFailure, FetchRequest, PageAnalysis, RequestKind
from crawler.core.records import ErrorKind
from crawler.http.aiohttp_client import new_session
from crawler.pages.analysis import PageJob
from crawler.settings import EventLoop, redacted_url
from crawler.stopping.signals import STOP_SIGNALS
from crawler.strategies.async_ import Outcome, fetch_and_analyse, run_on_loop
from crawler.strategies.fleet import codec, keys
from crawler.strategies.fleet.connection import BLOCK_MILLISECONDS, TRANSIENT, connect
from crawler.strategies.worker_processes import start_worker

if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from redis.commands.core import AsyncScript

LOG = logging.getLogger("crawler.worker")

# A request handed out this often (its workers lost each time) is given up as `local`: it is
# what kills them, and it must not kill the whole fleet.
MAX_DELIVERIES = 3
REFRESH_SECONDS = 0.5  # how often the registry is read: a new crawl, an ended one
READ_AT_MOST = 100  # requests taken per read, so several workers share a burst
GRACE_SECONDS = 5.0  # after a stop signal, time given to the requests in hand
# How long a crawl's coordinator may be missing before a crawl that cannot be resumed is taken
# for dead (its key expires 3 s after its last heartbeat; Redis restarting takes a moment).
ABSENT_SECONDS = 15.0


@dataclasses.dataclass(eq=False)
class _Served:
    """A crawl this worker serves."""

    keys: keys.CrawlKeys
    options_text: bytes
    options: codec.CrawlOptions
    session: aiohttp.ClientSession
    tasks: dict[bytes, asyncio.Task[None]] = dataclasses.field(default_factory=dict)
    last_renewal: float = 0.0
    last_claim: float = 0.0


@dataclasses.dataclass
class WorkerStats:
    """What this worker did, for its last log line."""

    answered: int = 0
    refused: int = 0  # answers Redis refused: the lease had passed to another worker
    claimed: int = 0
    dropped: int = 0  # requests stopped half-way: their lease had passed to another worker
    given_up: int = 0


class Worker:
    """One worker process's loop, over every crawl it serves."""

    def __init__(self, url: str, only: str | None = None, wait: float = 600.0) -> None:
        self.url = url
        self.shown_url = redacted_url(url)
        self.only = only
        self.wait = wait
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"
        self.redis: aioredis.Redis = connect(url)
        self.complete: AsyncScript = self.redis.register_script(keys.COMPLETE)
        self.renew: AsyncScript = self.redis.register_script(keys.RENEW)
        self.claim: AsyncScript = self.redis.register_script(keys.CLAIM)
        self.served: dict[str, _Served] = {}
        self.joined: set[str] = set()
        self.stats = WorkerStats()
        self.stopping = False
        self._answers: list[tuple[_Served, bytes, bytes, str]] = []
        self._notices: list[tuple[_Served, bytes]] = []
        self._answer_ready = asyncio.Event()
        self._room = asyncio.Event()
        self._last_refresh = -float("inf")
        self._idle_since: float | None = time.monotonic()
        self._absent_since: dict[str, float] = {}  # crawl id: when its coordinator was missed

    @property
    def in_hand(self) -> int:
        return sum(len(served.tasks) for served in self.served.values())

    @property
    def capacity(self) -> int:
        return max((s.options.http.max_connections for s in self.served.values()), default=0)

    async def run(self) -> None:
        """Serve until every crawl joined has ended (or none came within `wait`), or a stop."""
        answering = asyncio.get_running_loop().create_task(self._answer_forever())
        outage: BaseException | None = None
        try:
            while not self.stopping:
                try:
                    if not await self._step():
                        break
                    if outage is not None:
                        LOG.warning("worker %s: the broker is back", self.consumer)
                        outage = None
                except TRANSIENT as error:
                    if outage is None:
                        LOG.warning(
                            "worker %s: lost the broker at %s (%s); reconnecting",
                            self.consumer,
                            self.shown_url,
                            error,
                        )
                    outage = error
                    await asyncio.sleep(0.5)
                except ResponseError as error:
                    if not str(error).startswith(("NOGROUP", "UNBLOCKED", "LOADING")):
                        raise
                    self._last_refresh = -float("inf")  # a crawl restarted: read it again
                    await asyncio.sleep(0.1)
            await self._finish_in_hand()
        finally:
            answering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await answering
            for served in list(self.served.values()):
                await self._drop(served)
            with contextlib.suppress(*TRANSIENT):
                await self.redis.aclose()
        LOG.info(
            "worker %s: %d answered, %d taken over from others, %d refused as late,"
            " %d dropped (their lease had passed on), %d given up",
            self.consumer,
            self.stats.answered,
            self.stats.claimed,
            self.stats.refused,
            self.stats.dropped,
            self.stats.given_up,
        )

    async def _step(self) -> bool:
        """Do one round: refresh the crawls, take requests, renew and claim leases. Return False
        when there is nothing left to serve."""
        now = time.monotonic()
        if now - self._last_refresh >= REFRESH_SECONDS:
            self._last_refresh = now
            if not await self._refresh(now):
                return False
        if not self.served:
            await asyncio.sleep(REFRESH_SECONDS)
            return True
        await self._keep_leases(now)
        room = min(self.capacity - self.in_hand, READ_AT_MOST)
        if room <= 0:
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REFRESH_SECONDS):
                    await self._room.wait()
            return True
        streams: dict[Any, Any] = {served.keys.jobs: ">" for served in self.served.values()}
        reply: Any = await self.redis.xreadgroup(
            keys.GROUP, self.consumer, streams, count=room, block=BLOCK_MILLISECONDS
        )
        by_jobs = {served.keys.jobs.encode(): served for served in self.served.values()}
        for stream, entries in reply or ():
            served = by_jobs.get(stream)
            if served is None:
                continue
            for entry, fields in entries:
                self._start(served, entry, fields, deliveries=1)
        return True

    async def _refresh(self, now: float) -> bool:
        """Read which crawls there are; join new ones, drop ended ones. Return False when this
        worker should leave."""
        members: Any = await self.redis.smembers(keys.REGISTRY)
        crawl_ids = {member.decode() for member in members}
        if self.only is not None:
            crawl_ids &= {self.only}
        alive = 0
        awaited = set()  # crawls served whose coordinator may come back (--resume)
        for crawl_id in sorted(crawl_ids):
            crawl_keys = keys.CrawlKeys(crawl_id)
            found: Any = await self.redis.mget(crawl_keys.options, crawl_keys.coordinator)
            options_text, coordinator = found
            alive += coordinator is not None
            if coordinator is not None:
                self._absent_since.pop(crawl_id, None)
            absent = now - self._absent_since.setdefault(crawl_id, now)
            # A coordinator's key lapses for a moment when Redis restarts slowly; a crawl kept
            # in a state file may be resumed: either way, it is waited for.
            if absent < ABSENT_SECONDS or (options_text and b'"resumable": true' in options_text):
                awaited.add(crawl_id)
            served = self.served.get(crawl_id)
            if served is not None and served.options_text != options_text:
                await self._drop(served)  # ended, or a new run of it began
                served = None
            if served is None and options_text is not None:
                await self._join(crawl_keys, options_text)
        for crawl_id in set(self.served) - crawl_ids:
            await self._drop(self.served[crawl_id])
        if alive:
            self._idle_since = None
            return True
        if self.joined and not self.joined & awaited:
            return False  # every crawl it served has ended (or died, not to be resumed)
        if self._idle_since is None:
            self._idle_since = now
        if now - self._idle_since > self.wait:
            LOG.warning("worker %s: no crawl to serve for %.0fs; leaving", self.consumer, self.wait)
            return False
        return True

    async def _join(self, crawl_keys: keys.CrawlKeys, options_text: bytes) -> None:
        _, _, text = options_text.partition(b"\n")
        try:
            options = codec.decode_options(text)
        except codec.Undecodable as error:
            LOG.warning("crawl %s: cannot serve it: %s", crawl_keys.crawl_id, error)
            return
        session = new_session(options.http)
        self.served[crawl_keys.crawl_id] = _Served(crawl_keys, options_text, options, session)
        if crawl_keys.crawl_id not in self.joined:
            self.joined.add(crawl_keys.crawl_id)
            LOG.info("worker %s: serving crawl %s", self.consumer, crawl_keys.crawl_id)

    async def _drop(self, served: _Served) -> None:
        self.served.pop(served.keys.crawl_id, None)
        for task in served.tasks.values():
            task.cancel()
        await asyncio.gather(*served.tasks.values(), return_exceptions=True)
        await served.session.close()

    async def _keep_leases(self, now: float) -> None:
        """Renew the leases in hand (dropping work whose lease has passed to another), and take
        over requests whose lease ran out."""
        for served in list(self.served.values()):
            lease = served.options.lease
            if served.tasks and now - served.last_renewal >= lease / 3:
                served.last_renewal = now
                lost = await self.renew(
                    keys=[served.keys.jobs], args=[keys.GROUP, self.consumer, *served.tasks]
                )
                for entry in lost:
                    task = served.tasks.pop(entry, None)
                    if task is not None:
                        self.stats.dropped += 1
                        task.cancel()
            room = self.capacity - self.in_hand
            if room > 0 and now - served.last_claim >= min(lease / 2, 1.0):
                served.last_claim = now
                taken = await self.claim(
                    keys=[served.keys.jobs],
                    args=[keys.GROUP, self.consumer, int(lease * 1000), room],
                )
                for entry, flat, deliveries in taken:
                    fields = dict(zip(flat[::2], flat[1::2], strict=True))
                    self.stats.claimed += 1
                    self._start(served, entry, fields, int(deliveries))

    def _start(
        self, served: _Served, entry: bytes, fields: dict[bytes, bytes], deliveries: int
    ) -> None:
        if entry in served.tasks:
            return
        task = asyncio.get_running_loop().create_task(
            self._perform(served, entry, fields, deliveries)
        )
        served.tasks[entry] = task

    async def _perform(
        self, served: _Served, entry: bytes, fields: dict[bytes, bytes], deliveries: int
    ) -> None:
        """Perform one request and queue its answer; a request that cannot be read, or that
        lost its workers too often, is answered with the failure that says so."""
        key = fields.get(b"k", b"")
        outcome: Outcome
        try:
            request = codec.decode_request(fields[b"r"])
        except (codec.Undecodable, KeyError) as error:
            request = FetchRequest("", RequestKind.PAGE, 0, 0, 0)
            outcome = FetchFailure(ErrorKind.OTHER, 0.0, None, f"unreadable request: {error}")
        else:
            if deliveries > MAX_DELIVERIES:
                self.stats.given_up += 1
                outcome = FetchFailure(
                    ErrorKind.LOCAL, 0.0, None, f"it lost its worker {deliveries - 1} times"
                )
            else:

                def sent() -> None:
                    self._notices.append((served, key))
                    self._answer_ready.set()

                try:
                    outcome = await fetch_and_analyse(
                        served.session,
                        request,
                        served.options.page,
                        _analyse,
                        sent if b"s" in fields else None,  # its origin waits to hear it left
                        served.options.http.proxies,
                    )
                except asyncio.CancelledError:
                    served.tasks.pop(entry, None)
                    self._room.set()
                    raise
        self._answers.append((served, entry, key, codec.encode_outcome(request, outcome)))
        self._answer_ready.set()

    async def _answer_forever(self) -> None:
        """Send the answers (and "sent" notices) waiting, as many per round trip as there are."""
        while True:
            await self._answer_ready.wait()
            self._answer_ready.clear()
            answers, self._answers = self._answers, []
            notices, self._notices = self._notices, []
            while True:
                try:
                    async with self.redis.pipeline(transaction=False) as pipe:
                        for served, key in notices:
                            pipe.xadd(served.keys.results, {"k": key, "s": b"1"})
                        for served, entry, key, text in answers:
                            pipe.evalsha(
                                self.complete.sha,
                                2,
                                served.keys.jobs,
                                served.keys.results,
                                keys.GROUP,
                                entry,
                                self.consumer,
                                key,
                                text,
                            )
                        replies = await pipe.execute()
                    break
                except NoScriptError:  # a Redis restarted: its script cache is empty
                    with contextlib.suppress(*TRANSIENT):
                        await self.redis.script_load(keys.COMPLETE)
                except TRANSIENT:
                    await asyncio.sleep(0.5)  # the answers wait for the broker to come back
                except ResponseError as error:
                    # Not to be retried: the requests are let go (no longer renewed), so their
                    # leases run out and other workers perform them.
                    LOG.warning("worker %s: answers refused: %s", self.consumer, error)
                    replies = [0] * (len(notices) + len(answers))
                    break
            for (served, entry, _, _), taken in zip(answers, replies[len(notices) :], strict=True):
                if taken:
                    self.stats.answered += 1
                else:
                    self.stats.refused += 1
                served.tasks.pop(entry, None)
            self._room.set()

    async def _finish_in_hand(self) -> None:
        """Let the requests in hand finish (within the grace period) and their answers go."""
        deadline = time.monotonic() + GRACE_SECONDS
        while self.in_hand and time.monotonic() < deadline:
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):
                    await self._room.wait()


async def _analyse(job: PageJob) -> PageAnalysis:
    return job()


def serve(url: str, loop: EventLoop, wait: float, parent: int | None = None) -> bool:
    """Run one worker on this process until it leaves, and say whether a stop signal ended it.

    The first stop signal (Ctrl-C, SIGTERM, a hangup) lets the requests in hand finish and
    their answers go, within a few seconds; a second ends it at once. A worker started by
    `crawler worker --processes N` (`parent` given) is in a process group of its own, so the
    terminal's signals reach its parent alone, which passes each on once; it stops as well if
    its parent dies.
    """
    if parent is not None:
        os.setpgid(0, 0)
    importlib.import_module("crawler.pages.parse")  # now, not when the first page arrives
    signalled = False

    async def main() -> None:
        worker = Worker(url, None, wait)
        running = asyncio.get_running_loop()

        def stop() -> None:
            nonlocal signalled
            if worker.stopping:
                os._exit(130)
            signalled = worker.stopping = True

        for signum in STOP_SIGNALS:
            running.add_signal_handler(signum, stop)
        watching = None
        if parent is not None:
            watching = running.create_task(_stop_when_orphaned(worker, parent))
        await worker.run()
        if watching is not None:
            watching.cancel()

    run_on_loop(main(), loop)
    return signalled


async def _stop_when_orphaned(worker: Worker, parent: int) -> None:
    """Stop the worker (its requests in hand finished) once its parent has gone."""
    while os.getppid() == parent:  # noqa: ASYNC110 - no event says a parent died: it is polled
        await asyncio.sleep(0.5)
    worker.stopping = True


def serve_in_group(url: str, loop: EventLoop, wait: float, parent: int) -> None:
    """The target of a `crawler worker --processes N` process: its exit status says whether a
    stop signal ended it."""
    raise SystemExit(130 if serve(url, loop, wait, parent) else 0)


def serve_for_parent(url: str, crawl_id: str, loop: EventLoop, parent: int) -> None:
    """A worker started by a coordinator on its own machine: it serves that crawl only, leaves
    with it, and is deaf to the terminal (the coordinator decides when the crawl stops)."""
    start_worker(parent)
    importlib.import_module("crawler.pages.parse")
    run_on_loop(Worker(url, crawl_id, wait=30.0).run(), loop)


__all__ = ["Worker", "WorkerStats", "serve", "serve_for_parent", "serve_in_group"]
