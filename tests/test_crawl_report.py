"""What a crawl tells its user besides the records: why it ended, its log, its broken links.

Every test runs the real `crawler crawl` command against a mock server in its own process.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crawler.core.records import Record
from mock_server import MockServerProcess, load_settings
from tests.crawling import check_output

CRAWLER = [sys.executable, "-m", "crawler", "crawl"]
STRATEGIES = ["sync", "threads", "async", "async-procs", "loop"]


def crawl(*args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run a crawl to its end; return it and its `--stats-json` summary (written to stdout)."""
    result = subprocess.run(
        [*CRAWLER, *args, "--stats-json", "-"], capture_output=True, text=True, timeout=180
    )
    return result, json.loads(result.stdout) if result.stdout.strip() else {}


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """A small mock site: 120 pages, every strategy crawls it in seconds."""
    with MockServerProcess(load_settings(overrides={"pages": 120, "links": 6})) as server:
        yield server.base_url


@pytest.fixture(scope="module")
def faulty_site() -> Iterator[str]:
    """A site with pages that fail for good (500s, truncated bodies) and broken links."""
    settings = load_settings(
        overrides={"pages": 150, "faults": "http_500=0.03,truncated=0.03,broken_link=0.03"}
    )
    with MockServerProcess(settings) as server:
        yield server.base_url


def test_a_finished_crawl_says_so_with_its_strategy_seeds_times_and_depth(
    site: str, tmp_path: Path
) -> None:
    """The summary carries finish_reason `finished`, nothing left, the strategy, the seeds, start
    and finish times, the deepest level reached, and the retry count."""
    result, summary = crawl(site, "--strategy", "threads", "-o", str(tmp_path / "c.jsonl"))
    assert result.returncode == 0, result.stderr
    assert summary["finish_reason"] == "finished"
    assert summary["left"] == {"queued": 0, "retries": 0} and summary["retries"] == 0
    assert summary["strategy"] == "threads" and summary["seeds"] == [site]
    assert summary["started_at"] <= summary["finished_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", summary["started_at"])
    records = [Record.from_json(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert summary["max_depth_reached"] == max(record.depth for record in records) > 0
    assert "finished: nothing left to crawl" in result.stderr


def test_a_crawl_whose_seeds_fail_says_so(tmp_path: Path) -> None:
    """A seed nobody answers: finish_reason `seeds_failed`, exit 1, and the retries it made."""
    result, summary = crawl("http://127.0.0.1:9/", "-o", str(tmp_path / "c.jsonl"))
    assert result.returncode == 1
    assert summary["finish_reason"] == "seeds_failed"
    assert summary["retries"] == 2  # robots.txt, tried three times


def test_max_pages_is_a_finish_reason(site: str, tmp_path: Path) -> None:
    """A crawl cut by --max-pages says `max_pages`, and wrote exactly that many records."""
    output = tmp_path / "c.jsonl"
    result, summary = crawl(site, "--max-pages", "25", "-o", str(output))
    assert result.returncode == 0 and summary["finish_reason"] == "max_pages"
    check_output(output, 25)


def test_debug_logs_one_line_per_request_to_the_log_file(site: str, tmp_path: Path) -> None:
    """`--log-level debug --log-file F`: F gets one timestamped line per request,
    `200 GET url (depth N, M ms)`, robots.txt included, and a last line saying how it ended."""
    log = tmp_path / "crawl.log"
    result, summary = crawl(
        site, "--log-level", "debug", "--log-file", str(log), "-o", str(tmp_path / "c.jsonl")
    )
    assert result.returncode == 0, result.stderr
    lines = log.read_text().splitlines()
    requests = [line for line in lines if " DEBUG " in line]
    assert len(requests) == summary["requests"] == 121
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d DEBUG 404 GET \S+/robots.txt \(robots.txt, \d+ ms\)",
        requests[0],
    )
    assert re.search(rf"DEBUG 200 GET {re.escape(site)} \(depth 0, \d+ ms\)$", requests[1])
    assert lines[-1].endswith("INFO finished after " + lines[-1].split("finished after ")[1])
    assert " DEBUG " not in result.stderr


def test_info_logs_no_request_lines(site: str, tmp_path: Path) -> None:
    """At the default level, the log file has no line per request."""
    log = tmp_path / "crawl.log"
    result, _ = crawl(site, "--log-file", str(log), "-o", "")
    assert result.returncode == 0 and " DEBUG " not in log.read_text()


def test_an_unwritable_log_file_is_one_line(site: str) -> None:
    """A log file that cannot be opened: one line naming it, exit 2, no crawl."""
    result, _ = crawl(site, "--log-file", "/nonexistent-dir/crawl.log")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "crawler crawl: error: --log-file: cannot write /nonexistent-dir/crawl.log:"
        " No such file or directory"
    )


@pytest.mark.slow
def test_a_stats_line_is_logged_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    """With stderr a pipe there is no status line, so a stats line is logged every
    --stats-interval: pages, pages/s, in flight, queued, errors."""
    settings = load_settings(overrides={"pages": 200, "latency": "50ms"})
    with MockServerProcess(settings) as server:
        result, _ = crawl(
            server.base_url, "--concurrency", "2", "--stats-interval", "200ms", "-o", ""
        )
    stats_lines = [line for line in result.stderr.splitlines() if "in flight" in line]
    assert len(stats_lines) >= 2, result.stderr
    assert re.fullmatch(
        r"crawler: pages [\d,]+ \([\d,]+/s\), in flight \d+, queued [\d,]+, errors \d+,"
        r" [\d.]+s elapsed",
        stats_lines[0],
    )


