"""`sync`: one `requests.Session`, one request at a time, parsing inline. The baseline.

The simplest possible driver of the core: ask, fetch, parse, report, repeat; sleep when the core
says to wait (a per-host delay, a retry's backoff). `--concurrency` does not apply: there is only
ever one request in flight.
"""

from __future__ import annotations

import time

from crawler.core.engine import CrawlCore
from crawler.core.messages import (
    Done,
    FetchFailure,
    FetchRequest,
)
from crawler.core.records import ErrorKind
from crawler.http.deadlines import WATCHDOG
from crawler.http.requests_client import fetch, new_session
from crawler.output.jsonl import JsonlSink
from crawler.pages.analysis import analysed
from crawler.settings import CrawlSettings
from crawler.stopping.blocking import POLL_SECONDS, GraceExpired, StopRequests
from crawler.strategies.context import RunContext


class SyncStrategy:
    """One request at a time."""

    def run(self, core: CrawlCore, settings: CrawlSettings, context: RunContext) -> None:
        sink = JsonlSink(context.output, context.before_write, context.on_records)
        try:
            with (
                WATCHDOG.in_use(),
                StopRequests(
                    context.stop_for(settings.grace),
                    context.signals_to_handle,
                    lambda: core.in_flight,
                ) as stop,
                new_session(settings.http_options) as session,
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
                                fetched = fetch(
                                    session, step, settings.http_options, capture=context.capture
                                )
                                outcome = analysed(settings.page_options, step, fetched)
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
