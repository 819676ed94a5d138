"""`crawler crawl` as a user runs it: embedded site, output, summary, Ctrl-C, bad input."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crawler.core.records import Record
from mock_server import MockServerProcess, load_settings
from tests.crawling import check_output

CRAWLER = [sys.executable, "-m", "crawler"]


def crawler(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `crawler` to completion."""
    return subprocess.run(
        [*CRAWLER, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.slow
def test_crawl_with_no_url_crawls_the_embedded_site(tmp_path: Path) -> None:
    """`crawler crawl` alone serves config/default.toml's 1,000 pages and crawls them all."""
    output, stats = tmp_path / "crawl.jsonl", tmp_path / "stats.json"
    result = crawler("crawl", "-o", str(output), "--stats-json", str(stats))
    assert result.returncode == 0, result.stderr
    records = [Record.from_json(line) for line in output.read_text().splitlines()]
    assert len(records) == len({record.url for record in records}) == 1000
    summary = json.loads(stats.read_text())
    check_output(output, summary["pages"])
    assert summary["pages"] == summary["ok"] == 1000 and summary["errors"] == {}
    assert set(summary["latency_ms"]) == {"p50", "p95", "p99"} and summary["pages_per_s"] > 0
    assert "Crawl summary" in result.stderr and "1,000" in result.stderr


def test_records_to_stdout_and_summary_to_stderr(tmp_path: Path) -> None:
    """With -o -, stdout carries only JSON lines; the summary stays on stderr."""
    config = tmp_path / "small.toml"
    config.write_text("[mock_server]\npages = 30\n\n[crawl]\nconcurrency = 4\nper_host = 4\n")
    stats = tmp_path / "stats.json"
    result = crawler("crawl", "--config", str(config), "-o", "-", "--stats-json", str(stats))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == json.loads(stats.read_text())["pages"]
    assert len(lines) == 30 and all(json.loads(line)["status"] == 200 for line in lines)
    assert "Crawl summary" in result.stderr


def test_quiet_prints_nothing(tmp_path: Path) -> None:
    """--quiet: no status line, no summary."""
    config = tmp_path / "small.toml"
    config.write_text("[mock_server]\npages = 10\n")
    result = crawler("crawl", "--config", str(config), "-q", "-o", str(tmp_path / "out.jsonl"))
    assert result.returncode == 0 and result.stderr == "" and result.stdout == ""


@pytest.mark.slow
@pytest.mark.parametrize(
    "signum,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]
)
def test_signal_stops_the_crawl_and_leaves_a_complete_file(
    tmp_path: Path, signum: int, status: int
) -> None:
    """Ctrl-C (or SIGTERM) mid-crawl: records so far are all written whole, one per URL, and the
    summary is printed, within the grace period; the exit status is 128 + the signal."""
    settings = load_settings(overrides={"pages": 3000, "latency": "300ms"})
    output = tmp_path / "crawl.jsonl"
    with MockServerProcess(settings) as server:
        process = subprocess.Popen(
            [
                *CRAWLER,
                "crawl",
                server.base_url,
                "-o",
                str(output),
                "--concurrency",
                "20",
                "--grace",
                "1s",
                "--stats-json",
                str(tmp_path / "stats.json"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (
            not output.exists() or output.stat().st_size < 20_000
        ):
            time.sleep(0.05)
        sent = time.monotonic()
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=30)
        stopped_after = time.monotonic() - sent
    assert process.returncode == status, stderr
    assert stopped_after < 5
    lines = output.read_text().splitlines()
    records = [Record.from_json(line) for line in lines]
    assert 20 < len(records) < 3000
    assert len({record.url for record in records}) == len(records)
    assert "Crawl summary" in stderr and "Traceback" not in stderr
    check_output(output, json.loads((tmp_path / "stats.json").read_text())["pages"])


def test_unreachable_seed_is_one_line(tmp_path: Path) -> None:
    """A seed nobody answers at: one error line naming it, exit 1, and its record written."""
    output = tmp_path / "out.jsonl"
    result = crawler(
        "crawl",
        "http://127.0.0.1:9/",
        "-o",
        str(output),
        "--retries",
        "1",
        "--backoff",
        "10ms",
        "-q",
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "crawler: error: could not fetch http://127.0.0.1:9/ (connect)"
    ]
    # The seed's record names the failure, not what it caused (robots.txt unavailable).
    assert Record.from_json(output.read_text()).error == "connect"
    result = crawler(
        "crawl", "http://127.0.0.1:9/", "-o", str(output), "--ignore-robots", "--retries", "0", "-q"
    )
    assert result.returncode == 1 and "(connect)" in result.stderr
    assert Record.from_json(output.read_text()).error == "connect"


def test_no_arguments_prints_help_and_version_is_known() -> None:
    """`crawler` alone prints its help (exit 0); `--version` works on both commands."""
    result = crawler()
    assert result.returncode == 0 and "Commands:" in result.stdout and "crawl" in result.stdout
    version = crawler("--version")
    assert version.returncode == 0 and version.stdout.startswith("crawler, version ")
    mock = subprocess.run(
        [str(Path(sys.executable).parent / "mock-server"), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert mock.returncode == 0 and mock.stdout.startswith("mock-server, version "), mock.stderr
