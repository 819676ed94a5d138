"""`async-procs`: aiohttp fetching on the event loop, parsing in a pool of processes.

The same driver as `async`, with one change: each page's analysis (parsing, link resolution,
fingerprint) runs in a `ProcessPoolExecutor`, so CPU work uses every core while the event loop
keeps fetching. Only the body goes to a worker and only the compact `PageAnalysis` comes back.
The pool starts once, before the crawl, and is shut down on every way out.

The crawl alone decides when to stop. A terminal sends Ctrl-C (and a hangup) to its whole
foreground process group, workers included, so the workers are started with the stop signals
blocked and ignore them before unblocking them: a signal sent while a worker's interpreter starts
up is never its own. They exit by themselves if the crawl is killed outright.
"""

from __future__ import annotations

import asyncio
import multiprocessing.context
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor

from crawler.analysis import PageJob
from crawler.context import RunContext
from crawler.core.engine import CrawlCore
from crawler.core.messages import PageAnalysis
from crawler.settings import CrawlSettings
from crawler.signals import STOP_SIGNALS
from crawler.strategies.async_ import Analyzer, crawl, run_on_loop

PARENT_CHECK_SECONDS = 0.5


class _WorkerProcess(multiprocessing.context.SpawnProcess):
    """A spawned worker that starts with the stop signals blocked.

    The blocked mask is inherited through fork and exec, so a Ctrl-C that comes while the new
    interpreter imports (before any initializer can run) waits instead of raising
    KeyboardInterrupt there; the initializer ignores the signals, which discards it, before it
    unblocks them. The standard library starts its resource tracker the same way.
    """

    def start(self) -> None:
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            super().start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


class _WorkerContext(multiprocessing.context.SpawnContext):
    """The spawn start method, with workers started deaf to the stop signals."""

    Process = _WorkerProcess


def _start_worker(parent: int) -> None:
    """Worker initializer: the crawl process `parent` decides when to stop, and a worker
    outlives it by at most half a second (a crawl killed with SIGKILL cannot shut its pool
    down, and may die before this even runs)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

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
            mp_context=_WorkerContext(),
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
