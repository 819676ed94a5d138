"""`sync`: one `requests.Session`, one request at a time, parsing inline. The baseline.

The simplest possible driver of the core: ask, fetch, parse, report, repeat; sleep when the core
says to wait (a per-host delay, a retry's backoff). `--concurrency` does not apply: there is only
ever one request in flight.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from concurrent.futures import Executor

import requests

from crawler.core.engine import CrawlCore
from crawler.core.messages import (
    Done,
    FetchFailure,
    FetchRequest,
    FetchResponse,
    should_analyze,
)
from crawler.core.records import ErrorKind
from crawler.http.deadlines import WATCHDOG, InFlight
from crawler.http.requests_client import fetch, new_session
from crawler.output import JsonlSink
from crawler.page import page_job
from crawler.settings import CrawlSettings
from crawler.strategies import RunContext
from crawler.strategies.stopping import GraceExpired, StopRequests

# Longest single sleep, so a stop request is noticed promptly.
POLL_SECONDS = 0.05


class SyncStrategy:
    """One request at a time."""

    def run(self, core: CrawlCore, settings: CrawlSettings, context: RunContext) -> None:
        sink = JsonlSink(context.output, context.before_write)
        try:
            with (
                WATCHDOG.in_use(),
                StopRequests(context, settings.grace, lambda: core.in_flight) as stop,
                new_session(settings) as session,
            ):
                while True:
                    stop.poll(time.monotonic(), core.in_flight)
                    if stop.requested:
                        core.stop()
                    step = core.next_request(time.monotonic())
                    if isinstance(step, FetchRequest):
                        core.sent(step, time.monotonic())
                        try:
                            with stop.interruptible():
                                outcome = fetch_and_analyze(session, step, settings)
                        except GraceExpired:
                            outcome = FetchFailure(ErrorKind.INTERRUPTED, 0.0)
                        core.complete(step, outcome, time.monotonic())
                        sink.add(core.take_records())
                        continue
                    # Deciding may have finished records without a request (robots exclusions).
                    sink.add(core.take_records())
                    if isinstance(step, Done):
                        break
                    time.sleep(min(step.seconds, POLL_SECONDS))
        finally:
            sink.close()


def fetch_and_analyze(
    session: requests.Session,
    request: FetchRequest,
    settings: CrawlSettings,
    on_start: Callable[[InFlight], None] | None = None,
    parsers: Executor | None = None,
) -> FetchResponse | FetchFailure:
    """Fetch with requests and, if it is a page, parse it: right here (under the GIL), or on
    one of `parsers`, waiting for it."""
    outcome = fetch(session, request, settings, on_start)
    if isinstance(outcome, FetchResponse) and should_analyze(request, outcome):
        parse = page_job(settings, outcome.body, request.url, outcome.content_type)
        page = parse() if parsers is None else parsers.submit(parse).result()
        outcome = dataclasses.replace(outcome, body=b"", page=page)
    return outcome
