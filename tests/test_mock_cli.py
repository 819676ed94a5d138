"""The mock-server command line and process runners: bad input, announced URLs, workers."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from mock_server import MockServerProcess, load_settings


def run_cli(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Run `python -m mock_server` with arguments; it must exit by itself (bad input)."""
    return subprocess.run(
        [sys.executable, "-m", "mock_server", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port some other socket is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize(
    "args,setting",
    [
        (["--latency", "-10ms"], "latency"),
        (["--latency", "100ms", "--latency-dist", "lognormal", "--latency-p99", "50ms"], "latency"),
        (["--latency-dist", "gamma"], "latency-dist"),
        (["--faults", "http_500=1.5"], "faults.http_500"),
        (["--faults", "meteor_strike"], "faults"),
        (["--pages", "many"], "pages"),
        (["--latency", "fast"], "latency"),
        (["--config", "/nonexistent/mock.toml"], "config"),
        (["--capacity-schedule", "20s"], "capacity-schedule"),
        (["--capacity-schedule", "20s=0"], "capacity-schedule"),
        (["--capacity-schedule", "soon=5"], "capacity-schedule"),
        (["--capacity", "10", "--capacity-spread", "4"], "capacity-spread"),
        (["--capacity-spread", "0.5"], "capacity-spread"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], setting: str) -> None:
    """Each invalid setting gives one line naming it, exit status 2, and no traceback."""
    result = run_cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and setting in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use_is_one_line(busy_port: int) -> None:
    """A port already taken is reported as such, not as a traceback."""
    result = run_cli("--port", str(busy_port))
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"mock-server: error: port: 127.0.0.1:{busy_port} is already in use"
    )


@pytest.mark.parametrize(
    "content,problem",
    [
        ("[mock_server\n", "not valid TOML"),
        ("[mock_server]\nwarp_speed = 9\n", "unknown setting"),
        ("[mock_server]\npages = 'x'\n", "pages"),
    ],
)
def test_bad_config_file_is_one_line(tmp_path: Path, content: str, problem: str) -> None:
    """An invalid TOML file, an unknown key or a bad value is named in one line, exit 2."""
    config = tmp_path / "mock.toml"
    config.write_text(content)
    result = run_cli("--config", str(config))
    assert (
        result.returncode == 2 and problem in result.stderr and len(result.stderr.splitlines()) == 1
    )


def test_config_file_sets_and_flags_override(tmp_path: Path) -> None:
    """A config's [mock_server] table sets values; flags given too win over it."""
    config = tmp_path / "mock.toml"
    config.write_text('[mock_server]\npages = 50\nlatency = "20ms"\nfaults = { http_500 = 0.1 }\n')
    settings = load_settings(config, {"pages": "70"})
    assert settings.site.pages == 70 and settings.latency == pytest.approx(0.02)
    assert settings.site.faults == {"http_500": 0.1}


def test_help_documents_every_setting() -> None:
    """`mock-server --help` names every setting the config file accepts, with its type and
    default."""
    from command_kit.declared import option_rows
    from mock_server.server_settings import ServerSettings, SiteSettings

    result = run_cli("--help")
    text = " ".join(result.stdout.split())
    for flag, default in option_rows(SiteSettings, ServerSettings):
        assert flag in result.stdout, flag
        if default:
            assert f"[default: {default}]" in text, flag
    assert "--latency DURATION" in result.stdout and "--page-size SIZE" in result.stdout


def test_port_zero_prints_the_bound_url_first() -> None:
    """`python -m mock_server --port 0` prints the URL it bound on its first stdout line."""
    command = [sys.executable, "-m", "mock_server", "--port", "0", "--pages", "5"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:") and url.endswith("/")
            with urllib.request.urlopen(url, timeout=10) as response:
                assert response.status == 200
        finally:
            process.terminate()
            assert process.wait(timeout=10) == 0


def settled_stats(origin: str) -> Any:
    """Return /_stats once no request is in flight (see `conftest.get_stats`), bounded."""
    deadline = time.monotonic() + 10
    while True:
        with urllib.request.urlopen(origin + "/_stats", timeout=10) as response:
            stats = json.load(response)
        if stats["in_flight"] == 0 or time.monotonic() > deadline:
            return stats
        time.sleep(0.01)


def test_process_server_with_two_workers_keeps_exact_stats() -> None:
    """Two worker processes share one port, and /_stats counts every request across both."""
    settings = load_settings(overrides={"pages": 100, "workers": 2, "hosts": 2})
    with MockServerProcess(settings) as server:
        assert len(server.pids) == 2 and len(server.origins) == 2

        def get(path_and_origin: tuple[str, str]) -> int:
            origin, path = path_and_origin
            with urllib.request.urlopen(origin + path, timeout=10) as response:
                return int(response.status)

        jobs = [(server.origins[index % 2], "/") for index in range(400)]
        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(get, jobs))
        stats = settled_stats(server.origins[0])
    assert statuses == [200] * 400
    assert stats["requests"] == 400 and stats["in_flight"] == 0
    assert [host["requests"] for host in stats["hosts"].values()] == [200, 200]
