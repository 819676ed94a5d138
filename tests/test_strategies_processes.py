"""The `processes` strategy: one core deciding in the crawl's process, fetching processes doing the
I/O and the parsing. The agreement, oracle, stop and hostile-site tests run it as every strategy;
these check what is its own: how it is chosen, and that a fetching process lost costs no page."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.settings import StrategyName, load_crawl_settings
from mock_server import MockServerProcess, load_settings
from tests.crawling import check_output, read_records
from tests.test_strategies import _children_of, _requests_served

REPOSITORY = Path(__file__).resolve().parent.parent


def test_processes_alone_chooses_the_strategy() -> None:
    """`--processes 3` without `--strategy` is the processes strategy with three fetchers."""
    settings = load_crawl_settings(overrides={"processes": 3})
    assert (settings.strategy, settings.processes) == (StrategyName.PROCESSES, 3)


def test_processes_with_another_strategy_is_one_line(tmp_path: Path) -> None:
    """`--processes` with `--strategy async` means nothing: one line, exit status 2."""
    done = subprocess.run(
        [sys.executable, "-m", "crawler", "crawl", "--strategy", "async", "--processes", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "crawler crawl: error: --processes: applies to --strategy processes only"
    ]


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """A site whose crawl at sixteen requests at a time lasts several seconds."""
    with MockServerProcess(load_settings(overrides={"pages": 1000, "latency": "50ms"})) as server:
        yield server.base_url


def fetchers_of(pid: int) -> list[int]:
    """Return the fetching processes of the crawl `pid` (not its resource tracker)."""
    return [
        child
        for child in _children_of(pid)
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


@pytest.mark.slow
def test_a_fetcher_killed_mid_crawl_costs_no_page(site: str, tmp_path: Path) -> None:
    """kill -9 of one fetching process mid-crawl: a new one takes its place, the requests it held
    are performed again, and every page has its one record; exit 0, one warning, no traceback."""
    before = _requests_served(site)
    output, stats = tmp_path / "crawl.jsonl", tmp_path / "stats.json"
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "crawler", "crawl", site, "--processes", "2"),
            *("--concurrency", "16", "-o", str(output), "--stats-json", str(stats)),
        ],
        cwd=REPOSITORY,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while _requests_served(site) < before + 100:
        assert time.monotonic() < deadline, "the crawl never got going"
        time.sleep(0.05)
    fetchers = fetchers_of(process.pid)
    assert len(fetchers) == 2
    os.kill(fetchers[0], signal.SIGKILL)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert "crawler: warning: a fetching process was lost" in stderr, stderr
    check_output(output, json.loads(stats.read_text())["pages"])
    records = read_records(output)
    assert len(records) == len({record.url for record in records}) == 1000
    assert all(record.error is None and record.status == 200 for record in records)
