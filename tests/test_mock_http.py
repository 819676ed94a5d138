"""The mock server over real HTTP: faults (hostile ones included), determinism, latency, bandwidth,
capacity, stats."""

from __future__ import annotations

import asyncio
import gzip
import statistics
import time
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from mock_server import FaultKind, MockServer, MockServerProcess, Site, hostile, load_settings
from mock_server.app import drawn_latency
from mock_server.capacity import capacity_at, scaled
from mock_server.faults import PAGE_FAULTS
from tests.conftest import StartServer, get_stats


async def fetch(
    http: aiohttp.ClientSession, url: str, **options: object
) -> tuple[int, dict[str, str], bytes]:
    """GET a URL without following redirects or decompressing; return status, headers, body."""
    async with http.get(url, allow_redirects=False, auto_decompress=False, **options) as response:  # type: ignore[arg-type]
        return response.status, dict(response.headers), await response.read()


def url_of(server: MockServer, kind: FaultKind) -> str:
    """Return a URL that shows `kind`: the faulty page, or the faulty link it carries."""
    assert server.site is not None
    site = server.site
    page = site.plan.pages_with(kind)[0]
    if kind in PAGE_FAULTS:
        return site.link_url(page)
    wanted = {
        FaultKind.BROKEN_LINK: "/missing/",
        FaultKind.REDIRECT_LOOP: "/loop/",
        FaultKind.OFFSITE_REDIRECT: "/away/",
        FaultKind.HANG: "/slow/",
        FaultKind.NON_HTML: "/media/",
        FaultKind.SPIDER_TRAP: "/calendar/",
        FaultKind.ROBOTS: "/private/",
    }[kind]
    return next(url for url in site.fault_links(page) if wanted in url)


@pytest.fixture
async def faulty(start_server: StartServer) -> MockServer:
    """A 200-page site with every fault on and a short hang."""
    return await start_server(pages=200, faults="all", hang_seconds="30s", retry_after="1s")


async def test_permanent_5xx_and_404(faulty: MockServer, http: aiohttp.ClientSession) -> None:
    """A 500 page fails on every attempt; a broken link answers 404."""
    url = url_of(faulty, FaultKind.HTTP_500)
    assert [(await fetch(http, url))[0] for _ in range(3)] == [500, 500, 500]
    assert (await fetch(http, url_of(faulty, FaultKind.BROKEN_LINK)))[0] == 404


@pytest.mark.parametrize(
    "kind,first_status", [(FaultKind.HTTP_503, 503), (FaultKind.HTTP_429, 429)]
)
async def test_transient_status_faults_recover(
    faulty: MockServer, http: aiohttp.ClientSession, kind: FaultKind, first_status: int
) -> None:
    """503 and 429 (with Retry-After) answer once, then the page is served."""
    url = url_of(faulty, kind)
    status, headers, _ = await fetch(http, url)
    assert status == first_status
    if kind is FaultKind.HTTP_429:
        assert headers["Retry-After"] == "1"
    assert (await fetch(http, url))[0] == 200


async def test_reset_mid_body_then_recovers(
    faulty: MockServer, http: aiohttp.ClientSession
) -> None:
    """A reset fault breaks the first body mid-way with a connection reset, then serves it whole."""
    url = url_of(faulty, FaultKind.RESET)
    with pytest.raises(aiohttp.ClientPayloadError):
        await fetch(http, url)
    status, _, body = await fetch(http, url)
    assert status == 200 and body.endswith(b"</html>\n")


async def test_truncated_body_is_shorter_than_its_length(
    faulty: MockServer, http: aiohttp.ClientSession
) -> None:
    """A truncated page promises more bytes than it sends, every time."""
    for _ in range(2):
        with pytest.raises(
            aiohttp.ClientPayloadError, match=r"content length|Content-Length|not completed"
        ):
            await fetch(http, url_of(faulty, FaultKind.TRUNCATED))


