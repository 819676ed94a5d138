"""Crawling through a real HTTP proxy: tinyproxy (a Debian package) started on a loopback port.

Every strategy crawls the mock site through it with `--proxy`, and finds the same records as
without it; the proxy's own log shows every request, robots.txt included. The standard variables
(`HTTP_PROXY`, `NO_PROXY`) choose the same routes, a proxy that asks for credentials gets them
from the URL, and the password never appears in anything the crawl writes. HTTPS goes through
the proxy as a tunnel (CONNECT) in the clients that verify with OpenSSL's paths.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from crawler.core.records import Record
from crawler.strategies import STRATEGIES
from mock_server import MockServerProcess, load_settings
from tests.test_http_tls import tls_site  # noqa: F401 - the HTTPS site, a fixture

TINYPROXY = shutil.which("tinyproxy")
pytestmark = pytest.mark.skipif(
    TINYPROXY is None,
    reason="tinyproxy is not installed: run scripts/install-system-packages",
)
PASSWORD = "s3cret-Pa55"


@dataclass
class Proxy:
    """A running tinyproxy: its URL and its log."""

    url: str
    log: Path

    def requested(self) -> list[str]:
        """Return the request lines the proxy logged, in order (`GET http://...`, `CONNECT h:p`)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return re.findall(r"Request \(file descriptor \d+\): (\w+ \S+)", text)


def start_proxy(
    root: Path, login: tuple[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], Proxy]:
    """Start tinyproxy in the foreground on a free loopback port; return it once it listens."""
    assert TINYPROXY is not None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = root / "tinyproxy.log"
    lines = [
        f"Port {port}",
        "Listen 127.0.0.1",
        "Timeout 30",
        "LogLevel Info",  # in the foreground and with no LogFile, to its stdout: `log`
        "MaxClients 400",
        "Allow 127.0.0.1",
        "DisableViaHeader Yes",
    ]
    if os.geteuid() == 0:
        lines.append("User nobody")  # tinyproxy will not run as root
    if login is not None:
        lines.append(f"BasicAuth {login[0]} {login[1]}")
    config = root / "tinyproxy.conf"
    config.write_text("\n".join(lines) + "\n")
    with log.open("wb") as written:  # the descriptor outlives any change of user
        process = subprocess.Popen(
            [TINYPROXY, "-d", "-c", str(config)], stdout=written, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"tinyproxy exited {process.returncode}: {config.read_text()}")
            time.sleep(0.05)
    else:
        process.kill()
        pytest.fail("tinyproxy did not listen within 20 s")
    return process, Proxy(f"http://127.0.0.1:{port}", log)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """The mock site (robots.txt, 30 pages, no faults) in a process of its own."""
    settings = load_settings(overrides={"pages": 30, "links": 6, "faults": "none"})
    with MockServerProcess(settings) as server:
        yield server.base_url


@pytest.fixture
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    process, running = start_proxy(tmp_path_factory.mktemp("proxy"))
    yield running
    stop(process)


