"""The fleet's guarantees, each proven by killing something real: workers, Redis, the coordinator.

Every test starts its own redis-server (appending to an AOF) on a free loopback port, a mock site
in its own process, the crawl as `crawler crawl --broker`, and workers as `crawler worker`
processes, as a user would on several machines. Leases are 2 s, so a lost worker's requests are
taken over quickly. The output must then be the site model's records, each exactly once.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from crawler.core.records import Record
from crawler.settings import BROKER_ENVIRONMENT
from mock_server import MockServerProcess, expected_crawl, load_settings
from mock_server.site import Site
from tests.crawling import Outcome, check_output, expected_outcomes, outcomes, read_records
from tests.redis_server import RedisServer
from tests.test_strategies import processes_with_marker

MAX_DEPTH = 8
LEASE = "2s"
WORKER_LINE = re.compile(
    r"(\d+) answered, (\d+) taken over from others, (\d+) refused as late, (\d+) dropped"
)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(directory).start()
    yield server
    server.kill()


def environment(marker: str) -> dict[str, str]:
    """The tests' own environment, without the suite's shared broker, marked for a leak check."""
    return {
        **{name: value for name, value in os.environ.items() if name != BROKER_ENVIRONMENT},
        "CRAWL_TEST_MARKER": marker,
    }


def crawl_command(seed: str, broker: str, output: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "crawler",
        "crawl",
        seed,
        "--broker",
        broker,
        "--output",
        str(output),
        "--quiet",
        "--lease",
        LEASE,
        "--processes",
        "1",
        "--concurrency",
        "24",
        "--per-host",
        "24",
        "--max-depth",
        str(MAX_DEPTH),
        "--retries",
        "1",
        "--backoff",
        "10ms",
        "--analysis-cost",
        "0",
        *extra,
    ]


class Workers:
    """`crawler worker` processes, each logging to a file of its own."""

    def __init__(self, broker: str, scratch: Path, marker: str) -> None:
        self.broker = broker
        self.scratch = scratch
        self.marker = marker
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(self, count: int = 1, wait: str = "60s", netns: str = "") -> None:
        for _ in range(count):
            log = self.scratch / f"worker-{len(self.processes)}.log"
            command = [sys.executable, "-m", "crawler", "worker", self.broker, "--processes", "1"]
            command += ["--wait", wait]
            if netns:
                command = ["ip", "netns", "exec", netns, *command]
            with log.open("wb") as sink:
                self.processes.append(
                    subprocess.Popen(
                        command,
                        stdout=sink,
                        stderr=subprocess.STDOUT,
                        env=environment(self.marker),
                    )
                )
            self.logs.append(log)

    def wait_all(self, seconds: float) -> float:
        """Wait for every worker to leave by itself; return how long it took."""
        started = time.monotonic()
        for process in self.processes:
            process.wait(timeout=max(seconds - (time.monotonic() - started), 0.1))
        return time.monotonic() - started

    def totals(self) -> list[int]:
        """Sum each worker's last line: answered, taken over, refused late, dropped."""
        sums = [0, 0, 0, 0]
        for log in self.logs:
            for match in WORKER_LINE.finditer(log.read_text(errors="replace")):
                sums = [
                    total + int(value) for total, value in zip(sums, match.groups(), strict=True)
                ]
        return sums

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)


@contextlib.contextmanager
def fleet(broker: str, scratch: Path, marker: str) -> Iterator[Workers]:
    workers = Workers(broker, scratch, marker)
    try:
        yield workers
    finally:
        workers.stop()


@contextlib.contextmanager
def mock_site(
    pages: int, latency: str, **overrides: Any
) -> Iterator[tuple[str, set[Outcome], Any]]:
    settings = load_settings(
        overrides={"pages": pages, "latency": latency, "links": 8, **overrides}
    )
    with MockServerProcess(settings) as server:
        site = Site(settings.site, server.origins)
        expected = expected_outcomes(expected_crawl(site, max_depth=MAX_DEPTH, retries=1))
        yield server.base_url, expected, server


def requests_per_url(server: Any) -> dict[str, int]:
    with urllib.request.urlopen(server.origins[0] + "/_stats?urls=1", timeout=10) as reply:
        urls: dict[str, int] = json.load(reply)["urls"]
        return urls