def test_broken_links_are_listed_with_the_page_that_linked_them(
    faulty_site: str, tmp_path: Path
) -> None:
    """At the end, every 4xx, 5xx and failed URL is listed with the page that linked it, as
    wget's spider does; --stats-json holds the same list, and it matches the records."""
    output = tmp_path / "c.jsonl"
    result, summary = crawl(faulty_site, "-o", str(output))
    assert result.returncode == 0, result.stderr
    records = {
        record.url: record
        for record in (Record.from_json(line) for line in output.read_text().splitlines())
    }
    broken = summary["broken"]
    expected = {
        url
        for url, record in records.items()
        if record.error in ("http_4xx", "http_5xx", "truncated")
    }
    assert broken["total"] == len(expected) > 3
    assert {link["url"] for link in broken["links"]} == expected
    for link in broken["links"]:
        assert link["linked_from"] == records[link["url"]].parent
        assert link["error"] == records[link["url"]].error
    assert f"Broken links: {broken['total']}" in result.stderr
    first = broken["links"][0]
    assert f"{first['url']}\n    linked from {first['linked_from']}" in result.stderr


@pytest.mark.slow
def test_record_links_keeps_each_pages_outlinks_and_strategies_agree(
    site: str, tmp_path: Path
) -> None:
    """`--record-links` adds each page's outgoing links to its record (none without it), the
    same in every strategy, enough to rebuild the link graph."""
    graphs = {}
    for strategy in STRATEGIES:
        output = tmp_path / f"{strategy}.jsonl"
        result, _ = crawl(site, "--strategy", strategy, "--record-links", "-o", str(output))
        assert result.returncode == 0, result.stderr
        lines = output.read_text().splitlines()
        graphs[strategy] = {json.loads(line)["url"]: json.loads(line)["outlinks"] for line in lines}
    assert all(graph == graphs["sync"] for graph in graphs.values())
    graph = graphs["sync"]
    assert len(graph) == 120
    for url, outlinks in graph.items():
        for target in outlinks:
            if target.startswith(site):  # every in-site link leads to a page crawled
                assert target in graph, (url, target)
    result, _ = crawl(site, "-o", str(tmp_path / "plain.jsonl"), "--max-pages", "5")
    assert all(
        "outlinks" not in json.loads(line)
        for line in (tmp_path / "plain.jsonl").read_text().splitlines()
    )


def test_one_limit_alone_takes_its_followers_down(site: str, tmp_path: Path) -> None:
    """`--concurrency 4` alone lowers the default per-host limit with it; `--timeout 2s` alone
    lowers the default connect timeout; both crawl."""
    for flags in (["--concurrency", "4"], ["--timeout", "2s"], ["--concurrency", "1"]):
        result, summary = crawl(site, *flags, "-o", str(tmp_path / "c.jsonl"), "--max-pages", "5")
        assert result.returncode == 0, (flags, result.stderr)
        assert summary["pages"] == 5


@pytest.fixture(scope="module")
def crowded_site() -> Iterator[tuple[str, str]]:
    """Two origins of 60 pages each that serve 3 requests at once each and refuse the 4th (503
    without Retry-After, so the crawl's own backoff spaces the retries)."""
    settings = load_settings(
        overrides={
            "pages": 120,
            "links": 6,
            "hosts": 2,
            "latency": "20ms",
            "capacity": 3,
            "capacity_per": "host",
            "overload": "reject",
            "overload_retry_after": "0s",
        }
    )
    with MockServerProcess(settings) as server:
        yield server.origins[0] + "/", server.origins[1] + "/"


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_adaptive_limits_are_reported_with_their_trajectories(
    crowded_site: tuple[str, str], tmp_path: Path, strategy: str
) -> None:
    """With --adaptive, --stats-json has each origin's limit, its congestion signals and its
    trajectory from the first request on, within 1..--per-host; the summary table names them;
    every page is crawled whatever the limits did (refusals are retried)."""
    first, second = crowded_site
    output = tmp_path / "c.jsonl"
    result, summary = crawl(
        first, second, "--strategy", strategy, "--adaptive", "--per-host", "8",
        "--retries", "10", "-o", str(output),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [Record.from_json(line) for line in output.read_text().splitlines()]
    assert len(records) == 120 and all(record.error is None for record in records)
    limits = summary["limits"]
    assert limits["rule"] == "crawler"
    assert sorted(limits["origins"]) == sorted([first.rstrip("/"), second.rstrip("/")])
    for entry in limits["origins"].values():
        trajectory = entry["trajectory"]
        assert trajectory[0][1] == 1 and 0 <= trajectory[0][0] < 60
        assert [at for at, _ in trajectory] == sorted(at for at, _ in trajectory)
        assert all(1 <= limit <= 8 for _, limit in trajectory) and 1 <= entry["limit"] <= 8
    assert "limits" in result.stderr and "crawler: " in result.stderr


def test_without_adaptive_no_limits_are_reported(site: str, tmp_path: Path) -> None:
    """Fixed limits have no trajectory to show: the summary has no `limits`."""
    result, summary = crawl(site, "--max-pages", "5", "-o", str(tmp_path / "c.jsonl"))
    assert result.returncode == 0 and "limits" not in summary
