"""`crawler crawl` in a terminal, in a pipe, and stopped by hand: what a person sees and keeps.

Each test runs the real command against a mock server in its own process. Where a terminal
matters, stderr is a pseudo-terminal, as it is when a person types the command.
"""

from __future__ import annotations

import json
import os
import pty
import queue
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

from crawler.core.records import Record
from mock_server import MockServerProcess, load_settings
from tests.crawling import check_output

CRAWLER = [sys.executable, "-m", "crawler", "crawl"]
STRATEGIES = ["sync", "threads", "async", "async-procs", "loop"]


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """A 300-page mock site with a little latency, so a crawl lasts long enough to watch."""
    with MockServerProcess(load_settings(overrides={"pages": 300, "latency": "20ms"})) as server:
        yield server.base_url


@pytest.fixture(scope="module")
def slow_site() -> Iterator[str]:
    """A site whose every answer takes a minute: whatever is asked is still in flight."""
    with MockServerProcess(load_settings(overrides={"pages": 50, "latency": "60s"})) as server:
        yield server.base_url


def in_flight(base_url: str) -> int:
    """Return how many requests the mock server is serving now."""
    with urllib.request.urlopen(base_url + "_stats", timeout=10) as response:
        stats: dict[str, Any] = json.load(response)
    return int(stats["in_flight"])


class Lines:
    """The lines a child writes to a pipe or a terminal, read on a thread as they come."""

    def __init__(self, fd: int) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(fd,), daemon=True)
        self._thread.start()

    def _read(self, fd: int) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # a pseudo-terminal's reader gets EIO once the child has gone
                chunk = b""
            if not chunk:
                break
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            for line in complete:
                self.lines.put(line.decode("utf-8", "replace"))
        if buffer:
            self.lines.put(buffer.decode("utf-8", "replace"))

    def wait_for(self, pattern: str, timeout: float = 60) -> str:
        """Return the first line (from now on) matching `pattern`, waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            self.seen.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matched {pattern!r}; saw {self.seen[-20:]}")

    def rest(self) -> str:
        """Return everything read so far that was not yet taken, once the writer has gone."""
        self._thread.join(timeout=30)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return "\n".join(self.seen)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_records_go_down_the_pipe_while_the_status_line_is_on_the_terminal(
    site: str, strategy: str
) -> None:
    """`crawler crawl -o - | jq` typed in a terminal: every record goes to stdout, the status
    line and the summary to the terminal, and no record lands on the terminal."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [*CRAWLER, site, "--strategy", strategy, "-o", "-", "--concurrency", "4"],
        stdin=secondary,
        stdout=subprocess.PIPE,
        stderr=secondary,
    )
    os.close(secondary)
    terminal = Lines(primary)
    stdout, _ = process.communicate(timeout=120)
    screen = terminal.rest()
    os.close(primary)
    assert process.returncode == 0, screen
    records = [Record.from_json(line) for line in stdout.decode().splitlines()]
    assert len(records) == 300 and all(record.status == 200 for record in records)
    assert "Crawl summary" in screen and "300 (300 ok)" in screen
    assert "in flight" in screen  # the live status line was drawn on the terminal
    assert '{"url"' not in screen