def wait_for_lines(output: Path, lines: int, process: subprocess.Popen[bytes]) -> None:
    """Wait until the crawl has written `lines` records (it is well under way)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if output.exists() and output.read_bytes().count(b"\n") >= lines:
            return
        time.sleep(0.02)
    raise AssertionError(f"the crawl did not write {lines} records (exit {process.poll()})")


def check_exact(output: Path, expected: set[Outcome]) -> list[Record]:
    records = read_records(output)
    urls = [record.url for record in records]
    assert len(urls) == len(set(urls)), "a URL was recorded twice"
    assert outcomes(records) == expected
    check_output(output, len(expected))
    return records


def finish(process: subprocess.Popen[bytes], timeout: float = 120) -> str:
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate(timeout=30)
        raise AssertionError(
            f"the crawl did not end: {stderr.decode(errors='replace')[-3000:]}"
        ) from None
    text = stderr.decode(errors="replace") if stderr else ""
    assert process.returncode == 0, text[-3000:]
    return text


def test_a_worker_killed_mid_crawl_loses_nothing(redis: RedisServer, tmp_path: Path) -> None:
    """kill -9 of a worker holding requests: they are taken over once their lease runs out, no
    URL is lost, none is recorded twice."""
    marker = f"fleet-kill-{os.getpid()}"
    output = tmp_path / "out.jsonl"
    with (
        mock_site(400, "100ms") as (seed, expected, server),
        fleet(redis.url, tmp_path, marker) as workers,
    ):
        workers.start(3)
        crawl = subprocess.Popen(
            crawl_command(seed, redis.url, output),
            stderr=subprocess.PIPE,
            env=environment(marker),
        )
        wait_for_lines(output, 60, crawl)
        victim = workers.processes[0]
        victim.kill()
        finish(crawl)
        check_exact(output, expected)
        again = [url for url, count in requests_per_url(server).items() if count > 1]
        assert again, "the killed worker held no request: nothing was taken over"
        assert workers.wait_all(15) < 15
    assert processes_with_marker(marker) == []


def test_a_frozen_worker_is_fenced_off_when_it_wakes(redis: RedisServer, tmp_path: Path) -> None:
    """SIGSTOP of a worker past its lease, then SIGCONT: its requests went to other workers, and
    what it does with them on waking (answers, late) is refused; the output stays exact."""
    marker = f"fleet-freeze-{os.getpid()}"
    output = tmp_path / "out.jsonl"
    with (
        mock_site(400, "100ms") as (seed, expected, _),
        fleet(redis.url, tmp_path, marker) as workers,
    ):
        workers.start(3)
        crawl = subprocess.Popen(
            crawl_command(seed, redis.url, output),
            stderr=subprocess.PIPE,
            env=environment(marker),
        )
        wait_for_lines(output, 60, crawl)
        frozen = workers.processes[0]
        frozen.send_signal(signal.SIGSTOP)
        time.sleep(5)  # more than twice the lease: its requests were claimed and answered
        frozen.send_signal(signal.SIGCONT)
        finish(crawl)
        check_exact(output, expected)
        assert workers.wait_all(15) < 15
        with workers.logs[0].open() as log:
            _, _, refused, dropped = map(int, WORKER_LINE.findall(log.read())[-1])
        assert refused + dropped >= 1, "the frozen worker held nothing when it was frozen"


def test_redis_killed_and_restarted_from_its_aof_completes_exactly_once(
    redis: RedisServer, tmp_path: Path
) -> None:
    """kill -9 of redis-server mid-crawl, restarted from its AOF a second later: the crawl and
    its workers ride it out; re-fetches are allowed, duplicate records are not."""
    marker = f"fleet-redis-{os.getpid()}"
    output = tmp_path / "out.jsonl"
    with (
        mock_site(400, "50ms") as (seed, expected, _),
        fleet(redis.url, tmp_path, marker) as workers,
    ):
        workers.start(2)
        crawl = subprocess.Popen(
            crawl_command(seed, redis.url, output),
            stderr=subprocess.PIPE,
            env=environment(marker),
        )
        wait_for_lines(output, 60, crawl)
        redis.kill()
        time.sleep(1.0)
        redis.start()
        stderr = finish(crawl)
        check_exact(output, expected)
        assert "lost the broker" in stderr and "the broker is back" in stderr
        assert workers.wait_all(20) < 20


def test_the_coordinator_killed_then_resumed_completes_exactly_once(
    redis: RedisServer, tmp_path: Path
) -> None:
    """kill -9 of `crawler crawl --state F --resume` mid-crawl, then the same command: the output
    is the site's records, each once; a worker started before it serves both runs by itself, and
    leaves within seconds of the end."""
    marker = f"fleet-coordinator-{os.getpid()}"
    output, state = tmp_path / "out.jsonl", tmp_path / "crawl.db"
    with (
        mock_site(400, "50ms") as (seed, expected, _),
        fleet(redis.url, tmp_path, marker) as workers,
    ):
        workers.start(1)
        time.sleep(0.5)  # the worker is there before the crawl: it waits for one
        command = crawl_command(
            seed, redis.url, output, "--state", str(state), "--resume", "--processes", "1"
        )
        first = subprocess.Popen(command, stderr=subprocess.DEVNULL, env=environment(marker))
        wait_for_lines(output, 60, first)
        first.kill()
        first.wait(timeout=30)
        resumed = subprocess.Popen(command, stderr=subprocess.PIPE, env=environment(marker))
        finish(resumed)
        check_exact(output, expected)
        check_output(output, len(expected), state)
        ended = time.monotonic()
        workers.processes[0].wait(timeout=20)
        assert time.monotonic() - ended < 10
        answered = workers.totals()[0]
        assert answered > 0, "the worker started before the crawl served none of it"


SERVER_LAG_MS = 10.0  # how late a busy mock server may note an arrival (see below)


def test_politeness_holds_for_the_whole_fleet(redis: RedisServer, tmp_path: Path) -> None:
    """Four workers (three joined, one the crawl's own) on three origins: the server never sees
    more than --per-host in flight per origin, nor two requests to one closer than --delay.

    The server notes a request's arrival when its loop gets to it, which on a loaded machine can
    be some milliseconds after the request reached its socket; two requests spaced exactly by
    the delay on the wire can then look up to that much closer. The crawl's own slack (a notice
    through Redis, then a request through Redis) is smaller, so the assertion allows the server's
    lag: four workers each keeping the delay on its own would give gaps a quarter of it.
    """
    marker = f"fleet-polite-{os.getpid()}"
    output = tmp_path / "out.jsonl"
    with (
        mock_site(150, "20ms", hosts=3) as (seed, _, server),
        fleet(redis.url, tmp_path, marker) as workers,
    ):
        workers.start(3)
        command = crawl_command(seed, redis.url, output, "--delay", "100ms")
        command[command.index("--per-host") + 1] = "2"
        for origin in server.origins[1:]:
            command += ["--allow-domain", origin.split("//")[1]]
        crawl = subprocess.Popen(command, stderr=subprocess.PIPE, env=environment(marker))
        finish(crawl)
        records = read_records(output)
        assert len(records) == len({record.url for record in records}) >= 100
        with urllib.request.urlopen(server.origins[0] + "/_stats", timeout=10) as reply:
            stats = json.load(reply)
        assert workers.totals()[0] > 0
    hosts = stats["hosts"]
    assert len(hosts) == 3
    for host in hosts.values():
        assert host["requests"] > 20
        assert host["max_in_flight"] <= 2, host
        assert host["min_gap_ms"] >= 100.0 - SERVER_LAG_MS, host


def test_an_adaptive_limit_holds_for_the_whole_fleet(redis: RedisServer, tmp_path: Path) -> None:
    """Three workers on an origin that serves 4 at once and refuses the rest: with --adaptive,
    the coordinator's one limit per origin (not one per worker) keeps the refusals to a few
    while 24 in flight per host would be refused most of the time; every page is crawled."""
    marker = f"fleet-adaptive-{os.getpid()}"
    output, stats_path = tmp_path / "out.jsonl", tmp_path / "stats.json"
    site = {"capacity": 4, "overload": "reject", "overload_retry_after": "0s"}
    with (
        mock_site(150, "20ms", **site) as (seed, expected, server),
        fleet(redis.url, tmp_path, marker) as workers,
    ):
        workers.start(3)
        command = crawl_command(
            seed, redis.url, output, "--adaptive", "--stats-json", str(stats_path)
        )
        command[command.index("--retries") + 1] = "20"
        crawl = subprocess.Popen(command, stderr=subprocess.PIPE, env=environment(marker))
        finish(crawl)
        check_exact(output, expected)
        with urllib.request.urlopen(server.origins[0] + "/_stats", timeout=10) as reply:
            stats = json.load(reply)
    assert stats["rejected"] <= stats["requests"] * 0.25, stats
    (limit,) = json.loads(stats_path.read_text())["limits"]["origins"].values()
    assert all(1 <= allowed <= 24 for _, allowed in limit["trajectory"])


def test_a_retry_after_seen_by_one_worker_holds_off_all(redis: RedisServer, tmp_path: Path) -> None:
    """A 429 with Retry-After: 1 answered to one worker: no worker sends the site anything for
    the second that follows (one request in flight per host, so none was already on its way)."""
    arrivals: list[tuple[float, str]] = []
    refused_once: set[str] = set()

    async def handle(request: web.Request) -> web.Response:
        arrivals.append((time.monotonic(), request.path))
        if request.path == "/robots.txt":
            return web.Response(status=404)
        number = int(request.path.strip("/") or 0)
        if number == 7 and request.path not in refused_once:
            refused_once.add(request.path)
            return web.Response(status=429, headers={"Retry-After": "1"})
        links = "".join(f'<a href="/{n}">{n}</a>' for n in range(number * 3 + 1, number * 3 + 4))
        return web.Response(text=f"<html><body>{links}</body></html>", content_type="text/html")

    site = _serve_in_thread(handle, tmp_path)
    marker = f"fleet-retry-after-{os.getpid()}"
    output = tmp_path / "out.jsonl"
    with site as base, fleet(redis.url, tmp_path, marker) as workers:
        workers.start(2)
        command = crawl_command(base + "/", redis.url, output, "--max-pages", "60")
        command[command.index("--per-host") + 1] = "1"
        crawl = subprocess.Popen(command, stderr=subprocess.PIPE, env=environment(marker))
        finish(crawl)
    records = {record.url.rsplit("/", 1)[1]: record for record in read_records(output)}
    assert records["7"].status == 200 and records["7"].attempts == 2
    [refused_at] = [at for at, path in arrivals if path == "/7"][:1]
    held = [path for at, path in arrivals if refused_at < at < refused_at + 0.95]
    assert held == [], f"requests sent during the Retry-After: {held}"


@contextlib.contextmanager
def _serve_in_thread(handler: Any, scratch: Path) -> Iterator[str]:
    """Serve `handler` on a free loopback port from a thread of its own."""
    import asyncio

    ready = threading.Event()
    box: dict[str, Any] = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_get("/{tail:.*}", handler)
        runner = web.AppRunner(app)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        box["port"] = runner.addresses[0][1]
        box["loop"] = loop
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(30)
    try:
        yield f"http://127.0.0.1:{box['port']}"
    finally:
        box["loop"].call_soon_threadsafe(box["loop"].stop)
        thread.join(timeout=30)


def test_a_worker_waits_for_a_crawl_and_leaves_when_there_is_none(
    redis: RedisServer, tmp_path: Path
) -> None:
    """A worker with nothing to serve leaves after --wait, by itself, with status 0."""
    with fleet(redis.url, tmp_path, "fleet-wait") as workers:
        workers.start(1, wait="1s")
        took = workers.wait_all(30)
        assert workers.processes[0].returncode == 0
        assert 1.0 <= took < 20
        assert "no crawl to serve" in workers.logs[0].read_text()


def test_several_workers_write_the_single_process_crawls_records(
    redis: RedisServer, tmp_path: Path
) -> None:
    """Through Redis with three workers, the records are the `async` crawl's, field for field
    (depth and parent included), but for the time each took; and Redis is left with no key of
    the crawl."""
    marker = f"fleet-agree-{os.getpid()}"
    with (
        mock_site(300, "5ms", faults="all", hang_seconds="30s", retry_after="100ms") as (
            seed,
            expected,
            server,
        ),
        fleet(redis.url, tmp_path, marker) as workers,
    ):
        workers.start(3)
        broker_out, async_out = tmp_path / "broker.jsonl", tmp_path / "async.jsonl"
        options = ["--timeout", "1s", "--analysis-cost", "1"]
        finish(
            subprocess.Popen(
                crawl_command(seed, redis.url, broker_out, *options),
                stderr=subprocess.PIPE,
                env=environment(marker),
            )
        )
        urllib.request.urlopen(  # the transient faults fail afresh for the second crawl
            urllib.request.Request(server.origins[0] + "/_stats", method="DELETE"), timeout=10
        ).close()
        single = crawl_command(seed, redis.url, async_out, *options)
        at = single.index("--broker")
        del single[at : at + 2]
        for fleet_only in ("--lease", "--processes"):
            at = single.index(fleet_only)
            del single[at : at + 2]
        finish(subprocess.Popen(single, stderr=subprocess.PIPE, env=environment(marker)))
        assert workers.wait_all(15) < 15
    assert outcomes(read_records(broker_out)) == expected

    def comparable(path: Path) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        for line in lines:
            line.pop("elapsed_ms")
        return sorted(lines, key=lambda line: str(line["url"]))

    assert comparable(broker_out) == comparable(async_out)
    leftover = subprocess.run(
        ["redis-cli", "-p", str(redis.port), "--scan", "--pattern", "crawler:*"],
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout.split()
    assert leftover == []


def test_the_broker_password_is_never_shown(tmp_path: Path) -> None:
    """A Redis with a password: the crawl works, and the password appears in no output, log,
    summary or state file; a wrong one is one line naming the broker, without it."""
    directory = tmp_path / "redis"
    directory.mkdir()
    (directory / "extra.conf").write_text("")
    server = RedisServer(directory)
    secret = "s3cret-Pa55"
    server.start()
    try:
        subprocess.run(
            ["redis-cli", "-p", str(server.port), "CONFIG", "SET", "requirepass", secret],
            check=True,
            capture_output=True,
            timeout=10,
        )
        url = f"redis://:{secret}@127.0.0.1:{server.port}/0"
        output, state, stats = tmp_path / "out.jsonl", tmp_path / "s.db", tmp_path / "stats.json"
        log = tmp_path / "crawl.log"
        with mock_site(30, "0ms") as (seed, expected, _):
            crawl = subprocess.run(
                [
                    *crawl_command(seed, url, output, "--state", str(state)),
                    "--log-level",
                    "debug",
                    "--log-file",
                    str(log),
                    "--stats-json",
                    str(stats),
                ],
                capture_output=True,
                timeout=120,
                env=environment("fleet-password"),
            )
            assert crawl.returncode == 0, crawl.stderr.decode()[-2000:]
            check_exact(output, expected)
            wrong = subprocess.run(
                crawl_command(seed, url.replace(secret, "wrong-one"), tmp_path / "w.jsonl"),
                capture_output=True,
                timeout=120,
                env=environment("fleet-password"),
            )
        for shown in (crawl.stdout, crawl.stderr, log.read_bytes(), stats.read_bytes()):
            assert secret.encode() not in shown
        assert secret.encode() not in state.read_bytes()
        assert "redis://127.0.0.1" in log.read_text() or "***" in log.read_text()
        message = wrong.stderr.decode()
        assert wrong.returncode == 2 and len(message.strip().splitlines()) == 1, message
        assert "broker" in message and "wrong-one" not in message and "Traceback" not in message
    finally:
        server.kill()


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (["--broker", "http://127.0.0.1:1/0"], "is not a redis://"),
        (["--broker", "redis://127.0.0.1:1/0"], "cannot reach the broker"),
        (["--strategy", "async", "--broker", "redis://127.0.0.1:1/0"], "applies to"),
        (["--lease", "5s"], "applies to a crawl through"),
        (["--strategy", "broker"], "broker needs"),
    ],
)
def test_bad_broker_settings_are_one_line(arguments: list[str], problem: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "crawler", "crawl", "http://127.0.0.1:9/", "-o", "", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment("fleet-bad"),
    )
    assert completed.returncode == 2, completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1, completed.stderr
    assert problem in completed.stderr and "Traceback" not in completed.stderr
