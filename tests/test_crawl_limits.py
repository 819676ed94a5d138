"""Concurrency, per-host and delay limits, as the mock server sees them in /_stats."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.conftest import StartServer, get_stats
from tests.crawling import crawl_server


async def reset_stats(http: aiohttp.ClientSession, origin: str) -> None:
    async with http.delete(origin + "/_stats"):
        pass


@pytest.mark.parametrize("limit", [1, 8, 24])
async def test_global_concurrency_is_reached_and_never_exceeded(
    start_server: StartServer, http: aiohttp.ClientSession, tmp_path: Path, limit: int
) -> None:
    """At a saturating load the server sees exactly `--concurrency` requests in flight at peak.
    The latency is long next to the time one loop (client and server both) takes to send a
    request, so a busy machine still lets all `limit` requests overlap at the server; at limit
    1, any overlap would last a whole request, and a dozen requests are a dozen chances."""
    pages = 12 if limit == 1 else max(40, limit * 10)
    server = await start_server(pages=pages, latency="100ms", links=20)
    await crawl_server(server, tmp_path / "out.jsonl", concurrency=limit, per_host=limit)
    assert (await get_stats(http, server))["max_in_flight"] == limit


async def test_concurrency_limit_binds(
    start_server: StartServer, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """The same crawl with a larger limit does exceed 8 in flight: the limit is what held it."""
    server = await start_server(pages=300, latency="30ms", links=20)
    await crawl_server(server, tmp_path / "out.jsonl", concurrency=32, per_host=32)
    assert (await get_stats(http, server))["max_in_flight"] > 8


@pytest.mark.slow
async def test_per_host_limit_holds_under_saturation(
    start_server: StartServer, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """On a 3-host site, no host ever sees more than --per-host, and the busy ones see exactly it."""
    server = await start_server(pages=600, hosts=3, latency="30ms", links=20)
    hosts = [origin.removeprefix("http://") for origin in server.origins]
    await crawl_server(
        server, tmp_path / "out.jsonl", concurrency=30, per_host=3, allow_domains=hosts[1:]
    )
    stats = await get_stats(http, server)
    peaks = [stats["hosts"][host]["max_in_flight"] for host in hosts]
    assert max(peaks) == 3 and min(peaks) >= 2
    assert stats["max_in_flight"] <= 9
    await reset_stats(http, server.origins[0])
    await crawl_server(
        server, tmp_path / "free.jsonl", concurrency=30, per_host=30, allow_domains=hosts[1:]
    )
    stats = await get_stats(http, server)
    assert max(stats["hosts"][host]["max_in_flight"] for host in hosts) > 3


async def test_delay_spaces_requests_to_one_host(
    start_server: StartServer, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """--delay 50ms: no two requests reach a host much less than 50 ms apart; without it they do.
    A request that leaves a few ms late (the loop was parsing) shrinks the gap to the next one,
    hence the margin."""
    server = await start_server(pages=25)
    await crawl_server(server, tmp_path / "slow.jsonl", delay="50ms", concurrency=8, per_host=8)
    stats = await get_stats(http, server)
    assert stats["requests"] == 26 and stats["min_gap_ms"] >= 40
    await reset_stats(http, server.origins[0])
    await crawl_server(server, tmp_path / "fast.jsonl", concurrency=8, per_host=8)
    assert (await get_stats(http, server))["min_gap_ms"] < 20


async def test_robots_crawl_delay_is_obeyed(
    start_server: StartServer, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A robots.txt Crawl-delay larger than --delay spaces requests by the Crawl-delay (with the
    same margin for a late send as the --delay test)."""
    server = await start_server(pages=20, faults="robots=0.05", robots_crawl_delay="60ms")
    await crawl_server(server, tmp_path / "out.jsonl", delay="5ms")
    assert (await get_stats(http, server))["min_gap_ms"] >= 48


async def test_twenty_slow_pages_at_concurrency_twenty_finish_fast(
    start_server: StartServer, tmp_path: Path
) -> None:
    """20 pages behind 200 ms of latency, all linked from the home page, take well under 2 s at concurrency 20."""
    import time

    server = await start_server(pages=21, links=20, latency="200ms")
    started = time.monotonic()
    records, _ = await crawl_server(
        server, tmp_path / "out.jsonl", concurrency=20, per_host=20, ignore_robots=True
    )
    assert len(records) == 21
    assert time.monotonic() - started < 2.0