def crawl(
    seed: str, tmp_path: Path, *flags: str, environment: dict[str, str] | None = None
) -> tuple[list[Record], str]:
    """Crawl `seed` in a fresh process; return its records and everything it printed. Retries
    stay on: a proxy may close a kept-alive connection just as a client reuses it (a reset),
    which a crawl retries as it would any reset."""
    output = tmp_path / "records.jsonl"
    stats = tmp_path / "stats.json"
    log = tmp_path / "crawl.log"
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(environment or {})
    result = subprocess.run(
        [sys.executable, "-m", "crawler", "crawl", seed, "-o", str(output), "--stats-json",
         str(stats), "--log-level", "debug", "--log-file", str(log), "--workers", "1", *flags],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    printed = result.stdout + result.stderr + stats.read_text() + log.read_text()
    records = [Record.from_json(line) for line in output.read_text().splitlines()]
    return records, printed + output.read_text()


def outcomes(records: list[Record]) -> set[tuple[str, int | None, int, str | None]]:
    return {
        (record.url, record.status, record.depth, record.error.value if record.error else None)
        for record in records
    }


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_every_strategy_crawls_through_the_proxy(
    site: str, proxy: Proxy, tmp_path: Path, strategy: str
) -> None:
    """Through `--proxy`, the same records as directly, and every one of them (and robots.txt)
    went through the proxy."""
    direct, _ = crawl(site, _folder(tmp_path, "direct"), "--strategy", strategy)
    proxied, _ = crawl(site, tmp_path, "--strategy", strategy, "--proxy", proxy.url)
    assert len(proxied) == 30 and outcomes(proxied) == outcomes(direct)
    asked = proxy.requested()
    assert f"GET {site}robots.txt" in asked
    assert {f"GET {record.url}" for record in proxied} <= set(asked)


def test_the_environment_chooses_the_proxy_and_no_proxy_skips_it(
    site: str, proxy: Proxy, tmp_path: Path
) -> None:
    """HTTP_PROXY alone routes the crawl through the proxy; NO_PROXY naming the site's host
    sends it direct (the proxy sees nothing more)."""
    routed, _ = crawl(site, _folder(tmp_path, "env"), environment={"HTTP_PROXY": proxy.url})
    assert len(routed) == 30 and f"GET {site}robots.txt" in proxy.requested()
    before = len(proxy.requested())
    direct, _ = crawl(
        site,
        _folder(tmp_path, "no"),
        environment={"http_proxy": proxy.url, "NO_PROXY": "localhost,127.0.0.1"},
    )
    assert len(direct) == 30 and len(proxy.requested()) == before


@pytest.mark.parametrize("strategy", ["sync", "async", "loop"])  # requests, aiohttp, h11
def test_a_proxy_that_asks_for_credentials_gets_them_and_they_are_never_shown(
    site: str, tmp_path: Path, strategy: str
) -> None:
    """With the user and password in the proxy URL the crawl goes through; without them the
    proxy answers 407, recorded as the seed's status. The password is in no output, record, log
    or summary."""
    process, guarded = start_proxy(_folder(tmp_path, "proxy"), ("crawler", PASSWORD))
    try:
        with_login = guarded.url.replace("http://", f"http://crawler:{PASSWORD}@")
        records, printed = crawl(
            site, _folder(tmp_path, "in"), "--strategy", strategy, "--proxy", with_login
        )
        assert len(records) == 30 and all(record.error is None for record in records)
        assert PASSWORD not in printed
        refused, _ = crawl(site, _folder(tmp_path, "out"), "--strategy", strategy,
                           "--proxy", guarded.url)  # fmt: skip
        assert [(record.url, record.status) for record in refused] == [(site, 407)]
    finally:
        stop(process)


def test_a_bad_proxy_is_one_line_and_hides_its_password(tmp_path: Path) -> None:
    """A proxy URL that cannot be used is refused before the crawl, in one line, password
    masked; so is an unusable HTTP_PROXY."""
    for flags, environment, needle in (
        (["--proxy", f"socks5://u:{PASSWORD}@127.0.0.1:1080"], {}, "only http:// proxies"),
        (["--proxy", f"http://u:{PASSWORD}@127.0.0.1:port"], {}, "is not a URL"),
        ([], {"HTTP_PROXY": f"http://u:{PASSWORD}@"}, "$HTTP_PROXY"),
    ):
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        result = subprocess.run(
            [sys.executable, "-m", "crawler", "crawl", "http://127.0.0.1:1/", *flags],
            env={**env, **environment}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and needle in result.stderr
        assert PASSWORD not in result.stderr


@pytest.mark.parametrize("strategy", ["async", "loop"])
def test_https_goes_through_the_proxy_as_a_tunnel(
    tls_site: tuple[str, Path],  # noqa: F811 - the fixture imported above
    proxy: Proxy,
    tmp_path: Path,
    strategy: str,
) -> None:
    """An https:// seed through the proxy: a CONNECT to its host, then TLS to the server itself,
    verified as directly (the clients that trust SSL_CERT_FILE)."""
    seed, certificate = tls_site
    records, _ = crawl(
        seed,
        tmp_path,
        "--strategy", strategy, "--proxy", proxy.url, "--ignore-robots",
        environment={"SSL_CERT_FILE": str(certificate)},
    )  # fmt: skip
    assert sorted(record.url for record in records) == [seed, seed + "b.html"]
    assert all(record.status == 200 for record in records)
    authority = seed.split("/")[2]
    assert f"CONNECT {authority}" in proxy.requested()


def _folder(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir()
    return folder
