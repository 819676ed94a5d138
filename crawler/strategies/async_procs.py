"""`async-procs`: aiohttp fetching on the event loop, parsing in a pool of processes.

The same driver as `async`, with one change: each page's analysis (parsing, link resolution,
fingerprint) runs in a `ProcessPoolExecutor`, so CPU work uses every core while the event loop
keeps fetching. Only the body goes to a worker and only the compact `PageAnalysis` comes back.
The pool starts once, before the crawl, and is shut down on every way out; its workers ignore
SIGINT and SIGTERM, so a Ctrl-C reaches the crawl's own stop logic and nothing else.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
from concurrent.futures import ProcessPoolExecutor
from functools import partial

from crawler.core.engine import CrawlCore
from crawler.core.messages import PageAnalysis
from crawler.page import analyze_page
from crawler.strategies import RunContext
from crawler.strategies.async_ import Analyzer, crawl, run_on_loop


def _ignore_stop_signals() -> None:
    """Worker initializer: the parent process decides when to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


class AsyncProcsStrategy:
    """Coroutines for I/O, processes for CPU."""

    def run(self, core: CrawlCore, context: RunContext) -> None:
        workers = core.settings.process_workers
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_ignore_stop_signals,
        )
        try:
            # Start every worker now, so the crawl does not pay for process start-up mid-way.
            for future in [pool.submit(_ignore_stop_signals) for _ in range(workers)]:
                future.result()
            run_on_loop(crawl(core, context, _pool_analyzer(core, pool)), core.settings.loop)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _pool_analyzer(core: CrawlCore, pool: ProcessPoolExecutor) -> Analyzer:
    settings = core.settings

    async def analyze(body: bytes, url: str, content_type: str | None) -> PageAnalysis:
        job = partial(
            analyze_page, body, url, content_type, settings.max_url_length, settings.analysis_cost
        )
        return await asyncio.get_running_loop().run_in_executor(pool, job)

    return analyze
