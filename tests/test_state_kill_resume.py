"""Crawls killed with SIGKILL at random moments and resumed write exactly one record per URL.

Each strategy's crawl runs as `crawler crawl --state F.db --resume`, the same command line every
time, against one mock server in its own process; the test kills it at random moments, then lets
the last run finish. The output must then be what an uninterrupted crawl writes (the site model's
records), with no URL twice and every line whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from crawler.strategies import STRATEGIES
from mock_server import MockServerProcess, expected_crawl, load_settings
from mock_server.site import Site
from tests.crawling import Outcome, check_output, expected_outcomes, outcomes, read_records
from tests.test_state import STEADY_FAULTS
from tests.test_strategies import processes_with_marker

RUNS_CUT_SHORT = 6  # per strategy: five SIGKILLs and one SIGINT
MAX_DEPTH = 8


def crawl_command(strategy: str, seed: str, state: Path, output: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "crawler",
        "crawl",
        seed,
        "--state",
        str(state),
        "--resume",
        "--output",
        str(output),
        "--strategy",
        strategy,
        "--quiet",
        "--concurrency",
        "4",
        "--per-host",
        "4",
        "--max-depth",
        str(MAX_DEPTH),
        "--retries",
        "1",
        "--backoff",
        "10ms",
        "--analysis-cost",
        "0",
        "--workers",
        "1",
    ]


def wait_until_open(process: subprocess.Popen[bytes], path: Path, timeout: float = 30) -> bool:
    """Wait until `process` has `path` open (its crawl has begun); False if it ended first."""
    deadline = time.monotonic() + timeout
    fds = Path(f"/proc/{process.pid}/fd")
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) == str(path) for fd in fds.iterdir()):
                return True
        time.sleep(0.01)
    return False


def committed_records(state: Path) -> int:
    if not state.exists():
        return 0
    db = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM records").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # killed before the schema was written
    finally:
        db.close()


def finish_and_check(
    strategy: str, command: list[str], state: Path, output: Path, expected: set[Outcome]
) -> None:
    """Run the crawl to its end; its output must then be the model's records, each once."""
    finished = subprocess.run(command, capture_output=True, timeout=180, check=False)
    assert finished.returncode == 0, finished.stderr.decode()[-2000:]

    records = read_records(output)  # every line must parse: no torn line is left
    urls = [record.url for record in records]
    assert len(urls) == len(set(urls)), f"{strategy}: a URL was recorded twice"
    assert outcomes(records) == expected, strategy
    exported = subprocess.run(
        [sys.executable, "-m", "crawler", "export", str(state)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert exported.stdout == output.read_bytes()
    check_output(output, len(expected), state)


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_writes_each_record_exactly_once(
    tmp_path: Path,
) -> None:
    """Runs cut short (five by SIGKILL, one by SIGINT, per strategy) then one run to the end
    leave every strategy's output equal to the model's records: nothing lost, nothing doubled."""
    settings = load_settings(
        overrides={"pages": 600, "latency": "30ms", "faults": STEADY_FAULTS, "links": 12}
    )
    rng = random.Random(20261123)
    mid_crawl_kills = sigkills = 0
    marker = f"kill-test-{os.getpid()}"
    with MockServerProcess(settings) as server:
        site = Site(settings.site, server.origins)
        expected = expected_outcomes(expected_crawl(site, max_depth=MAX_DEPTH, retries=1))
        to_finish = {}
        for strategy in sorted(STRATEGIES):
            state, output = tmp_path / f"{strategy}.db", tmp_path / f"{strategy}.jsonl"
            command = crawl_command(strategy, server.base_url, state, output)
            for run in range(RUNS_CUT_SHORT):
                process = subprocess.Popen(
                    command,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env={**os.environ, "CRAWL_TEST_MARKER": marker},
                )
                # From the moment the crawl opens its state (start-up done) to a second later:
                # anywhere from the robots.txt fetch to mid-write of a block of records.
                assert wait_until_open(process, state), "the crawl never opened its state file"
                time.sleep(rng.uniform(0.0, 1.0))
                if process.poll() is not None:
                    break  # it finished first
                if run == 2:
                    process.send_signal(signal.SIGINT)
                    assert process.wait(timeout=30) in (0, 130)
                else:
                    process.kill()
                    process.wait(timeout=30)
                    sigkills += 1
                done = committed_records(state)
                mid_crawl_kills += 0 < done < len(expected)
            to_finish[strategy] = command, state, output
        # The runs to the end, one per strategy, mostly wait on the server: they go side by
        # side. (The runs cut short went one at a time: where a kill lands depends on timing.)
        with ThreadPoolExecutor(len(to_finish)) as pool:
            finishing = [
                pool.submit(finish_and_check, strategy, *crawl, expected)
                for strategy, crawl in to_finish.items()
            ]
            for finished in finishing:
                finished.result()

        # Pages in flight at a kill were fetched again: some URL reached the server twice.
        with urllib.request.urlopen(server.origins[0] + "/_stats?urls=1", timeout=10) as reply:
            requests_per_url = json.load(reply)["urls"]
    assert sigkills >= 20, f"only {sigkills} runs were killed before they finished"
    # A killed crawl cannot shut its process pool down: the workers must notice and leave.
    deadline = time.monotonic() + 5
    while processes_with_marker(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_with_marker(marker) == []
    assert mid_crawl_kills >= 12, f"only {mid_crawl_kills} kills landed mid-crawl"
    assert max(requests_per_url.values()) > len(STRATEGIES)
