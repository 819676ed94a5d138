"""Hosts on distinct loopback addresses (`--hosts-on addresses`): served, counted and crawled as
the distinct origins they are, over real HTTP."""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import pytest

from command_kit.errors import SettingsError
from mock_server import MockServer, MockServerProcess, expected_crawl, load_settings
from tests.conftest import StartServer, get_stats
from tests.crawling import crawl_server, expected_outcomes, outcomes
from tests.test_strategies import ALL, crawl_with, reset_stats

ORIGINS = 50


def hosts_of(server: MockServer | MockServerProcess) -> list[str]:
    """Return each origin as `/_stats` and `--allow-domain` name it: `127.0.0.2:PORT`."""
    return [origin.removeprefix("http://") for origin in server.origins]


async def start_loopback_site(start_server: StartServer, **settings: object) -> MockServer:
    """Start a site of fifty origins on 127.0.0.1 to 127.0.0.50, one port."""
    settings = {"pages": 200, "hosts": ORIGINS, "hosts_on": "addresses", **settings}
    return await start_server(**settings)


async def test_each_host_has_its_own_loopback_address_on_one_port(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    """Host i is served on 127.0.0.(1 + i), all on one port, and a request is counted for, and
    answered as, the host whose address it reached."""
    server = await start_loopback_site(start_server)
    assert server.site is not None
    port = server.origins[0].rsplit(":", 1)[1]
    assert server.origins == [f"http://127.0.0.{1 + host}:{port}" for host in range(ORIGINS)]
    for host in (0, 6, ORIGINS - 1):
        home = server.origins[host] + "/"
        async with http.get(home) as response:
            assert response.status == 200
            assert await response.read() == server.site.respond(home, 1).body
    stats = await get_stats(http, server)
    counted = {name: host["requests"] for name, host in stats["hosts"].items() if host["requests"]}
    assert counted == {hosts_of(server)[host]: 1 for host in (0, 6, ORIGINS - 1)}


@pytest.mark.parametrize("strategy", ALL)
async def test_every_strategy_crawls_loopback_origins_as_the_oracle_says(
    start_server: StartServer, http: aiohttp.ClientSession, tmp_path: Path, strategy: str
) -> None:
    """Every strategy crawls a site of fifty loopback origins to the oracle's records, fetching
    each origin's robots.txt once, and no origin ever has more than --per-host requests in
    flight while the crawl as a whole has more (sync, one request at a time, has one)."""
    server = await start_loopback_site(start_server, latency="5ms")
    assert server.site is not None
    hosts = hosts_of(server)
    records, _ = await crawl_with(
        strategy,
        server,
        tmp_path / "out.jsonl",
        concurrency=16,
        per_host=2,
        allow_domains=hosts[1:],
        analysis_cost=0,
    )
    expectation = expected_crawl(server.site, scope_hosts=range(ORIGINS))
    assert outcomes(records) == expected_outcomes(expectation)
    stats = await get_stats(http, server, urls="1")
    assert stats["urls"] == dict(expectation.requests)
    assert {stats["hosts"][host]["requests"] > 0 for host in hosts} == {True}
    peaks = [stats["hosts"][host]["max_in_flight"] for host in hosts]
    if strategy == "sync":
        assert max(peaks) == stats["max_in_flight"] == 1
    else:
        assert max(peaks) <= 2 < stats["max_in_flight"]


async def test_per_host_limit_on_loopback_origins_can_be_exceeded_without_it(
    start_server: StartServer, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """With --per-host as high as --concurrency, loopback origins do see more than two requests
    at once (five origins here, so each has work enough): the limit in the test above is what
    held them to two."""
    server = await start_server(pages=400, hosts=5, hosts_on="addresses", links=20, latency="20ms")
    hosts = hosts_of(server)
    await crawl_server(
        server, tmp_path / "out.jsonl", concurrency=32, per_host=32, allow_domains=hosts[1:]
    )
    stats = await get_stats(http, server)
    assert max(stats["hosts"][host]["max_in_flight"] for host in hosts) > 2


async def test_delay_spaces_each_loopback_origin_not_the_crawl(
    start_server: StartServer, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """--delay 100ms spaces the requests to each origin, while the fifty origins together see
    requests arrive far closer: the delay is per origin. Without it, one origin's requests come
    closer.

    The server runs on the crawl's own loop, so a request's arrival is stamped when the loop gets
    to it: on a busy machine one late stamp shrinks a gap by tens of ms (39 ms seen under two CPU
    hogs), and the smallest of fifty origins' gaps finds the worst. So the typical origin's
    smallest gap must show the delay, and every origin's must stay well above no delay at all."""
    server = await start_loopback_site(start_server, pages=100)
    hosts = hosts_of(server)
    await crawl_server(
        server,
        tmp_path / "slow.jsonl",
        concurrency=32,
        per_host=4,
        delay="100ms",
        allow_domains=hosts[1:],
    )
    stats = await get_stats(http, server)
    gaps = [stats["hosts"][host]["min_gap_ms"] for host in hosts]
    assert statistics.median(gaps) >= 80 and min(gaps) >= 25, gaps
    assert stats["min_gap_ms"] < 20
    await reset_stats(http, server)
    await crawl_server(
        server, tmp_path / "fast.jsonl", concurrency=32, per_host=4, allow_domains=hosts[1:]
    )
    stats = await get_stats(http, server)
    assert min(stats["hosts"][host]["min_gap_ms"] for host in hosts) < 20


@pytest.mark.slow
async def test_a_thousand_loopback_origins_crawl_as_the_oracle_says(
    start_server: StartServer, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A site of 2,000 pages on 1,000 loopback origins is crawled to the oracle's records, with
    one robots.txt per origin."""
    server = await start_server(pages=2000, hosts=1000, hosts_on="addresses")
    assert server.site is not None
    hosts = hosts_of(server)
    records, _ = await crawl_server(
        server, tmp_path / "out.jsonl", concurrency=64, allow_domains=hosts[1:]
    )
    expectation = expected_crawl(server.site, scope_hosts=range(1000))
    assert outcomes(records) == expected_outcomes(expectation)
    stats = await get_stats(http, server, urls="1")
    assert stats["urls"] == dict(expectation.requests)
    assert sum(url.endswith("/robots.txt") for url in stats["urls"]) == 1000


def test_two_workers_share_every_loopback_address_with_exact_stats() -> None:
    """Two worker processes serve twenty loopback origins on one port (SO_REUSEPORT on each
    address), and /_stats counts every request across both, per origin too."""
    settings = load_settings(
        overrides={"pages": 100, "hosts": 20, "hosts_on": "addresses", "workers": 2}
    )
    with MockServerProcess(settings) as server:
        assert len(server.pids) == 2
        assert [origin.rsplit(":", 1)[0] for origin in server.origins] == [
            f"http://127.0.0.{1 + host}" for host in range(20)
        ]

        def get(origin: str) -> int:
            with urllib.request.urlopen(origin + "/", timeout=10) as response:
                return int(response.status)

        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(get, [server.origins[index % 20] for index in range(400)]))
        with urllib.request.urlopen(server.origins[0] + "/_stats", timeout=10) as response:
            stats = json.load(response)
    assert statuses == [200] * 400
    assert stats["requests"] == 400
    assert [stats["hosts"][host]["requests"] for host in hosts_of(server)] == [20] * 20


@pytest.mark.parametrize(
    "overrides,message",
    [
        (
            {"hosts": 100},
            "--hosts: at most 64 on ports of one address (got 100);"
            " --hosts-on addresses serves up to 10,000",
        ),
        ({"hosts": 10_001, "hosts_on": "addresses"}, "--hosts: must be 1 to 10000 (got 10001)"),
        (
            {"hosts_on": "addresses", "host": "0.0.0.0"},
            "--host: --hosts-on addresses needs an IPv4 loopback address, 127.x.x.x"
            " (got '0.0.0.0')",
        ),
        (
            {"hosts_on": "addresses", "host": "localhost"},
            "--host: --hosts-on addresses needs an IPv4 loopback address, 127.x.x.x"
            " (got 'localhost')",
        ),
        (
            {"hosts_on": "addresses", "host": "127.255.255.250", "hosts": 10},
            "--hosts: 10 addresses from 127.255.255.250 run past 127.255.255.254",
        ),
        ({"hosts_on": "anywhere"}, "--hosts-on: 'anywhere' is not one of ports, addresses"),
    ],
)
def test_bad_placement_of_hosts_is_named_in_one_line(
    overrides: dict[str, object], message: str
) -> None:
    """Too many hosts on ports, a non-loopback or non-IPv4 address, or addresses past 127/8 are
    refused before anything is bound, naming the setting as a flag."""
    with pytest.raises(SettingsError) as raised:
        load_settings(overrides=overrides)
    assert str(raised.value) == message


@pytest.fixture
def busy_third_address() -> Iterator[int]:
    """A port some other socket listens on at 127.0.0.3 (and is free at 127.0.0.1)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.3", 0))
        sock.listen()
        yield sock.getsockname()[1]


def run_mock_server(*args: str, open_files: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m mock_server` to its exit (bad input), under an open-file limit if given."""
    limit = f"resource.setrlimit(resource.RLIMIT_NOFILE, ({open_files}, {open_files}));"
    program = (
        f"import resource, runpy, sys; {limit if open_files else ''}"
        "sys.argv[0] = 'mock-server'; runpy.run_module('mock_server', run_name='__main__')"
    )
    return subprocess.run(
        [sys.executable, "-c", program, *args], capture_output=True, text=True, timeout=30
    )


def test_a_port_taken_on_one_address_is_one_line(busy_third_address: int) -> None:
    """The shared port taken on the third address is named with that address, exit 2."""
    port = str(busy_third_address)
    result = run_mock_server("--hosts", "5", "--hosts-on", "addresses", "--port", port)
    assert result.returncode == 2
    assert result.stderr.strip() == f"mock-server: error: port: 127.0.0.3:{port} is already in use"


def test_more_hosts_than_open_files_is_one_line() -> None:
    """A thousand listening sockets under a limit of 256 open files are refused in one line that
    says how many are needed, not a traceback of EMFILE."""
    result = run_mock_server("--hosts", "1000", "--hosts-on", "addresses", open_files=256)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "mock-server: error: hosts: 1,000 listening sockets need 1,064 open files, past this"
        " process's limit of 256 (raise it with ulimit -n)"
    )
