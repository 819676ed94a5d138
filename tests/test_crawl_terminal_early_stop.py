"""`crawler crawl` stopped by a Ctrl-C typed in its terminal in its first seconds, and a crawl
whose page-analysis worker is killed: whatever was starting, the crawl ends as a stop does.

A terminal sends its interrupt to the whole foreground process group, so a Ctrl-C reaches a
crawl's worker processes as well as the crawl; `os.kill` of the crawl alone does not. These tests
run the real command as the foreground process group of a pseudo-terminal and type the
interrupt character into it, as a person does.
"""

from __future__ import annotations

import json
import os
import pty
import random
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.core.records import ErrorKind
from mock_server import MockServerProcess, load_settings
from tests.crawling import check_output, read_records
from tests.test_crawl_terminal import STRATEGIES, Lines
from tests.test_strategies import _children_of, _requests_served

REPOSITORY = Path(__file__).resolve().parent.parent
CTRL_C = b"\x03"  # the terminal's interrupt character (VINTR), as a new pseudo-terminal has it

# When each strategy's Ctrl-C is typed, in seconds after the command starts: seeded moments of
# the first three seconds (importing, opening, starting a process pool, the first pages), and for
# async-procs also the moments its workers used to die at, importing aiohttp.
_moments = random.Random(20240611)
CTRL_C_MOMENTS = [
    (strategy, round(moment, 2))
    for strategy in STRATEGIES
    for moment in sorted(
        [_moments.uniform(0.6, 3.0) for _ in range(2)]
        + ([0.5, 1.0, 1.5] if strategy == "async-procs" else [])
    )
]


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """A site that takes a crawl of four requests at a time well over three seconds."""
    with MockServerProcess(load_settings(overrides={"pages": 1000, "latency": "50ms"})) as server:
        yield server.base_url


def run_in_terminal(arguments: list[str], ctrl_c_at: float, timeout: float = 90) -> tuple[int, str]:
    """Run `python -m crawler ARGUMENTS` as the foreground process group of a new terminal, type
    Ctrl-C `ctrl_c_at` seconds after it starts, and return its exit status and the screen."""
    pid, primary = pty.fork()  # the child leads a new session, the terminal its controlling one
    if pid == 0:
        try:
            os.chdir(REPOSITORY)
            os.execv(sys.executable, [sys.executable, "-m", "crawler", *arguments])
        finally:
            os._exit(127)
    started = time.monotonic()
    screen = Lines(primary)
    time.sleep(max(started + ctrl_c_at - time.monotonic(), 0.0))
    os.write(primary, CTRL_C)
    deadline = time.monotonic() + timeout
    while (waited := os.waitpid(pid, os.WNOHANG)) == (0, 0):
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError(f"still running {timeout}s after Ctrl-C: {screen.rest()}")
        time.sleep(0.05)
    text = screen.rest()
    os.close(primary)
    return os.waitstatus_to_exitcode(waited[1]), text


@pytest.mark.slow
@pytest.mark.parametrize(("strategy", "ctrl_c_at"), CTRL_C_MOMENTS)
def test_ctrl_c_in_the_first_seconds_stops_the_crawl_cleanly(
    site: str, strategy: str, ctrl_c_at: float, tmp_path: Path
) -> None:
    """Ctrl-C typed at any moment of a crawl's first seconds, its worker processes included in
    the terminal's process group: exit status 130, no traceback, whole records, and the summary
    (or, before the crawl began, the one line that says it was interrupted)."""
    output, stats = tmp_path / "crawl.jsonl", tmp_path / "stats.json"
    status, screen = run_in_terminal(
        [
            "crawl",
            site,
            "--strategy",
            strategy,
            "--concurrency",
            "4",
            "--workers",
            "2",
            "-o",
            str(output),
            "--stats-json",
            str(stats),
        ],
        ctrl_c_at,
    )
    assert status == 130, screen
    assert "Traceback" not in screen, screen
    if "Crawl summary" not in screen:
        # The Ctrl-C came while the command was still loading: nothing was crawled.
        assert "crawler: interrupted" in screen, screen
        assert not output.exists() or output.read_text() == ""
        return
    summary = json.loads(stats.read_text())
    assert summary["finish_reason"] == "interrupted", screen
    check_output(output, summary["pages"])
    assert all(record.error in (None, ErrorKind.INTERRUPTED) for record in read_records(output))


