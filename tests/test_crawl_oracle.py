"""The async crawler against the site oracle, over real HTTP: the right URLs, once each."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from crawler.core.records import ErrorKind
from mock_server import FaultKind, expected_crawl
from tests.conftest import StartServer, get_stats
from tests.crawling import crawl_server, expected_outcomes, outcomes


@pytest.mark.parametrize("pages", [1, 100, pytest.param(10_000, marks=pytest.mark.slow)])
async def test_crawl_requests_exactly_the_model_url_set(
    start_server: StartServer, http: aiohttp.ClientSession, tmp_path: Path, pages: int
) -> None:
    """A clean site of 1, 100 or 10,000 pages is crawled completely, each URL requested once."""
    server = await start_server(pages=pages)
    assert server.site is not None
    records, _ = await crawl_server(server, tmp_path / "out.jsonl", concurrency=64, per_host=64)
    expectation = expected_crawl(server.site, max_depth=10)
    assert outcomes(records) == expected_outcomes(expectation)
    assert len(records) == len({record.url for record in records}) == pages
    stats = await get_stats(http, server, urls="1")
    assert stats["urls"] == dict(expectation.requests)


@pytest.mark.slow
async def test_every_fault_kind_gets_its_error_record(
    start_server: StartServer, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """With every fault on, each record has the oracle's status, depth and error, and each URL is
    requested exactly as often as the oracle says (retries included), robots-excluded ones never."""
    # The robots fault's Crawl-delay (10 ms by default) would space the crawl's 300 requests
    # over three seconds; that it is obeyed is checked in test_crawl_limits.
    server = await start_server(
        pages=200, faults="all", hang_seconds="30s", robots_crawl_delay="2ms"
    )
    assert server.site is not None
    records, core = await crawl_server(
        server,
        tmp_path / "out.jsonl",
        max_depth=12,
        timeout="1s",
        connect_timeout="1s",
        backoff="50ms",
        retries=2,
    )
    expectation = expected_crawl(server.site, max_depth=12, retries=2)
    assert outcomes(records) == expected_outcomes(expectation)
    stats = await get_stats(http, server, urls="1")
    assert stats["urls"] == dict(expectation.requests)
    seen_errors = {record.error for record in records}
    assert {
        ErrorKind.HTTP_5XX,
        ErrorKind.TIMEOUT,
        ErrorKind.TRUNCATED,
        ErrorKind.HTTP_4XX,
        ErrorKind.NOT_HTML,
        ErrorKind.TOO_LARGE,
        ErrorKind.OUT_OF_SCOPE_REDIRECT,
        ErrorKind.ROBOTS,
    } <= seen_errors
    assert repr(core).startswith("<CrawlCore [0 in flight | 0 queued | ")


async def test_transient_faults_are_retried_until_they_succeed(
    start_server: StartServer, tmp_path: Path
) -> None:
    """503, 429 and reset pages succeed on the second attempt; with no retries they stay failures."""
    faults = "http_503=0.05,http_429=0.05,reset=0.05"
    server = await start_server(pages=100, faults=faults, retry_after="1s")
    assert server.site is not None
    site = server.site
    transient = {
        site.page_url(page): kind
        for kind in (FaultKind.HTTP_503, FaultKind.HTTP_429, FaultKind.RESET)
        for page in site.plan.pages_with(kind)
    }
    records, _ = await crawl_server(server, tmp_path / "retry.jsonl", backoff="10ms")
    by_url = {record.url: record for record in records}
    for url in transient:
        assert by_url[url].status == 200 and by_url[url].attempts == 2 and by_url[url].error is None
    async with aiohttp.ClientSession() as http, http.delete(server.origins[0] + "/_stats"):
        pass
    records, _ = await crawl_server(server, tmp_path / "no-retry.jsonl", retries=0)
    errors = {record.url: record.error for record in records if record.url in transient}
    assert set(errors.values()) == {ErrorKind.HTTP_5XX, ErrorKind.HTTP_429, ErrorKind.RESET}


async def test_robots_txt_is_obeyed_unless_ignored(
    start_server: StartServer, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Disallowed URLs get a robots record and no request; --ignore-robots fetches them."""
    server = await start_server(pages=150, faults="robots=0.05", robots_crawl_delay="0")
    assert server.site is not None
    records, _ = await crawl_server(server, tmp_path / "obey.jsonl")
    excluded = {record.url for record in records if record.error is ErrorKind.ROBOTS}
    assert excluded == expected_crawl(server.site).urls_with(FaultKind.ROBOTS)
    assert excluded and all("/private/doc-" in url or "?print=1" in url for url in excluded)
    requested = (await get_stats(http, server, urls="1"))["urls"]
    assert not excluded & set(requested)
    assert any("/private/open-" in url for url in requested)
    records, _ = await crawl_server(server, tmp_path / "ignore.jsonl", ignore_robots=True)
    assert {record.url for record in records if record.status == 200} >= excluded


