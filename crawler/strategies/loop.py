"""`loop`: the crawl on an event loop written from scratch (`crawler.loop`), HTTP by h11.

The teaching strategy: what `async` does with asyncio and aiohttp, done with a page of generator
coroutines, non-blocking sockets and a selector. One task drives the core: it asks for every
request the core will hand out now, starts a task for each, and parks until one completes (or
50 ms pass, to notice a stop). A fetch task performs its request (`H11Client.fetch`), parses the
page inline, reports to the core and wakes the driver. Parsing runs on the loop, as in `async`:
while a page is parsed, no socket is served. `--loop` does not apply: this is its own loop.
"""

from __future__ import annotations

import time
from collections.abc import Generator

from crawler.core.engine import CrawlCore
from crawler.core.messages import Done, FetchFailure, FetchRequest, Wait
from crawler.core.records import ErrorKind
from crawler.http.exchange import Capture
from crawler.http.h11_client import H11Client
from crawler.loop.scheduler import Park, SelectorLoop, Task
from crawler.loop.scheduler import Wait as LoopWait
from crawler.output.jsonl import JsonlSink
from crawler.pages.analysis import analysed
from crawler.settings import CrawlSettings
from crawler.stopping.blocking import POLL_SECONDS, StopRequests
from crawler.strategies.context import RunContext


class LoopStrategy:
    """Coroutines as generators on a selector loop."""

    def run(self, core: CrawlCore, settings: CrawlSettings, context: RunContext) -> None:
        sink = JsonlSink(context.output, context.before_write, context.on_records)
        loop = SelectorLoop()
        try:
            with StopRequests(
                context.stop_for(settings.grace),
                context.signals_to_handle,
                lambda: core.in_flight,
            ) as stop:
                loop.run(_Driver(core, settings, loop, sink, stop, context.capture).drive())
        finally:
            loop.close()
            sink.close()


class _Driver:
    """The crawl's tasks on one loop: the task that drives the core, and one per request out."""

    def __init__(
        self,
        core: CrawlCore,
        settings: CrawlSettings,
        loop: SelectorLoop,
        sink: JsonlSink,
        stop: StopRequests,
        capture: Capture | None = None,
    ) -> None:
        self.core = core
        self.settings = settings
        self.loop = loop
        self.sink = sink
        self.stop = stop
        self.client = H11Client(settings.http_options, capture)
        self.out: dict[FetchRequest, Task] = {}
        self.driver: Task | None = None

    def drive(self) -> Generator[LoopWait, None, None]:
        """Hand out every request the core allows, then park until something changes."""
        core, stop = self.core, self.stop
        self.driver = self.loop.current
        while True:
            stop.poll(time.monotonic(), core.in_flight)
            if stop.requested:
                core.stop()
            if stop.give_up_now:
                self._give_up()
                stop.gave_up()
            step = core.next_request(time.monotonic())
            while isinstance(step, FetchRequest):
                self.out[step] = self.loop.spawn(self._fetch(step), step.url)
                step = core.next_request(time.monotonic())
            self.sink.add(core.take_records())
            if isinstance(step, Done):
                return
            pause = min(step.seconds, POLL_SECONDS) if isinstance(step, Wait) else POLL_SECONDS
            yield Park(time.monotonic() + pause)

    def _fetch(self, request: FetchRequest) -> Generator[LoopWait, None, None]:
        fetched = yield from self.client.fetch(request, lambda: self._sent(request))
        outcome = analysed(self.settings.page_options, request, fetched)
        del self.out[request]
        self.core.complete(request, outcome, time.monotonic())
        self.sink.add(self.core.take_records())
        self._wake_driver()

    def _sent(self, request: FetchRequest) -> None:
        self.core.sent(request, time.monotonic())
        self._wake_driver()  # with a delay in force, the origin's next request waited for this

    def _wake_driver(self) -> None:
        if self.driver is not None:
            self.loop.wake(self.driver)

    def _give_up(self) -> None:
        """End a stop's grace period: what is still out is recorded as interrupted, and its
        task stopped where it waits (closing its socket)."""
        for request, task in list(self.out.items()):
            self.loop.cancel(task)
            del self.out[request]
            self.core.complete(request, FetchFailure(ErrorKind.INTERRUPTED, 0.0), time.monotonic())
