"""Helpers for crawler tests: crawl a mock server, read the records, translate the oracle."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from crawler.core.engine import CrawlCore
from crawler.core.records import ErrorKind, Record
from crawler.settings import load_crawl_settings
from crawler.strategies.async_ import crawl
from crawler.strategies.context import RunContext
from mock_server import CrawlExpectation, FaultKind, MockServer

# What the crawler must call each problem the site model knows.
ERROR_FOR_PROBLEM: dict[FaultKind | None, ErrorKind | None] = {
    None: None,
    FaultKind.HTTP_500: ErrorKind.HTTP_5XX,
    FaultKind.HTTP_429: ErrorKind.HTTP_429,
    FaultKind.RESET: ErrorKind.RESET,
    FaultKind.TRUNCATED: ErrorKind.TRUNCATED,
    FaultKind.HANG: ErrorKind.TIMEOUT,
    FaultKind.BROKEN_LINK: ErrorKind.HTTP_4XX,
    FaultKind.NON_HTML: ErrorKind.NOT_HTML,
    FaultKind.OVERSIZE: ErrorKind.TOO_LARGE,
    FaultKind.REDIRECT_LOOP: ErrorKind.REDIRECT_LOOP,
    FaultKind.OFFSITE_REDIRECT: ErrorKind.OUT_OF_SCOPE_REDIRECT,
    FaultKind.ROBOTS: ErrorKind.ROBOTS,
}

Outcome = tuple[str, int | None, int, ErrorKind | None]


def read_records(path: Path) -> list[Record]:
    """Read a JSON Lines output file (every line must parse)."""
    return [Record.from_json(line) for line in path.read_text(encoding="utf-8").splitlines()]


def outcomes(records: list[Record]) -> set[Outcome]:
    """Return (url, status, depth, error) of each record."""
    return {(record.url, record.status, record.depth, record.error) for record in records}


def expected_outcomes(expectation: CrawlExpectation) -> set[Outcome]:
    """Return the oracle's records as (url, status, depth, error)."""
    return {
        (record.url, record.status, record.depth, ERROR_FOR_PROBLEM[record.problem])
        for record in expectation.records.values()
    }


async def crawl_server(
    server: MockServer, output: Path, **settings: Any
) -> tuple[list[Record], CrawlCore]:
    """Crawl `server` with the async strategy on the running loop; return records and core."""
    settings.setdefault("seeds", [server.base_url])
    settings.setdefault("quiet", True)
    settings.setdefault("analysis_cost", 0)  # fingerprints have tests of their own
    crawl_settings = load_crawl_settings(overrides={"output": str(output), **settings})
    core = CrawlCore(crawl_settings.policy)
    await crawl(core, crawl_settings, RunContext(str(output), handle_signals=False))
    check_output(output, core.stats.records)
    return read_records(output), core


def state_lines(state: Path) -> list[str]:
    """Return the records a state file holds, as the JSON lines `crawler export` writes."""
    db = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        return [line for (line,) in db.execute("SELECT line FROM records ORDER BY number")]
    finally:
        db.close()


def check_output(output: Path, pages: int, state: Path | None = None) -> None:
    """The crawl's count of records (its summary's `pages`, or the state's `records` for a resumed
    crawl) is the number of lines written, each whole; with a state file, the lines are exactly
    the records it holds (`crawler export`)."""
    text = output.read_text(encoding="utf-8") if output.exists() else ""
    assert text == "" or text.endswith("\n"), "the output ends in a torn line"
    lines = text.splitlines()
    assert len(lines) == pages, f"the summary counts {pages} records, the output holds {len(lines)}"
    if state is not None:
        assert state_lines(state) == lines, "the output is not the state file's records"


# Runs a command and writes its peak resident memory (kB) to the file named first. On Linux a
# child's ru_maxrss starts at its parent's high-water mark (exec takes it from the parent's memory
# map), so measured straight from the test process, it would be the test's own peak; measured
# from this small launcher, it is the command's.
_PEAK_RSS_LAUNCHER = """
import os, subprocess, sys
process = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(process.pid, 0)
process.returncode = os.waitstatus_to_exitcode(status)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(process.returncode if process.returncode >= 0 else 128 - process.returncode)
"""


def run_measuring_peak_rss(command: list[str], scratch: Path, **popen: Any) -> tuple[int, float]:
    """Run `command` to its end; return its exit status and peak resident memory in MiB (its
    own, and its pool processes' if it has them)."""
    report = scratch / f"peak-rss-{os.getpid()}-{time.monotonic_ns()}"
    completed = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS_LAUNCHER, str(report), *command], check=False, **popen
    )
    peak_mb = int(report.read_text()) / 1024
    report.unlink()
    return completed.returncode, peak_mb


def crawl_from_command(
    seed: str, out: Path, *flags: str, timeout: float
) -> tuple[list[Record], dict[str, Any]]:
    """Run `crawler crawl seed flags` (one analysis worker) into `out`; return its records and
    summary. The crawl must succeed within `timeout` seconds."""
    out.mkdir(parents=True, exist_ok=True)
    output, stats = out / "records.jsonl", out / "stats.json"
    result = subprocess.run(
        [sys.executable, "-m", "crawler", "crawl", seed, "-q", "-o", str(output), "--stats-json",
         str(stats), "--workers", "1", *flags],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [Record.from_json(line) for line in output.read_text().splitlines()]
    return records, json.loads(stats.read_text())