def read_one_line_and_leave(command: list[str]) -> tuple[str, int, str]:
    """Run `command | head -1`: read its first line, close the pipe; return the line, the exit
    status and all of stderr."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline().decode()
    process.stdout.close()
    with process.stderr:
        stderr = process.stderr.read().decode()
    return first, process.wait(timeout=60), stderr


@pytest.mark.slow
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_reader_that_goes_away_ends_the_crawl_quietly(site: str, strategy: str) -> None:
    """`crawler crawl -o - | head -1`: the crawl stops at the closed pipe with the shell's status
    for SIGPIPE (141), and says nothing: no traceback, no error, no summary."""
    first, status, stderr = read_one_line_and_leave(
        [*CRAWLER, site, "--strategy", strategy, "-o", "-", "--concurrency", "4"]
    )
    assert json.loads(first)["depth"] == 0
    assert status == 141, stderr
    assert stderr == ""


def test_stats_json_to_stdout_follows_the_records(site: str, tmp_path: Path) -> None:
    """`--stats-json -` writes the summary to stdout, after the records when they go there too."""
    result = subprocess.run(
        [*CRAWLER, site, "-o", "-", "--stats-json", "-", "--max-pages", "40", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    records = [Record.from_json(line) for line in lines[:40]]
    summary = json.loads("\n".join(lines[40:]))
    assert len(records) == summary["pages"] == 40
    assert summary["finish_reason"] == "max_pages" and summary["seeds"] == [site]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_first_ctrl_c_says_what_it_waits_for_and_a_second_stops_at_once(
    slow_site: str, strategy: str, tmp_path: Path
) -> None:
    """A first Ctrl-C prints one line: stopping, how many requests get how long, Ctrl-C again to
    stop now. The second ends the crawl at once (the grace was a minute), records whole."""
    output, stats = tmp_path / "crawl.jsonl", tmp_path / "stats.json"
    before = in_flight(slow_site)
    process = subprocess.Popen(
        [
            *CRAWLER,
            slow_site,
            "--strategy",
            strategy,
            "--ignore-robots",
            "--grace",
            "60s",
            "-o",
            str(output),
            "--stats-json",
            str(stats),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    lines = Lines(process.stderr.fileno())
    deadline = time.monotonic() + 60
    while in_flight(slow_site) <= before and time.monotonic() < deadline:
        time.sleep(0.05)  # the seed is out, and will be for a minute
    process.send_signal(signal.SIGINT)
    notice = lines.wait_for("stopping")
    assert notice == (
        "crawler: Ctrl-C: stopping; 1 request in flight gets up to 1m, Ctrl-C again to stop now"
    )
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    lines.wait_for("Ctrl-C again: stopping now")
    process.wait(timeout=50)
    assert time.monotonic() - sent < 50  # well before the minute of grace ran out
    assert process.returncode == 130
    summary = json.loads(stats.read_text())
    assert summary["finish_reason"] == "interrupted"
    check_output(output, summary["pages"])
    assert [Record.from_json(line).error for line in output.read_text().splitlines()] == [
        "interrupted"
    ]
    assert "Traceback" not in lines.rest()
    process.stderr.close()


@pytest.mark.slow
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_time_limit_stops_scheduling_and_says_so(site: str, strategy: str, tmp_path: Path) -> None:
    """`--time-limit 2s` on a crawl that would take longer: it stops like a Ctrl-C, exits 0,
    and its summary says `time_limit` and what was left queued."""
    output = tmp_path / "crawl.jsonl"
    result = subprocess.run(
        [
            *CRAWLER,
            site,
            "--strategy",
            strategy,
            "--concurrency",
            "2",
            "--delay",
            "50ms",
            "--time-limit",
            "2s",
            "-o",
            str(output),
            "--stats-json",
            "-",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["finish_reason"] == "time_limit"
    # On a busy machine a process pool may still be starting when the time is up: then the seed
    # itself is what is left, queued, and no page was written.
    assert summary["pages"] < 300 and summary["pages"] + summary["left"]["queued"] > 0
    if summary["pages"] > 1:
        # The seed's links were queued before the stop (on a busy machine a process pool may
        # still be starting when the time is up, and then nothing is queued yet).
        assert summary["left"]["queued"] > 0
    check_output(output, summary["pages"])


def test_export_into_a_pipe_that_closes_is_quiet(site: str, tmp_path: Path) -> None:
    """`crawler export crawl.db | head -1`: one record, then a quiet stop with status 141."""
    state = tmp_path / "crawl.db"
    crawled = subprocess.run(
        [*CRAWLER, site, "--state", str(state), "-o", "", "-q"], capture_output=True, timeout=120
    )
    assert crawled.returncode == 0, crawled.stderr
    first, status, stderr = read_one_line_and_leave(
        [sys.executable, "-m", "crawler", "export", str(state)]
    )
    assert json.loads(first)["depth"] == 0
    assert status in (0, 141) and stderr == ""
