"""`--timeout` to the millisecond at 5 s and more, in every strategy.

aiohttp rounds a deadline of `ClientTimeout.ceil_threshold` (5 s) or more up to the next whole
second of the loop's clock, so a request could run up to a second past `--timeout`, and a stall
that ended inside that second turned a timeout into a success. The server here answers robots.txt
just after a whole second of the monotonic clock, so the page requested next starts its deadline
where rounding would add most (about 0.9 s); the page then drips its body for a minute, and the
request must be cut at its deadline, by the record's time and by the server's.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from crawler.core.records import Record
from crawler.http.options import DEFAULT_HTTP_OPTIONS
from crawler.run.crawl import run_crawl
from crawler.settings import load_crawl_settings
from crawler.strategies import STRATEGIES
from tests.crawling import check_output, read_records

ALL = sorted(STRATEGIES)
# A cut at the deadline arrives within milliseconds; rounding to a whole second, 0.7 s and more
# after it. The margin is for a busy machine.
LATE = 0.3
DRIP_EVERY = 0.1  # seconds between two bytes of the body: every read is short
DRIP_FOR = 60.0

ROBOTS = b"User-agent: *\r\nAllow: /\r\n"
DRIP_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
    b"Content-Length: 1000000\r\n\r\n"
)


@dataclass
class DripSite:
    """Where the site lives, and how long each of its /drip connections lived, in seconds."""

    base: str
    lived: list[float] = field(default_factory=list)


async def _just_after_a_whole_second() -> None:
    """Sleep until 20 ms past the next whole second of the monotonic clock (the loop's)."""
    now = time.monotonic()
    await asyncio.sleep(math.floor(now) + 1.02 - now)


async def _drip_until_closed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Send the head, then a byte every DRIP_EVERY seconds until the client ends the connection."""

    async def drip() -> None:
        writer.write(DRIP_HEAD)
        for _ in range(int(DRIP_FOR / DRIP_EVERY)):
            await asyncio.sleep(DRIP_EVERY)
            writer.write(b"x")
            await writer.drain()

    dripping = asyncio.ensure_future(drip())
    with contextlib.suppress(ConnectionError):
        await reader.read(1)  # b"" when the client shuts its end, or a reset
    dripping.cancel()
    with contextlib.suppress(asyncio.CancelledError, ConnectionError):
        await dripping


@contextlib.asynccontextmanager
async def serve_drip() -> AsyncIterator[DripSite]:
    """Serve /robots.txt (allowing all, answered just after a whole second) and /drip."""
    site = DripSite("")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted = time.monotonic()
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1]
            if path == b"/robots.txt":
                await _just_after_a_whole_second()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                    + b"Content-Length: %d\r\n\r\n" % len(ROBOTS)
                    + ROBOTS
                )
            else:
                await _drip_until_closed(reader, writer)
                site.lived.append(time.monotonic() - accepted)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    site.base = f"http://127.0.0.1:{port}/"
    try:
        yield site
    finally:
        server.close()
        await server.wait_closed()


async def crawl_drip(strategy: str, output: Path, **overrides: Any) -> tuple[Record, list[float]]:
    """Crawl /drip alone in `strategy`, once; return its record and how long the server saw it."""
    async with serve_drip() as site:
        settings = load_crawl_settings(
            overrides={
                "seeds": [f"{site.base}drip"],
                "output": str(output),
                "strategy": strategy,
                "quiet": True,
                "retries": 0,
                "workers": 1,
                **overrides,
            }
        )
        outcome = await asyncio.to_thread(run_crawl, settings, None, False)
    check_output(output, outcome.summary["pages"])
    (record,) = read_records(output)
    return record, site.lived


@pytest.mark.slow
@pytest.mark.parametrize(
    ("deadline", "overrides"),
    [(5.0, {"timeout": "5s"}), (DEFAULT_HTTP_OPTIONS.timeout, {})],
    ids=["5s", "default"],
)
async def test_timeout_cuts_a_dripping_request_at_its_deadline_in_every_strategy(
    tmp_path: Path, deadline: float, overrides: dict[str, str]
) -> None:
    """A request whose body drips is cut at `--timeout` (5 s, and the 10 s default), not up to
    a second later, in every strategy: the record says timeout after no more than LATE past
    the deadline, and the server saw the connection end by then."""
    crawls = await asyncio.gather(
        *(crawl_drip(strategy, tmp_path / f"{strategy}.jsonl", **overrides) for strategy in ALL)
    )
    for strategy, (record, lived) in zip(ALL, crawls, strict=True):
        elapsed = record.elapsed_ms / 1000
        assert (record.error, record.attempts) == ("timeout", 1), strategy
        assert deadline - 0.05 <= elapsed < deadline + LATE, (strategy, elapsed)
        assert len(lived) == 1, strategy
        assert lived[0] < deadline + LATE, (strategy, lived)
