"""The lessons' claims, checked in direction through real crawls and real threads (never timed):

- threads lose updates a lock or a coroutine keeps, and a coroutine loses them too once it awaits
  between the read and the write (lessons/races.md);
- the threads strategy's lock counts the waits it causes, and says so in the summary;
- CPU work inline on the event loop makes the loop wake late by about a page's analysis, and the
  summary says how late (lessons/blocking-the-loop.md);
- the crawler's own writer keeps the loop running while the reader of its records stalls
  (lessons/files.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crawler.core.stats import LAG_SAMPLES, CrawlStats
from crawler.strategies.contention import MeasuredLock
from mock_server import MockServerProcess, load_settings

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """A mock site in a process of its own, 2 ms per response."""
    settings = load_settings(overrides={"pages": 400, "links": 20, "latency": "2ms"})
    with MockServerProcess(settings) as server:
        yield server.base_url


def crawl(base_url: str, tmp_path: Path, *flags: str) -> dict[str, Any]:
    """Run `crawler crawl` with `flags`; return its summary."""
    stats = tmp_path / "stats.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "crawler",
            "crawl",
            base_url,
            "--quiet",
            "--output",
            "",
            "--ignore-robots",
            "--stats-json",
            str(stats),
            *flags,
        ],
        check=True,
        timeout=120,
    )
    summary: dict[str, Any] = json.loads(stats.read_text())
    return summary


def races() -> Any:
    """The lesson's own code, imported from its benchmark script."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import lesson_races
    finally:
        sys.path.remove(str(BENCHMARKS))
    return lesson_races


def test_threads_lose_updates_that_a_lock_and_a_coroutine_keep() -> None:
    """Unguarded threads lose updates (one try in three is enough: a switch happens every few
    milliseconds, and each one inside an update loses it); under a lock, none is lost; coroutines
    lose none until an `await` stands between the read and the write, and then they lose some."""
    lesson = races()
    updates = 200_000
    lost = []
    for _ in range(3):
        counter = lesson.Counter()
        lesson.on_threads(lambda: lesson.add_unguarded(counter, updates))  # noqa: B023
        lost.append(lesson.WORKERS * updates - counter.value)
        if lost[-1] > 0:
            break
    assert max(lost) > 0, lost
    counter, lock = lesson.Counter(), threading.Lock()
    lesson.on_threads(lambda: lesson.add_guarded(counter, updates, lock))
    assert counter.value == lesson.WORKERS * updates
    assert lesson.on_tasks(updates, yield_between=False) == lesson.WORKERS * updates
    assert lesson.on_tasks(1000, yield_between=True) < lesson.WORKERS * 1000


def test_the_measured_lock_counts_a_wait_only_when_the_lock_was_held() -> None:
    """A free lock is taken without a wait; one held by another thread is counted as contended,
    with the time waited."""
    lock = MeasuredLock()
    with lock:
        pass
    assert (lock.acquired, lock.contended, lock.waited_s) == (1, 0, 0.0)
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with lock:
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    assert not lock.acquire(blocking=False)
    threading.Timer(0.05, release.set).start()
    with lock:
        pass
    thread.join()
    assert lock.acquired == 3 and lock.contended == 1 and lock.waited_s >= 0.04


def test_the_threads_strategy_reports_its_lock(site: str, tmp_path: Path) -> None:
    """Every request takes the core's lock at least twice (sent, completed)."""
    summary = crawl(site, tmp_path, "--strategy", "threads", "--concurrency", "16")
    lock = summary["lock"]
    assert lock["acquired"] >= 2 * summary["requests"]
    assert 0 <= lock["contended"] <= lock["acquired"] and lock["wait_s"] >= 0
    assert crawl(site, tmp_path, "--strategy", "async")["lock"] is None


def test_analysis_on_the_loop_makes_it_wake_late(site: str, tmp_path: Path) -> None:
    """Inline, every page's analysis holds the loop: its p99 lag is at least half of one page's
    CPU. The summary of a strategy with no asyncio loop has no lag."""
    inline = crawl(site, tmp_path, "--analysis-cost", "4", "--max-pages", "150")
    cpu_per_page_ms = 1000 * inline["cpu_s"] / inline["pages"]
    assert inline["loop_lag_ms"]["p99"] >= 0.5 * cpu_per_page_ms
    thread = crawl(
        site, tmp_path, "--analysis-cost", "4", "--max-pages", "150", "--analysis-in", "thread"
    )
    assert thread["pages"] == inline["pages"] and thread["loop_lag_ms"]["p50"] is not None
    assert crawl(site, tmp_path, "--strategy", "sync", "--max-pages", "20")["loop_lag_ms"] == {
        "p50": None,
        "p95": None,
        "p99": None,
        "max": None,
    }


def test_the_crawlers_writer_keeps_the_loop_running_while_its_reader_stalls(
    site: str, tmp_path: Path
) -> None:
    """Records to stdout, read by nobody for 3 s after the first byte: the pipe fills and its
    writes block, in a thread. The loop goes on (no beat 2 s late), and every record arrives."""
    stats = tmp_path / "stats.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crawler",
            "crawl",
            site,
            "--quiet",
            "--output",
            "-",
            "--ignore-robots",
            "--max-pages",
            "400",
            "--stats-json",
            str(stats),
        ],
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    with process.stdout:
        first = os.read(process.stdout.fileno(), 1)
        time.sleep(3)
        rest = b""
        while chunk := os.read(process.stdout.fileno(), 1 << 16):
            rest += chunk
    assert process.wait(timeout=120) == 0
    lines = (first + rest).decode().splitlines()
    assert len(lines) == 400 and all(json.loads(line)["url"] for line in lines)
    summary = json.loads(stats.read_text())
    assert summary["loop_lag_ms"]["max"] < 2000


def test_the_loop_lag_sample_stays_bounded_for_a_long_crawl() -> None:
    """A day's heartbeats (here 200,000 of them) keep at most LAG_SAMPLES values, yet the
    percentiles are the whole run's and the worst beat is kept exactly."""
    stats = CrawlStats()
    for beat in range(200_000):
        stats.loop_lag((beat % 1000) / 1000)  # 0 to 999 ms, evenly
    stats.loop_lag(5.0)
    lag = stats.summary(1.0)["loop_lag_ms"]
    assert len(stats.loop_lags) == LAG_SAMPLES and stats.loop_beats == 200_001
    assert lag["max"] == 5000 and abs(lag["p50"] - 500) < 20 and abs(lag["p99"] - 990) < 10
