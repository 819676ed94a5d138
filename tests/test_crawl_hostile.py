"""Hostile input: each attack the mock site can make costs one record, never the crawl.

Every strategy crawls a site with every hostile fault on, as `crawler crawl` in its own process:
the records must name each attack the same way, peak memory must stay far below what the bombs
inflate to, nothing outside the site may be requested, and nothing written outside the paths given.
That the mock serves each attack as described is tested in tests/test_mock_http.py; that the
parser refuses a page nested too deep, in tests/test_pages_parse.py.
"""

from __future__ import annotations

import contextlib
import errno
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from yarl import URL

from crawler.strategies import STRATEGIES
from mock_server import MockServerProcess, hostile, load_settings
from tests.crawling import check_output, read_records, run_measuring_peak_rss

# What each hostile resource must be recorded as (None: a page, parsed without harm).
EXPECTED_ERRORS: dict[str, str | None] = {
    "bomb.html": "too_large",
    "endless.html": "too_large",
    "drip.html": "timeout",
    "one-line.html": "too_large",
    "nested.html": "parse",
    "bad-bytes.html": None,
    "links.html": None,
    "to-file": "bad_redirect",
    "to-data": "bad_redirect",
    "to-other-port": "out_of_scope_redirect",
    "no-location": "bad_redirect",
    "two-lengths.html": "protocol",
    "two-types.html": None,
    "binary.html": None,
    "page.png": "not_html",
}
PEAK_RSS_LIMIT_MB = 300  # the bomb inflates to 512 MiB, the endless body to 1 GiB
Outcomes = dict[str, str | None]  # the error of each URL path


@contextlib.contextmanager
def listener(origin: str) -> Iterator[socket.socket | None]:
    """Listen on `origin`'s port (another port of this machine), to catch any connection."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", URL(origin).port or 80))
    except OSError as error:
        assert error.errno == errno.EADDRINUSE
        sock.close()
        yield None  # taken by someone else: the records alone show it was not requested
        return
    sock.listen(16)
    sock.setblocking(False)
    try:
        yield sock
    finally:
        sock.close()


def crawl_in_child(command: list[str], cwd: Path) -> tuple[int, float]:
    """Run a crawl; return its exit status and peak resident memory in MB."""
    return run_measuring_peak_rss(
        command,
        cwd.parent,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def survive_every_attack(strategy: str, base_url: str, origin: str, tmp_path: Path) -> Outcomes:
    """Crawl the hostile site with `strategy` in its own process, check what it recorded, wrote
    and took, and return each URL's error."""
    cwd, out = tmp_path / strategy / "cwd", tmp_path / strategy / "out"
    cwd.mkdir(parents=True)
    out.mkdir()
    status, peak_mb = crawl_in_child(
        [
            sys.executable,
            "-m",
            "crawler",
            "crawl",
            base_url,
            "--strategy",
            strategy,
            "--quiet",
            "--timeout",
            "2s",
            "--connect-timeout",
            "1s",
            "--retries",
            "0",
            "--analysis-cost",
            "0",
            "--output",
            str(out / "records.jsonl"),
            "--state",
            str(out / "crawl.db"),
            "--stats-json",
            str(out / "summary.json"),
        ],
        cwd,
    )
    assert status == 0, strategy
    assert peak_mb < PEAK_RSS_LIMIT_MB, f"{strategy} peaked at {peak_mb:.0f} MB"
    assert list(cwd.iterdir()) == []
    assert sorted(path.name for path in out.iterdir()) == [
        "crawl.db",
        "records.jsonl",
        "summary.json",
    ]
    records = read_records(out / "records.jsonl")
    summary = json.loads((out / "summary.json").read_text())
    check_output(out / "records.jsonl", summary["pages"], out / "crawl.db")
    assert all(record.url.startswith(origin + "/") for record in records)
    outcomes = {
        record.url.removeprefix(origin): (record.error and record.error.value) for record in records
    }
    for name, error in EXPECTED_ERRORS.items():
        hits = [url for url in outcomes if url.endswith(f"/{name}")]
        assert hits, f"{strategy}: {name} was never crawled"
        assert {outcomes[url] for url in hits} == {error}, (strategy, name)
    # The links page's only in-scope links: bad escapes, and a NUL-led href that HTML turns
    # into a relative path (both 404); the rest were never requested.
    escaped = [url for url in outcomes if "bad%zz%escape%" in url]  # sent as browsers do
    assert [outcomes[url] for url in escaped] == ["http_4xx"]
    # The 10 MB robots.txt did not stop the crawl at its last line's `Disallow: /`.
    assert sum(error is None for error in outcomes.values()) >= 30
    return outcomes


@pytest.mark.slow
def test_every_strategy_survives_every_attack(tmp_path: Path) -> None:
    """Each strategy records each hostile resource as EXPECTED_ERRORS says, the crawl goes on to
    the end, peak memory stays bounded, and only in-scope URLs are requested or written."""
    settings = load_settings(overrides={"pages": 30, "faults": "hostile"})
    with MockServerProcess(settings) as server:
        origin = server.origins[0]
        with listener(hostile.other_port_origin(origin)) as other_port:
            # The crawls mostly wait (on the dripping page's timeout above all): side by side.
            with ThreadPoolExecutor(len(STRATEGIES)) as pool:
                crawls = {
                    strategy: pool.submit(
                        survive_every_attack, strategy, server.base_url, origin, tmp_path
                    )
                    for strategy in sorted(STRATEGIES)
                }
                outcomes_by_strategy = {
                    strategy: crawl.result() for strategy, crawl in crawls.items()
                }
            if other_port is not None:
                with pytest.raises(BlockingIOError):
                    other_port.accept()
    first = next(iter(outcomes_by_strategy.values()))
    assert all(outcomes == first for outcomes in outcomes_by_strategy.values())
