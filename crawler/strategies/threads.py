"""`threads`: requests in a `ThreadPoolExecutor` of `--concurrency` workers, pages parsed on a
thread per core.

The main thread dispatches: it asks the core for requests and hands them to the pool; each worker
fetches with its own `requests.Session`, has the page parsed on a parser thread, waits for it, and
reports to the core. One lock guards the core and the output; how often threads waited for it,
and for how long, is in the summary (`lock`). Fetching releases the GIL while waiting on sockets,
so threads overlap I/O well; parsing and fingerprinting hold it, so CPU work runs one thread at a
time.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import requests

from crawler.core.engine import CrawlCore
from crawler.core.messages import Done, FetchFailure, FetchRequest, PageAnalysis
from crawler.core.records import ErrorKind
from crawler.http.deadlines import WATCHDOG, CutReason, InFlight
from crawler.http.requests_client import fetch, new_session
from crawler.output.aborts import CrawlAborted
from crawler.output.jsonl import JsonlSink
from crawler.pages.analysis import PageJob, analysed
from crawler.settings import CrawlSettings
from crawler.stopping.blocking import POLL_SECONDS, StopRequests
from crawler.strategies.contention import MeasuredLock
from crawler.strategies.context import RunContext


class ThreadsStrategy:
    """A pool of threads, one request each."""

    def run(self, core: CrawlCore, settings: CrawlSettings, context: RunContext) -> None:
        driver = _ThreadsDriver(core, settings, context)
        try:
            driver.run()
        finally:
            driver.close()


class _ThreadsDriver:
    def __init__(self, core: CrawlCore, settings: CrawlSettings, context: RunContext) -> None:
        self.core = core
        self.context = context
        self.settings = settings
        self.sink = JsonlSink(context.output, context.before_write, context.on_records)
        self.lock = MeasuredLock()
        self.completed = threading.Condition(self.lock)  # type: ignore[arg-type]
        # Requests out, with each one's connection once it is sent (to cut at a grace period's end).
        self.out: dict[FetchRequest, InFlight | None] = {}
        self.sessions: list[requests.Session] = []
        self.local = threading.local()
        self.failure: CrawlAborted | None = None
        # Pages are parsed on a few threads of their own, as many as cores. Parsing holds the
        # GIL, so more would gain nothing, and each parse builds a tree many times its page in
        # the allocator arena of the thread that runs it: parsed on 64 fetching threads, 2 MiB
        # pages of 116,000 links left 1.3 GB behind in the arenas; on 2 parser threads the whole
        # crawl peaks under 400 MiB (tests/test_strategies_memory.py).
        self.parsers = ThreadPoolExecutor(
            max_workers=os.cpu_count() or 1, thread_name_prefix="crawler-parser"
        )

    def run(self) -> None:
        with (
            WATCHDOG.in_use(),  # outlives the pool, whose workers it may have to cut
            StopRequests(
                self.context.stop_for(self.settings.grace),
                self.context.signals_to_handle,
                lambda: len(self.out),
            ) as stop,
            ThreadPoolExecutor(
                max_workers=self.settings.concurrency, thread_name_prefix="crawler-worker"
            ) as pool,
        ):
            while True:
                with self.lock:
                    stop.poll(time.monotonic(), len(self.out))
                    if stop.requested or self.failure is not None:
                        self.core.stop()
                    if stop.give_up_now or self.failure is not None:
                        self._interrupt_out()
                        stop.gave_up()
                    step = self.core.next_request(time.monotonic())
                    while isinstance(step, FetchRequest):
                        self.out[step] = None
                        pool.submit(self._work, step)
                        step = self.core.next_request(time.monotonic())
                    if isinstance(step, Done):
                        break
                    self._collect()
                    self.completed.wait(min(step.seconds, POLL_SECONDS))
            with self.lock:
                self._collect()
        self.core.stats.lock = self.lock.summary()
        if self.failure is not None:
            raise self.failure

    def _collect(self) -> None:
        """Hand the core's finished records to the sink (under the lock); a write the disk or
        the state file refuses stops the crawl, with no grace for requests in flight."""
        if self.failure is not None:
            return
        try:
            self.sink.add(self.core.take_records())
        except CrawlAborted as error:
            self.failure = error
            self.completed.notify()

    def _work(self, request: FetchRequest) -> None:
        session = self._session()
        with self.lock:
            if request not in self.out:
                return  # given up on before a worker was free for it
            self.core.sent(request, time.monotonic())
            self.completed.notify()
        fetched = fetch(
            session,
            request,
            self.settings.http_options,
            self._on_start(request),
            self.context.capture,
        )
        page = self.settings.page_options
        outcome = analysed(page, request, fetched, self._parse_on_a_parser_thread)
        with self.lock:
            if request not in self.out:
                return  # given up on at the end of a stop's grace period
            del self.out[request]
            self.core.complete(request, outcome, time.monotonic())
            self._collect()
            self.completed.notify()

    def _parse_on_a_parser_thread(self, job: PageJob) -> PageAnalysis:
        return self.parsers.submit(job).result()

    def _on_start(self, request: FetchRequest) -> Callable[[InFlight], None]:
        def remember(in_flight: InFlight) -> None:
            with self.lock:
                if request in self.out:
                    self.out[request] = in_flight
                else:
                    in_flight.cut(CutReason.STOPPED)  # given up on as it was being sent

        return remember

    def _interrupt_out(self) -> None:
        """End the stop's grace period: record what is still out as interrupted, and cut each
        one's connection, so a worker blocked on it (even waiting for a status line) returns."""
        for request, in_flight in list(self.out.items()):
            if in_flight is not None:
                in_flight.cut(CutReason.STOPPED)
            del self.out[request]
            self.core.complete(request, FetchFailure(ErrorKind.INTERRUPTED, 0.0), time.monotonic())

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = new_session(self.settings.http_options)
            with self.lock:
                self.sessions.append(session)
        return session

    def close(self) -> None:
        self.parsers.shutdown(wait=True)
        for session in self.sessions:
            session.close()
        self.sink.close()