def pool_workers(pid: int) -> list[int]:
    """Return the page-analysis workers of the crawl `pid` (not its resource tracker)."""
    return [
        child
        for child in _children_of(pid)
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


def crawling_with_a_pool(site: str, tmp_path: Path) -> subprocess.Popen[str]:
    """Start an async-procs crawl of `site` with two workers; return once it is parsing pages."""
    before = _requests_served(site)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crawler",
            "crawl",
            site,
            "--strategy",
            "async-procs",
            "--concurrency",
            "16",
            "--workers",
            "2",
            "-o",
            str(tmp_path / "crawl.jsonl"),
            "--stats-json",
            str(tmp_path / "stats.json"),
        ],
        cwd=REPOSITORY,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while _requests_served(site) < before + 100:
        assert time.monotonic() < deadline, "the crawl never got going"
        time.sleep(0.05)  # the pool is up (the crawl starts once it is) and pages are parsed
    return process


@pytest.mark.slow
def test_a_worker_killed_mid_crawl_costs_no_page(site: str, tmp_path: Path) -> None:
    """kill -9 of one page-analysis worker mid-crawl: a new pool parses the pages it held, so
    the crawl goes on to the end and every page has its record, with one warning and no
    traceback; no worker outlives the crawl."""
    process = crawling_with_a_pool(site, tmp_path)
    workers = pool_workers(process.pid)
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 60
    while len(pool_workers(process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # the new pool is up: its workers too must go with the crawl
    workers += pool_workers(process.pid)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert "crawler: warning: a page-analysis worker was lost" in stderr, stderr
    output = tmp_path / "crawl.jsonl"
    check_output(output, json.loads((tmp_path / "stats.json").read_text())["pages"])
    records = read_records(output)
    assert len(records) == len({record.url for record in records}) == 1000
    assert all(record.error is None and record.status == 200 for record in records)
    assert not any(map(alive, workers))  # every pool's workers, the lost one's too


@pytest.mark.slow
def test_workers_exit_when_the_crawl_is_killed(site: str, tmp_path: Path) -> None:
    """kill -9 of the crawl itself: its workers, deaf to the stop signals, exit within a second
    or two by themselves."""
    process = crawling_with_a_pool(site, tmp_path)
    workers = pool_workers(process.pid)
    assert len(workers) == 2
    process.kill()
    process.communicate(timeout=60)
    deadline = time.monotonic() + 10
    while any(map(alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(alive, workers))


def alive(pid: int) -> bool:
    """Say whether process `pid` runs (a zombie waiting for its reaper does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_terminal_that_closes_mid_crawl_stops_it_as_a_hangup(
    site: str, strategy: str, tmp_path: Path
) -> None:
    """The crawl's terminal goes away (a window closed, an ssh session dropped): the kernel hangs
    up its session, and every later write to the terminal fails. The crawl stops as SIGHUP asks,
    writes its whole records and --stats-json, and exits 129, not 1 on a write to a dead terminal.
    """
    output, stats = tmp_path / "crawl.jsonl", tmp_path / "stats.json"
    arguments = ["crawl", site, "--strategy", strategy, "--concurrency", "2", "--workers", "2"]
    pid, primary = pty.fork()
    if pid == 0:
        try:
            os.chdir(REPOSITORY)
            os.execv(
                sys.executable,
                [
                    sys.executable,
                    "-m",
                    "crawler",
                    *arguments,
                    "-o",
                    str(output),
                    "--stats-json",
                    str(stats),
                ],
            )
        finally:
            os._exit(127)
    deadline = time.monotonic() + 90
    # Read the screen (so the child never blocks on a full terminal) until records are written.
    while not (output.exists() and output.read_text().count("\n") >= 5):
        assert time.monotonic() < deadline, "no records written"
        if select.select([primary], [], [], 0.1)[0]:
            os.read(primary, 65536)
    os.close(primary)  # the last descriptor of the terminal's far end: the kernel hangs up
    while (waited := os.waitpid(pid, os.WNOHANG)) == (0, 0):
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError("still running after its terminal closed")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(waited[1]) == 128 + signal.SIGHUP
    summary = json.loads(stats.read_text())
    assert summary["finish_reason"] == "interrupted"
    check_output(output, summary["pages"])
