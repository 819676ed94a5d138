"""`async`: coroutines on one event loop (uvloop by default), aiohttp for HTTP, parsing inline.

The core is told `time.monotonic()`, not `loop.time()`: uvloop's clock is libuv's, cached per loop
iteration at millisecond resolution, which is too coarse for per-host delays.

The driver is one loop: ask the core for a request, start a task for it, and when the core has
nothing to start, sleep until a task finishes or the core's next deadline. Every task runs on the
loop's thread, so the core needs no lock; parsing runs inline too, so CPU work holds up the loop
(`--analysis-in thread` moves it to a thread beside the loop). A heartbeat measures how long: it
asks to wake every `HEARTBEAT_SECONDS`, and how late it wakes is the loop's lag, in the summary.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib
import math
import threading
import time
from collections.abc import Awaitable, Callable

import aiohttp

from crawler.core.engine import CrawlCore
from crawler.core.messages import (
    Done,
    FetchFailure,
    FetchRequest,
    FetchResponse,
    PageAnalysis,
)
from crawler.core.records import ErrorKind
from crawler.http.aiohttp_client import fetch, new_session
from crawler.http.exchange import Capture
from crawler.http.proxies import Routes
from crawler.output.aborts import CrawlAborted
from crawler.output.jsonl import AsyncJsonlSink
from crawler.pages.analysis import PageJob, page_job_for, with_page
from crawler.pages.page_options import PageOptions
from crawler.settings import AnalysisPlace, CrawlSettings, EventLoop
from crawler.stopping.signals import handled_on_loop
from crawler.strategies.context import RunContext

# Runs a page's parse somewhere (inline on the loop, or in a process pool) and gives its result.
Analyzer = Callable[[PageJob], Awaitable[PageAnalysis]]
Outcome = FetchResponse | FetchFailure
# Called when a request has actually gone out (its head written to the socket).
OnSent = Callable[[], None]
# Performs one request wherever it likes (here, another process, another machine), calling
# `sent()` when it actually leaves (None: the core does not wait for it, no delay applies, so
# nothing need be reported), and gives its outcome, the page analysed; never raises but for
# cancellation, or `CrawlAborted` when no request can be performed any more (a broker lost for
# good), which stops the crawl at once with the records kept so far.
Performer = Callable[[FetchRequest, OnSent | None], Awaitable[Outcome]]
# How often the heartbeat asks to wake: often enough to see a page's analysis (milliseconds)
# hold the loop up, seldom enough to cost nothing measurable (a timer a hundred times a second).
HEARTBEAT_SECONDS = 0.01


def run_on_loop(main: Awaitable[None], loop_kind: EventLoop) -> None:
    """Run a coroutine on a fresh event loop of the chosen kind."""
    factory = None
    if loop_kind is EventLoop.UVLOOP:
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main)  # type: ignore[arg-type]


class AsyncStrategy:
    """Coroutines on one event loop, parsing inline (or on one thread beside it)."""

    def run(self, core: CrawlCore, settings: CrawlSettings, context: RunContext) -> None:
        if settings.analysis_in is AnalysisPlace.LOOP:
            run_on_loop(crawl(core, settings, context), settings.loop)
            return
        # One thread: under the GIL more would not analyse faster, only take turns.
        with concurrent.futures.ThreadPoolExecutor(1, "analysis") as thread:

            async def on_thread(job: PageJob) -> PageAnalysis:
                return await asyncio.get_running_loop().run_in_executor(thread, job)

            run_on_loop(crawl(core, settings, context, on_thread), settings.loop)


async def crawl(
    core: CrawlCore,
    settings: CrawlSettings,
    context: RunContext,
    analyzer: Analyzer | None = None,
) -> None:
    """Drive `core` to the end on the running loop, writing records to `context.output`."""
    importing = None if analyzer else _import_meanwhile("crawler.pages.parse")
    sink = AsyncJsonlSink(context.output, context.before_write, context.on_records)
    await sink.open()
    try:
        proxies = settings.http_options.proxies
        async with new_session(settings.http_options) as session:

            async def perform(request: FetchRequest, sent: OnSent | None) -> Outcome:
                return await fetch_and_analyse(
                    session,
                    request,
                    settings.page_options,
                    analyzer or _inline,
                    sent,
                    proxies,
                    context.capture,
                )

            await drive(core, settings, context, sink, perform)
    finally:
        await sink.close()
        if importing is not None:
            importing.join()


def _import_meanwhile(module: str) -> threading.Thread:
    """Import `module` on a thread while the crawl starts.

    The page analysis (numpy, lexbor) takes a tenth of a second to import, and the loop spends the
    first round trips (robots.txt, then the seeds) waiting: imported meanwhile, it is ready when
    the first page arrives. A failure is left for the loop's own import to raise.
    """

    def load() -> None:
        with contextlib.suppress(Exception):
            importlib.import_module(module)

    thread = threading.Thread(target=load, name=f"import {module}")
    thread.start()
    return thread


async def drive(
    core: CrawlCore,
    settings: CrawlSettings,
    context: RunContext,
    sink: AsyncJsonlSink,
    perform: Performer,
) -> None:
    """Drive `core` to the end on the running loop, each request performed by `perform`."""
    await AsyncDriver(core, settings, sink, context, perform).run()


async def fetch_and_analyse(
    session: aiohttp.ClientSession,
    request: FetchRequest,
    page_options: PageOptions,
    analyze: Analyzer,
    on_sent: OnSent | None = None,
    proxies: Routes = (),
    capture: Capture | None = None,
) -> Outcome:
    """Fetch one request and, if it is a page, analyse it; never raises but for cancellation.

    A bug or a broken process pool costs one record (`other`), never a crawl that waits forever.
    `on_sent` is called once the request has gone out; `capture`, if given, is handed the
    exchange (see `crawler.http.exchange`).
    """
    try:
        outcome = await fetch(session, request, on_sent, proxies, capture)
        job = page_job_for(page_options, request, outcome)
        if job is not None:
            assert isinstance(outcome, FetchResponse)
            outcome = with_page(outcome, await analyze(job))
        return outcome
    except Exception as error:
        return FetchFailure(ErrorKind.OTHER, 0.0, None, f"{type(error).__name__}: {error}"[:200])


async def _inline(job: PageJob) -> PageAnalysis:
    """Parse on the loop's thread: CPU work holds up the loop while it runs."""
    return job()