async def test_hang_never_answers(faulty: MockServer, http: aiohttp.ClientSession) -> None:
    """A hanging URL sends nothing until the client gives up; the server then frees the slot."""
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        await fetch(http, url_of(faulty, FaultKind.HANG), timeout=aiohttp.ClientTimeout(total=0.3))
    assert time.monotonic() - started < 5
    assert (await get_stats(http, faulty))["in_flight"] == 0


@pytest.mark.parametrize("kind", [FaultKind.REDIRECT, FaultKind.REDIRECT_CHAIN])
async def test_redirects_lead_to_the_page(
    faulty: MockServer, http: aiohttp.ClientSession, kind: FaultKind
) -> None:
    """Redirect and chain faults answer 301/302/307/308 hops that end at the page."""
    assert faulty.site is not None
    url, hops = url_of(faulty, kind), 0
    while True:
        status, headers, _ = await fetch(http, url)
        if status not in (301, 302, 307, 308):
            break
        hops += 1
        url = str(aiohttp.client.URL(url).join(aiohttp.client.URL(headers["Location"])))
    assert status == 200
    assert hops == (1 if kind is FaultKind.REDIRECT else 3)
    page = faulty.site.plan.pages_with(kind)[0]
    assert url == faulty.site.page_url(page)


async def test_redirect_loop_and_offsite_redirect(
    faulty: MockServer, http: aiohttp.ClientSession
) -> None:
    """A loop's hops point at each other; an offsite redirect leaves the site's origins."""
    loop_a = url_of(faulty, FaultKind.REDIRECT_LOOP)
    _, headers, _ = await fetch(http, loop_a)
    loop_b = str(aiohttp.client.URL(loop_a).join(aiohttp.client.URL(headers["Location"])))
    _, headers, _ = await fetch(http, loop_b)
    assert str(aiohttp.client.URL(loop_b).join(aiohttp.client.URL(headers["Location"]))) == loop_a
    status, headers, _ = await fetch(http, url_of(faulty, FaultKind.OFFSITE_REDIRECT))
    assert status == 302 and not headers["Location"].startswith(faulty.origins[0])


async def test_content_faults(faulty: MockServer, http: aiohttp.ClientSession) -> None:
    """Malformed HTML, gzip, oversize, non-HTML and charset faults show in the bytes and headers."""
    assert faulty.site is not None
    _, _, body = await fetch(http, url_of(faulty, FaultKind.MALFORMED_HTML))
    assert b"</body></html>" not in body and b"<a href=" in body
    _, headers, body = await fetch(
        http, url_of(faulty, FaultKind.GZIP), headers={"Accept-Encoding": "gzip"}
    )
    assert headers["Content-Encoding"] == "gzip" and gzip.decompress(body).startswith(
        b"<!DOCTYPE html>"
    )
    _, headers, body = await fetch(
        http, url_of(faulty, FaultKind.GZIP), headers={"Accept-Encoding": "identity"}
    )
    assert "Content-Encoding" not in headers and body.startswith(b"<!DOCTYPE html>")
    _, _, body = await fetch(http, url_of(faulty, FaultKind.OVERSIZE))
    assert len(body) == faulty.settings.site.oversize_bytes
    _, headers, _ = await fetch(http, url_of(faulty, FaultKind.NON_HTML))
    assert headers["Content-Type"] in ("image/png", "application/pdf")
    _, headers, body = await fetch(http, url_of(faulty, FaultKind.CHARSET_HEADER))
    assert "charset=utf-8" not in headers["Content-Type"] and "charset=" in headers["Content-Type"]
    _, headers, body = await fetch(http, url_of(faulty, FaultKind.CHARSET_META))
    assert headers["Content-Type"] == "text/html" and b"<meta charset=" in body


