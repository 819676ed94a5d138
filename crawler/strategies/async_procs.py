"""`async-procs`: aiohttp fetching on the event loop, parsing in a pool of processes.

The same driver as `async`, with one change: each page's analysis (parsing, link resolution,
fingerprint) runs in a `ProcessPoolExecutor`, so CPU work uses every core while the event loop
keeps fetching. Only the body goes to a worker and only the compact `PageAnalysis` comes back.
The pool starts once, before the crawl, and is shut down on every way out.

The crawl alone decides when to stop. A terminal sends Ctrl-C (and a hangup) to its whole
foreground process group, workers included, so the workers are started with the stop signals
blocked and ignore them before unblocking them: a signal sent while a worker's interpreter starts
up is never its own. They exit by themselves if the crawl is killed outright. A worker lost all
the same (killed, out of memory) breaks its pool: a new pool takes over, and the pages the broken
one held are parsed there.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from crawler.core.engine import CrawlCore
from crawler.core.messages import PageAnalysis
from crawler.core.records import ErrorKind
from crawler.pages.analysis import PageJob
from crawler.settings import CrawlSettings
from crawler.stopping.control import StopControl
from crawler.strategies.async_ import crawl, run_on_loop
from crawler.strategies.context import RunContext
from crawler.strategies.worker_processes import WorkerContext, start_worker


def _ready() -> None:
    """A no-op job: its result says a worker is up."""


class WorkerPool:
    """The crawl's process pool, replaced by a new one when a worker is lost."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool = self._new_pool()
        self.broken: list[ProcessPoolExecutor] = []
        self._alone: ProcessPoolExecutor | None = None  # where suspect pages are parsed again
        self._one_suspect = asyncio.Lock()

    def __repr__(self) -> str:
        workers = "1 worker" if self.workers == 1 else f"{self.workers} workers"
        lost = "1 pool lost" if len(self.broken) == 1 else f"{len(self.broken)} pools lost"
        return f"<WorkerPool [{workers} | {lost}]>"

    def _new_pool(self, workers: int | None = None) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers or self.workers,
            mp_context=WorkerContext(),
            initializer=start_worker,
            initargs=(os.getpid(),),
        )

    def start(self, stop: StopControl) -> None:
        """Start every worker now, so the crawl does not pay for process start-up mid-way; stop
        waiting if the crawl is stopped meanwhile, by a signal or its time limit (a pool broken
        meanwhile is replaced on use)."""
        started = [self.pool.submit(_ready) for _ in range(self.workers)]
        while not all(future.done() for future in started):
            stop.tick(time.monotonic(), 0)
            if stop.stopping:
                return
            wait(started, timeout=0.1)

    async def analyze(self, job: PageJob) -> PageAnalysis:
        """Parse in one of the pool's processes: the loop only waits for the result.

        A page whose pool broke may have been broken by another page: it is parsed again alone,
        in a pool of one that takes one suspect at a time, so a page is given up (recorded as
        `local`, this machine's failure, not the site's) only when it broke a pool by itself,
        and the records never depend on which pages happened to share a pool.
        """
        pool = self.pool
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, job)
        except BrokenProcessPool:
            self._replace(pool)
        async with self._one_suspect:
            alone = self._alone or self._start_alone()
            try:
                return await asyncio.get_running_loop().run_in_executor(alone, job)
            except BrokenProcessPool:
                self.broken.append(alone)
                self._alone = None
                return PageAnalysis(title=None, links=(), link_count=0, error=ErrorKind.LOCAL)

    def _start_alone(self) -> ProcessPoolExecutor:
        self._alone = self._new_pool(workers=1)
        return self._alone

    def _replace(self, pool: ProcessPoolExecutor) -> None:
        """Start a new pool in place of `pool`, broken, unless another page did already."""
        if pool is not self.pool:
            return
        logging.getLogger("crawler").warning(
            "a page-analysis worker was lost; a new pool of %d takes over, and the pages it held"
            " are parsed again one at a time",
            self.workers,
        )
        self.broken.append(pool)
        self.pool = self._new_pool()

    def close(self) -> None:
        """Shut every pool down and wait for its workers to exit."""
        for pool in [*self.broken, self.pool, *([self._alone] if self._alone else [])]:
            pool.shutdown(wait=True, cancel_futures=True)


class AsyncProcsStrategy:
    """Coroutines for I/O, processes for CPU."""

    def run(self, core: CrawlCore, settings: CrawlSettings, context: RunContext) -> None:
        stop = context.stop_for(settings.grace)
        pool = WorkerPool(settings.process_workers)
        try:
            pool.start(stop)
            run_on_loop(crawl(core, settings, context, pool.analyze), settings.loop)
        finally:
            pool.close()
