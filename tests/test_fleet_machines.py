"""A worker on another "machine": a network namespace of its own, joined by a veth pair.

The hub namespace holds Redis, the mock site and the crawl (with one worker of its own); the
worker namespace holds one `crawler worker`, which reaches them only over the link. Nothing is
sent to these addresses from the test's own namespace: every command that touches them runs
inside a namespace (`ip netns exec`). Needs root and iproute2; skipped otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mock_server import expected_crawl, load_settings
from mock_server.site import Site
from tests.crawling import expected_outcomes
from tests.redis_server import RedisServer, free_port
from tests.test_fleet import MAX_DEPTH, WORKER_LINE, check_exact, crawl_command, environment

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2"
)


def ip(*arguments: str) -> None:
    subprocess.run(["ip", *arguments], check=True, capture_output=True, timeout=30)


@pytest.fixture
def machines() -> Iterator[tuple[str, str, str]]:
    """Two namespaces, `hub` (10.251.N.1) and `worker` (10.251.N.2), joined by one veth pair."""
    tag = f"{os.getpid() % 10000}"
    hub, worker = f"fleet-hub-{tag}", f"fleet-worker-{tag}"
    subnet = f"10.251.{os.getpid() % 250}"
    for name in (hub, worker):
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
        ip("netns", "add", name)
        ip("-n", name, "link", "set", "lo", "up")
    try:
        ip(
            "link",
            "add",
            f"vh{tag}",
            "netns",
            hub,
            "type",
            "veth",
            "peer",
            f"vw{tag}",
            "netns",
            worker,
        )
        ip("-n", hub, "addr", "add", f"{subnet}.1/30", "dev", f"vh{tag}")
        ip("-n", worker, "addr", "add", f"{subnet}.2/30", "dev", f"vw{tag}")
        ip("-n", hub, "link", "set", f"vh{tag}", "up")
        ip("-n", worker, "link", "set", f"vw{tag}", "up")
        yield hub, worker, f"{subnet}.1"
    finally:
        for name in (hub, worker):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


def in_namespace(namespace: str, command: list[str]) -> list[str]:
    return ["ip", "netns", "exec", namespace, *command]


def test_a_worker_on_another_machine_joins_the_crawl(
    machines: tuple[str, str, str], tmp_path: Path
) -> None:
    """The crawl in the hub, a worker across the link: it takes its share, and the records are
    the site model's, each once."""
    hub, worker_machine, address = machines
    (tmp_path / "redis").mkdir()
    redis = RedisServer(tmp_path / "redis", host=address, port=free_port(), netns=hub).start()
    port = free_port()
    pages = 300
    site_command = [sys.executable, "-m", "mock_server", "--host", address, "--port", str(port)]
    site_command += ["--pages", str(pages), "--links", "8", "--latency", "50ms"]
    site_process = subprocess.Popen(
        in_namespace(hub, site_command), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    log = tmp_path / "remote-worker.log"
    remote = None
    try:
        seed = f"http://{address}:{port}/"
        probe = [
            sys.executable,
            "-c",
            f"import urllib.request; urllib.request.urlopen({seed!r}, timeout=2)",
        ]
        deadline = time.monotonic() + 30
        while subprocess.run(in_namespace(hub, probe), capture_output=True).returncode != 0:
            assert time.monotonic() < deadline, "the mock site did not start"
            time.sleep(0.2)
        with log.open("wb") as sink:
            worker_command = [sys.executable, "-m", "crawler", "worker", redis.url]
            worker_command += ["--processes", "1", "--wait", "60s"]
            remote = subprocess.Popen(
                in_namespace(worker_machine, worker_command),
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=environment("fleet-machines"),
            )
        time.sleep(1.0)  # the remote worker is waiting for a crawl
        output = tmp_path / "out.jsonl"
        crawl = subprocess.run(
            in_namespace(hub, crawl_command(seed, redis.url, output)),
            capture_output=True,
            timeout=180,
            env=environment("fleet-machines"),
        )
        assert crawl.returncode == 0, crawl.stderr.decode()[-3000:]
        settings = load_settings(overrides={"pages": pages, "links": 8})
        site = Site(settings.site, (f"http://{address}:{port}",))
        expected = expected_outcomes(expected_crawl(site, max_depth=MAX_DEPTH, retries=1))
        check_exact(output, expected)
        remote.wait(timeout=30)
        [answered, *_] = map(int, WORKER_LINE.findall(log.read_text())[-1])
        assert answered > 20, log.read_text()
    finally:
        if remote is not None and remote.poll() is None:
            remote.kill()
        site_process.kill()
        site_process.wait(timeout=30)
        redis.kill()
