"""`async-procs`' worker pool: a worker lost costs no page, and only the page that kills a worker
by itself is given up, whichever pages happened to share its pool."""

from __future__ import annotations

import asyncio
import functools
import os
import time
from pathlib import Path

from crawler.core.messages import PageAnalysis
from crawler.core.records import ErrorKind
from crawler.stopping.control import StopControl
from crawler.strategies.async_procs import WorkerPool


def _exit_worker() -> PageAnalysis:
    """A parse that kills the process it runs in, as a crash of the parser would."""
    os._exit(1)


def _slow_parse(title: str, started: str, release: str) -> PageAnalysis:
    """A parse that says it has started (the file `started`), then lasts until it is released
    (the file `release`): still running when another page kills its pool."""
    Path(started).touch()
    deadline = time.monotonic() + 60
    while not Path(release).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return PageAnalysis(title, (), 0)


async def test_a_page_that_kills_its_worker_each_time_is_recorded_as_local() -> None:
    """A parse that kills its worker is parsed again alone, then given up as `local`; the pool
    that replaced the broken one parses the next page as usual."""
    pool = WorkerPool(1)
    try:
        lost = await pool.analyze(_exit_worker)
        parsed = await pool.analyze(functools.partial(PageAnalysis, "a title", (), 0))
    finally:
        pool.close()
    assert lost.error is ErrorKind.LOCAL
    assert parsed == PageAnalysis("a title", (), 0)
    assert repr(pool) == "<WorkerPool [1 worker | 2 pools lost]>"


async def test_a_page_that_shared_a_pool_with_a_killer_is_parsed_again(tmp_path: Path) -> None:
    """A page being parsed when another page's parse killed a worker of its pool is parsed
    again, alone, and keeps its analysis: the records never depend on which pages shared a pool
    (given up as often as the killer, it was recorded `local` too)."""
    pool = WorkerPool(2)
    pool.start(StopControl(2.0))  # both workers up, as a crawl starts them
    started, release = tmp_path / "started", tmp_path / "release"
    try:
        parse = functools.partial(_slow_parse, "kept", str(started), str(release))
        innocent = asyncio.ensure_future(pool.analyze(parse))
        deadline = time.monotonic() + 60
        while not started.exists():  # the slow parse is under way in the first pool
            assert time.monotonic() < deadline, "the pool never started"
            await asyncio.sleep(0.02)

        async def release_soon_after_the_break() -> None:
            # Whichever of the two is parsed again first, the other waits for it: let the slow
            # parse end a little after its pool broke (with the old, per-page count of lost
            # pools, it was lost again meanwhile, with the killer, in the second pool).
            while not pool.broken:  # noqa: ASYNC110 (polled: the pool has no event to wait on)
                await asyncio.sleep(0.02)
            await asyncio.sleep(3.0)
            release.touch()

        releasing = asyncio.ensure_future(release_soon_after_the_break())
        lost = await pool.analyze(_exit_worker)
        release.touch()
        kept = await innocent
        releasing.cancel()
    finally:
        pool.close()
    assert lost.error is ErrorKind.LOCAL
    assert kept == PageAnalysis("kept", (), 0)