async def test_max_depth_and_max_pages_are_exact(start_server: StartServer, tmp_path: Path) -> None:
    """--max-depth matches the oracle's depth-limited crawl; --max-pages writes exactly that many records."""
    server = await start_server(pages=500, faults="spider_trap=0.02")
    assert server.site is not None
    records, _ = await crawl_server(server, tmp_path / "depth.jsonl", max_depth=2)
    assert outcomes(records) == expected_outcomes(expected_crawl(server.site, max_depth=2))
    for limit in (1, 37, 250):
        records, _ = await crawl_server(
            server, tmp_path / f"pages{limit}.jsonl", max_pages=limit, concurrency=16
        )
        assert len(records) == limit == len({record.url for record in records})


async def test_spider_trap_ends_at_max_depth(start_server: StartServer, tmp_path: Path) -> None:
    """The endless calendar is crawled down to max depth and no further."""
    server = await start_server(pages=60, faults="spider_trap=0.02")
    assert server.site is not None
    records, _ = await crawl_server(server, tmp_path / "trap.jsonl", max_depth=15)
    calendar = [record for record in records if "/calendar/" in record.url]
    assert calendar and max(record.depth for record in calendar) == 15
    assert outcomes(records) == expected_outcomes(expected_crawl(server.site, max_depth=15))


async def test_scope_options(start_server: StartServer, tmp_path: Path) -> None:
    """Other hosts are out of scope by default; --allow-domain lets them in; --exclude keeps URLs out."""
    server = await start_server(pages=200, hosts=3)
    assert server.site is not None
    records, _ = await crawl_server(server, tmp_path / "one.jsonl")
    assert outcomes(records) == expected_outcomes(expected_crawl(server.site, scope_hosts=[0]))
    hosts = [origin.removeprefix("http://") for origin in server.origins]
    records, _ = await crawl_server(server, tmp_path / "all.jsonl", allow_domains=hosts[1:])
    assert outcomes(records) == expected_outcomes(expected_crawl(server.site, scope_hosts=range(3)))
    records, _ = await crawl_server(server, tmp_path / "host.jsonl", allow_domains=["127.0.0.1"])
    assert len(records) == 200
    records, _ = await crawl_server(
        server, tmp_path / "excl.jsonl", allow_domains=["127.0.0.1"], exclude=[r"item\?id="]
    )
    assert records and not any("item?id=" in record.url for record in records)
    records, _ = await crawl_server(
        server, tmp_path / "incl.jsonl", include=[r"/$", r"section-[12]/"]
    )
    assert records and all(
        record.url.endswith("/") or "section-1/" in record.url or "section-2/" in record.url
        for record in records
    )


async def test_nofollow_is_honoured_on_request(start_server: StartServer, tmp_path: Path) -> None:
    """--respect-nofollow skips rel=nofollow links and pages with meta robots nofollow, as the oracle does."""
    server = await start_server(pages=400, links=4)
    assert server.site is not None
    records, _ = await crawl_server(server, tmp_path / "nofollow.jsonl", respect_nofollow=True)
    assert outcomes(records) == expected_outcomes(expected_crawl(server.site, honour_nofollow=True))
    everything = expected_crawl(server.site)
    assert len(records) < len(everything.records)


async def test_records_carry_titles_bytes_and_parents(
    start_server: StartServer, tmp_path: Path
) -> None:
    """Records name the title as decoded from any charset, the parent page and the body size."""
    server = await start_server(pages=150, faults="charset_header=0.05,charset_meta=0.05,gzip=0.05")
    assert server.site is not None
    site = server.site
    records, _ = await crawl_server(server, tmp_path / "out.jsonl")
    by_url = {record.url: record for record in records}
    for page in range(150):
        record = by_url[site.page_url(page)]
        assert record.title == site.title_of(page)
        assert record.bytes == len(site.render_page(page)[0])
        assert record.links > 0
        if page:
            assert record.parent in by_url and by_url[record.parent].depth == record.depth - 1
    assert Counter(record.depth for record in records)[0] == 1


async def test_plain_asyncio_loop_makes_the_same_crawl(
    start_server: StartServer, tmp_path: Path
) -> None:
    """--loop asyncio (instead of uvloop) crawls the same records."""
    import asyncio

    from crawler.core.engine import CrawlCore
    from crawler.settings import EventLoop, load_crawl_settings
    from crawler.strategies.async_ import AsyncStrategy
    from crawler.strategies.context import RunContext
    from tests.crawling import read_records

    server = await start_server(pages=120, faults="broken_link=0.05,redirect=0.05")
    assert server.site is not None
    output = tmp_path / "asyncio.jsonl"
    settings = load_crawl_settings(
        overrides={
            "seeds": [server.base_url],
            "output": str(output),
            "loop": "asyncio",
            "analysis_cost": 0,
        }
    )
    assert settings.loop is EventLoop.ASYNCIO
    await asyncio.to_thread(
        AsyncStrategy().run,
        CrawlCore(settings.policy),
        settings,
        RunContext(str(output), handle_signals=False),
    )
    assert outcomes(read_records(output)) == expected_outcomes(expected_crawl(server.site))