async def test_spider_trap_is_endless(faulty: MockServer, http: aiohttp.ClientSession) -> None:
    """Each calendar month links to the next one, for as long as anyone follows."""
    url = url_of(faulty, FaultKind.SPIDER_TRAP)
    seen = set()
    for _ in range(30):
        status, _, body = await fetch(http, url)
        assert status == 200
        seen.add(url)
        next_href = body.split(b'href="')[-1].split(b'"')[0].decode()
        url = faulty.origins[0] + next_href
    assert len(seen) == 30


async def test_robots_txt_disallows_and_sets_a_crawl_delay(
    faulty: MockServer, http: aiohttp.ClientSession
) -> None:
    """robots.txt carries Disallow rules, an Allow exception, a wildcard and a Crawl-delay."""
    status, _, body = await fetch(http, faulty.origins[0] + "/robots.txt")
    text = body.decode()
    assert status == 200
    assert "Disallow: /private/" in text and "Allow: /private/open-" in text
    assert "Disallow: /*?print=" in text and "Crawl-delay: 0.01" in text
    assert (await fetch(http, url_of(faulty, FaultKind.ROBOTS)))[0] == 200


async def test_robots_txt_is_absent_without_the_fault(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """A site without the robots fault has no robots.txt (404: crawl everything)."""
    server = await start_server(pages=10)
    assert (await fetch(http, server.origins[0] + "/robots.txt"))[0] == 404


async def test_same_seed_same_bytes_over_http(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """Two servers with the same settings serve the same bytes; another seed serves others."""
    first = await start_server(pages=50, seed=7)
    second = await start_server(pages=50, seed=7)
    third = await start_server(pages=50, seed=8)
    assert first.site is not None

    async def body(server: MockServer, path: str) -> bytes:
        # Pages spell their own origin in absolute links; only the port may differ.
        raw = (await fetch(http, server.origins[0] + path))[2]
        return raw.replace(server.origins[0].removeprefix("http://").encode(), b"HOST")

    for page in range(0, 50, 7):
        path = first.site.page_path(page)
        assert await body(first, path) == await body(second, path)
    assert await body(first, "/") != await body(third, "/")


async def timed_fetches(url_list: list[str], concurrency: int) -> list[float]:
    """Fetch the URLs, `concurrency` at a time; return each one's time to the status line."""
    gate = asyncio.Semaphore(concurrency)

    async def one(session: aiohttp.ClientSession, url: str) -> float:
        async with gate:
            started = time.monotonic()
            async with session.get(url) as response:
                elapsed = time.monotonic() - started
                await response.read()
            return elapsed

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        return await asyncio.gather(*(one(session, url) for url in url_list))


def host_and_path(site: Site, url: str) -> tuple[int, str]:
    """Return which of the site's origins `url` is on, and its path as the server reads it."""
    host = next(index for index, origin in enumerate(site.origins) if url.startswith(origin + "/"))
    return host, URL(url).raw_path_qs


@pytest.mark.slow
@pytest.mark.parametrize(
    "distribution,p99",
    [("constant", None), ("uniform", None), ("exponential", None), ("lognormal", "400ms")],
)
async def test_latency_median_matches(distribution: str, p99: str | None) -> None:
    """Over 300 distinct pages the latencies the server draws have the median asked for (and the
    p99, for lognormal), and no client ever gets a first byte before its page's drawn wait.

    The draws are computed by `drawn_latency`, the very function the server sleeps by, so they
    are asserted exactly; what a client times on a busy machine measures the machine too, so of
    that only the physical bound is kept: never sooner than the page's draw.
    """
    overrides = {"pages": 300, "latency": "100ms", "latency_distribution": distribution}
    if p99:
        overrides["latency_p99"] = p99
    with MockServerProcess(load_settings(overrides=overrides)) as server:
        site = Site(server.settings.site, server.origins)
        urls = [site.page_url(page) for page in range(300)]
        times = await timed_fetches(urls, concurrency=30)
    drawn = [drawn_latency(server.settings, *host_and_path(site, url)) for url in urls]
    assert statistics.median(drawn) == pytest.approx(0.100, rel=0.10)
    if distribution == "lognormal":
        assert statistics.quantiles(drawn, n=100)[98] == pytest.approx(0.400, rel=0.35)
    if distribution == "constant":
        assert set(drawn) == {0.1}
    early = [
        (url, took, wait)
        for url, took, wait in zip(urls, times, drawn, strict=True)
        if took < wait - 0.001
    ]
    assert early == []


async def test_latency_is_reproducible_per_url(start_server: StartServer) -> None:
    """The same requests wait the same times on two servers with the same seed."""
    one = await start_server(pages=20, latency="40ms", latency_distribution="exponential")
    two = await start_server(pages=20, latency="40ms", latency_distribution="exponential")
    assert one.site is not None and two.site is not None
    first = await timed_fetches([one.site.page_url(page) for page in range(20)], concurrency=1)
    second = await timed_fetches([two.site.page_url(page) for page in range(20)], concurrency=1)
    assert statistics.correlation(first, second) > 0.9


async def test_bandwidth_limit_paces_the_body(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """At 40 KB/s a page of about 8 KB takes about 0.2 s to arrive."""
    server = await start_server(pages=5, page_size="8KB", bandwidth="40KB")
    started = time.monotonic()
    _, _, body = await fetch(http, server.base_url)
    elapsed = time.monotonic() - started
    assert len(body) / 40_000 * 0.8 < elapsed < len(body) / 40_000 * 3


async def test_capacity_queues_excess_requests(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """With capacity 5, twenty 100 ms requests are served five at a time: four rounds."""
    server = await start_server(pages=20, latency="100ms", capacity=5)
    assert server.site is not None
    started = time.monotonic()
    await timed_fetches([server.site.page_url(page) for page in range(20)], concurrency=20)
    elapsed = time.monotonic() - started
    stats = await get_stats(http, server)
    assert stats["max_serving"] == 5 and stats["max_in_flight"] == 20
    assert 0.4 <= elapsed < 2.0


async def test_capacity_can_reject_with_503(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """In reject mode, requests past capacity get 503 at once and are counted as rejected."""
    server = await start_server(pages=20, latency="100ms", capacity=5, overload="reject")
    assert server.site is not None
    statuses = await asyncio.gather(
        *(fetch(http, server.site.page_url(page)) for page in range(20))
    )
    codes = [status for status, _, _ in statuses]
    stats = await get_stats(http, server)
    assert codes.count(200) == 5 and codes.count(503) == 15
    assert stats["rejected"] == 15 and stats["by_status"] == {"200": 5, "503": 15}


async def test_capacity_per_host_limits_each_host_alone(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """Per host, capacity 2 on each of 3 hosts: 6 served at once, 2 on each, none refused."""
    server = await start_server(
        pages=30, hosts=3, latency="100ms", capacity=2, capacity_per="host", overload="reject"
    )
    assert server.site is not None
    site = server.site
    statuses = await asyncio.gather(*(fetch(http, site.page_url(page)) for page in range(30)))
    stats = await get_stats(http, server)
    assert [status for status, _, _ in statuses].count(200) == 6
    assert [host["max_serving"] for host in stats["hosts"].values()] == [2, 2, 2]


def test_capacity_spread_draws_each_host_its_own_capacity() -> None:
    """A spread of 4 under capacity 20 gives capacities in 5..20, the same for the same seed."""
    settings = load_settings(
        overrides={
            "hosts": 200,
            "hosts_on": "addresses",
            "capacity": 20,
            "capacity_per": "host",
            "capacity_spread": 4,
        }
    )
    capacities = [settings.host_capacity(host) for host in range(200)]
    assert min(capacities) >= 5 and max(capacities) <= 20 and len(set(capacities)) >= 10
    assert capacities == [settings.host_capacity(host) for host in range(200)]


def test_capacity_schedule_steps_each_host_alike() -> None:
    """Halved at 10 s and restored at 20 s: a host of capacity 8 under a base of 10 serves 4."""
    settings = load_settings(overrides={"capacity": 10, "capacity_schedule": "10s=5,20s=10"})
    assert [settings.host_capacity(0, at) for at in (0, 9.9, 10, 19.9, 20, 99)] == [
        10,
        10,
        5,
        5,
        10,
        10,
    ]
    assert capacity_at(10, settings.capacity_schedule, 15) == 5
    assert scaled(8, 10, 5) == 4 and scaled(1, 10, 5) == 1


async def test_capacity_schedule_refuses_past_the_new_capacity(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """Capacity 6 drops to 2 after 2 s: ten requests at once are served 6, then 2."""
    server = await start_server(
        pages=20,
        latency="200ms",
        capacity=6,
        capacity_schedule="2s=2",
        overload="reject",
        overload_retry_after="3s",
    )
    assert server.site is not None
    site = server.site
    before = await asyncio.gather(*(fetch(http, site.page_url(page)) for page in range(10)))
    assert [status for status, _, _ in before].count(200) == 6
    assert {headers["Retry-After"] for status, headers, _ in before if status == 503} == {"3"}
    assert server.schedule_elapsed() < 2, "the machine is too slow to see the first step"
    await asyncio.sleep(2.1 - server.schedule_elapsed())
    after = await asyncio.gather(*(fetch(http, site.page_url(page)) for page in range(10, 20)))
    assert [status for status, _, _ in after].count(200) == 2


async def test_capacity_schedule_lets_queued_requests_in_when_it_grows(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """Capacity 1 grows to 10 at 300 ms: ten queued 1 s requests all start then, not in turn."""
    server = await start_server(pages=10, latency="1s", capacity=1, capacity_schedule="300ms=10")
    assert server.site is not None
    site = server.site
    started = time.monotonic()
    await asyncio.gather(*(fetch(http, site.page_url(page)) for page in range(10)))
    elapsed = time.monotonic() - started
    stats = await get_stats(http, server)
    assert stats["max_serving"] == 10
    assert elapsed < 5  # ten 1 s requests in turn would take 10 s


@pytest.mark.parametrize("hosts", [1, 3])
async def test_stats_are_exact_under_concurrent_load(
    start_server: StartServer, http: aiohttp.ClientSession, hosts: int
) -> None:
    """600 requests, 30 at a time, spread over the hosts, are all counted, per host too."""
    server = await start_server(pages=300, hosts=hosts, latency="5ms")
    assert server.site is not None
    site = server.site
    gate = asyncio.Semaphore(30)

    async def one(page: int) -> int:
        async with gate:
            return (await fetch(http, site.page_url(page % 300)))[0]

    statuses = await asyncio.gather(
        *(one(page) for page in range(600)), fetch(http, server.origins[0] + "/nope")
    )
    stats = await get_stats(http, server)
    assert stats["requests"] == 601 and stats["in_flight"] == 0
    assert stats["by_status"] == {"200": 600, "404": 1}
    assert 2 <= stats["max_in_flight"] <= 31
    per_host = [stats["hosts"][origin.removeprefix("http://")] for origin in server.origins]
    assert sum(host["requests"] for host in per_host) == 601
    for index, host_stats in enumerate(per_host):
        expected = sum(1 for page in range(600) if site.host_of(page % 300) == index) + (index == 0)
        assert host_stats["requests"] == expected
    assert sum(1 for status in statuses if status == 200) == 600


async def test_stats_do_not_count_themselves_and_reset(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """/_stats requests are not counted; DELETE /_stats starts from zero."""
    server = await start_server(pages=5)
    await fetch(http, server.base_url)
    for _ in range(3):
        stats = await get_stats(http, server, urls="1")
    assert stats["requests"] == 1 and stats["urls"] == {server.base_url: 1}
    async with http.delete(server.origins[0] + "/_stats") as response:
        assert response.status == 204
    stats = await get_stats(http, server)
    assert stats["requests"] == 0 and stats["by_status"] == {} and stats["min_gap_ms"] is None


async def test_min_gap_measures_spacing_per_host(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """min_gap_ms reports the smallest spacing between two requests' arrivals at a host."""
    server = await start_server(pages=5)
    for _ in range(4):
        await fetch(http, server.base_url)
        await asyncio.sleep(0.05)
    stats = await get_stats(http, server)
    assert 45 <= stats["min_gap_ms"] < 1000


async def test_a_thousand_connections_at_once_are_all_accepted(start_server: StartServer) -> None:
    """600 clients connecting at the same moment are all accepted at once: the listen queue
    never overflows, so no SYN is dropped and retried (which would cost a second each). Read
    from the kernel's own counters, not a clock."""
    server = await start_server(pages=600, latency="500ms")
    assert server.site is not None
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(page: int) -> int:
            async with session.get(server.site.page_url(page)) as response:  # type: ignore[union-attr]
                await response.read()
                return response.status

        before = listen_queue_counters()
        statuses = await asyncio.gather(*(one(page) for page in range(600)))
        after = listen_queue_counters()
    assert statuses == [200] * 600
    assert after == before, (before, after)


def listen_queue_counters() -> dict[str, int]:
    """Return the kernel's counts of connections a full listen queue dropped (TcpExt)."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    names, values = (line.split() for line in lines if line.startswith("TcpExt:"))
    counters = dict(zip(names[1:], map(int, values[1:]), strict=True))
    return {name: counters[name] for name in ("ListenOverflows", "ListenDrops")}


@pytest.mark.slow
async def test_the_mock_serves_each_attack_as_described(start_server: StartServer) -> None:
    """The hostile resources are what they claim: a small body inflating to 512 MiB, a body
    that never ends, one that drips, a robots.txt of 10 MB ending in `Disallow: /`."""
    server: MockServer = await start_server(pages=30, faults="hostile")
    assert server.site is not None
    origin = server.origins[0]

    def url(kind: FaultKind, name: str) -> str:
        assert server.site is not None
        return f"{origin}/hostile/{server.site.plan.pages_with(kind)[0]}/{name}"

    async with aiohttp.ClientSession(auto_decompress=False) as http:
        async with http.get(url(FaultKind.GZIP_BOMB, "bomb.html")) as response:
            compressed = await response.read()
        assert response.headers["Content-Encoding"] == "gzip"
        assert len(compressed) < 1_000_000 < hostile.BOMB_BYTES
        async with http.get(url(FaultKind.ENDLESS_BODY, "endless.html")) as response:
            received = 0
            async for chunk in response.content.iter_chunked(1 << 16):
                received += len(chunk)
                if received > 20_000_000:
                    break
        assert received > 20_000_000
        timeout = aiohttp.ClientTimeout(total=1.5)
        async with http.get(url(FaultKind.SLOW_BODY, "drip.html"), timeout=timeout) as response:
            with pytest.raises(TimeoutError):
                await response.read()
        async with http.get(f"{origin}/robots.txt") as response:
            robots = await response.read()
        assert len(robots) > 10_000_000 and robots.endswith(b"Disallow: /\n")
        async with http.get(
            url(FaultKind.BAD_REDIRECTS, "no-location"), allow_redirects=False
        ) as response:
            assert response.status == 302 and "Location" not in response.headers
        async with http.get(url(FaultKind.BAD_HEADERS, "two-types.html")) as response:
            assert len(response.headers.getall("Content-Type")) == 2
        with pytest.raises(aiohttp.ClientResponseError):
            async with http.get(url(FaultKind.BAD_HEADERS, "two-lengths.html")) as response:
                await response.read()