class AsyncDriver:
    """Feeds the core's requests to tasks and the tasks' outcomes back to the core."""

    def __init__(
        self,
        core: CrawlCore,
        settings: CrawlSettings,
        sink: AsyncJsonlSink,
        context: RunContext,
        perform: Performer,
    ) -> None:
        self.core = core
        self.settings = settings
        self.stop = context.stop_for(settings.grace)
        self.sink = sink
        self.context = context
        self.perform = perform
        self.loop = asyncio.get_running_loop()
        self.tasks: set[asyncio.Task[None]] = set()
        self.wake = asyncio.Event()
        self.flushing: asyncio.Task[None] | None = None
        self.failure: CrawlAborted | None = None

    async def run(self) -> None:
        """Crawl until the core says it is done, a stop's grace period runs out, or the output
        (or the state file behind it) refuses a write."""
        heartbeat = self.loop.create_task(self._heartbeat())
        try:
            await self._drive()
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)

    async def _drive(self) -> None:
        """Ask the core for requests and start them until it is done or the crawl must stop."""
        with handled_on_loop(self.loop, self._on_signal, self.context.stop_signals):
            while self.failure is None:
                now = time.monotonic()
                self.stop.tick(now, self.core.in_flight)
                if self.stop.stopping:  # a signal, the time limit, or asked before the loop ran
                    self.core.stop()
                step = self.core.next_request(now)
                if isinstance(step, FetchRequest):
                    task = self.loop.create_task(self._perform(step))
                    self.tasks.add(task)
                    task.add_done_callback(self.tasks.discard)
                    continue
                # Deciding may have finished records without a request (URLs robots.txt excludes).
                self._collect()
                if isinstance(step, Done):
                    break
                await self._sleep(step.seconds)
            if self.flushing is not None:
                await self.flushing
        if self.failure is not None:
            await self._cancel_in_flight()
            raise self.failure
        await self.sink.flush()

    async def _heartbeat(self) -> None:
        """Wake every `HEARTBEAT_SECONDS` and count how late each wake-up came."""
        while True:
            due = time.monotonic() + HEARTBEAT_SECONDS
            await asyncio.sleep(HEARTBEAT_SECONDS)
            self.core.stats.loop_lag(max(time.monotonic() - due, 0.0))

    async def _sleep(self, seconds: float) -> None:
        """Wait until a task completes, `seconds` pass, or the stop control's next deadline (the
        time limit, the end of the grace period); give up the requests in flight if it says so."""
        if self.stop.give_up_now:
            await self._cancel_in_flight()
            self.stop.gave_up()
            return
        deadline = self.stop.next_deadline
        if deadline is not None:
            seconds = min(seconds, max(deadline - time.monotonic(), 0.0))
        self.wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(None if math.isinf(seconds) else seconds):
                await self.wake.wait()

    async def _perform(self, request: FetchRequest) -> None:
        """Have one request performed (and its page parsed), and report to the core."""

        def sent() -> None:
            self.core.sent(request, time.monotonic())
            self.wake.set()

        try:
            outcome = await self.perform(request, sent if self.core.awaits_sent(request) else None)
        except CrawlAborted as error:
            self.core.complete(request, FetchFailure(ErrorKind.INTERRUPTED, 0.0), time.monotonic())
            if self.failure is None:
                self.failure = error
            self.core.stop()
            self.wake.set()
            return
        except asyncio.CancelledError:
            outcome = FetchFailure(ErrorKind.INTERRUPTED, 0.0)
            self._report(request, outcome)
            raise
        self._report(request, outcome)

    def _report(self, request: FetchRequest, outcome: FetchResponse | FetchFailure) -> None:
        self.core.complete(request, outcome, time.monotonic())
        self._collect()
        self.wake.set()

    def _collect(self) -> None:
        """Hand the core's finished records to the sink, and start a write if a block is due."""
        due = self.sink.add(self.core.take_records())
        if due and self.flushing is None and self.failure is None:
            self.flushing = self.loop.create_task(self._flush())

    async def _flush(self) -> None:
        try:
            await self.sink.flush()
        except CrawlAborted as error:
            # Nothing more can be kept: stop now, with no grace for requests in flight.
            self.failure = error
            self.core.stop()
            self.wake.set()
        finally:
            self.flushing = None

    async def _cancel_in_flight(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def _on_signal(self, signum: int) -> None:
        """Forward a stop signal to the stop control, and wake the loop to act on it."""
        self.stop.ask(signum, time.monotonic(), self.core.in_flight)
        self.wake.set()
