"""`async-procs`: aiohttp fetching on the event loop, parsing in a pool of processes.

The same driver as `async`, with one change: each page's analysis (parsing, link resolution,
fingerprint) runs in a `ProcessPoolExecutor`, so CPU work uses every core while the event loop
keeps fetching. Only the body goes to a worker and only the compact `PageAnalysis` comes back.
The pool starts once, before the crawl, and is shut down on every way out; its workers ignore
SIGINT and SIGTERM, so a Ctrl-C reaches the crawl's own stop logic and nothing else, and exit by
themselves if the crawl is killed outright.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor

from crawler.core.engine import CrawlCore
from crawler.core.messages import PageAnalysis
from crawler.pages.analysis import PageJob
from crawler.settings import CrawlSettings
from crawler.strategies.async_ import Analyzer, crawl, run_on_loop
from crawler.strategies.context import RunContext

PARENT_CHECK_SECONDS = 0.5


def _start_worker(parent: int) -> None:
    """Worker initializer: the crawl process `parent` decides when to stop, and a worker
    outlives it by at most half a second (a crawl killed with SIGKILL cannot shut its pool
    down, and may die before this even runs)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def exit_when_orphaned() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=exit_when_orphaned, name="parent-watch", daemon=True).start()


def _ready() -> None:
    """A no-op job: its result says a worker is up."""


class AsyncProcsStrategy:
    """Coroutines for I/O, processes for CPU."""

    def run(self, core: CrawlCore, settings: CrawlSettings, context: RunContext) -> None:
        workers = settings.process_workers
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(os.getpid(),),
        )
        try:
            # Start every worker now, so the crawl does not pay for process start-up mid-way.
            for future in [pool.submit(_ready) for _ in range(workers)]:
                future.result()
            run_on_loop(crawl(core, settings, context, _pool_analyzer(pool)), settings.loop)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _pool_analyzer(pool: ProcessPoolExecutor) -> Analyzer:
    """Parse in one of the pool's processes: the loop only waits for the result."""

    async def analyze(job: PageJob) -> PageAnalysis:
        return await asyncio.get_running_loop().run_in_executor(pool, job)

    return analyze
