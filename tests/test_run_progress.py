"""The live status line and the summary table a person reads."""

from __future__ import annotations

import io

from rich.console import Console

from crawler.core.engine import CrawlCore
from crawler.core.messages import FetchRequest
from crawler.run.logs import stats_line
from crawler.run.progress import StatusLine, limits_row, print_summary
from crawler.settings import load_crawl_settings


def test_status_line_names_the_live_counters() -> None:
    """The status line shows pages, rate, in flight, queued and errors, and only on a terminal."""
    core = CrawlCore(load_crawl_settings(overrides={"seeds": ["http://site.test/"]}).policy)
    terminal = Console(file=io.StringIO(), force_terminal=True)
    text = str(StatusLine(core, terminal, enabled=True).__rich__())
    for part in ("pages 0", "/s", "in flight 0", "queued 1", "errors 0"):
        assert part in text
    assert (
        StatusLine(core, Console(file=io.StringIO(), force_terminal=False), enabled=True).enabled
        is False
    )


def test_summary_shows_errors_latency_and_near_duplicates() -> None:
    """The summary table carries why the crawl ended and what it left, errors by kind, latency
    percentiles, near-duplicate groups, and the broken links with the pages that linked them."""
    summary = {
        "finish_reason": "interrupted",
        "left": {"queued": 1234, "retries": 3},
        "retries": 4,
        "max_depth_reached": 2,
        "broken": {
            "total": 2,
            "links": [
                {
                    "url": "http://a/x",
                    "error": "http_5xx",
                    "status": 500,
                    "linked_from": "http://a/",
                },
                {"url": "http://a/", "error": "timeout", "status": None, "linked_from": None},
            ],
        },
        "pages": 10,
        "ok": 8,
        "errors": {"http_5xx": 2},
        "statuses": {"200": 8, "500": 2},
        "requests": 14,
        "latency_ms": {"p50": 12.5, "p95": 40.0, "p99": 80.0},
        "pages_per_s": 5.0,
        "wall_s": 2.0,
        "near_duplicates": {"groups": 1, "pages": 2, "threshold_bits": 3, "examples": [["a", "b"]]},
    }
    out = io.StringIO()
    print_summary(summary, Console(file=out, width=120), "crawl.jsonl")
    text = out.getvalue()
    for part in (
        "10 (8 ok)",
        "http_5xx 2",
        "p50 12.5 ms",
        "p99 80 ms",
        "1 group of 2 pages",
        "crawl.jsonl",
        "interrupted (1,234 URLs still queued, 3 retries pending)",
        "14 (4 retries)",
        "2 reached",
        "Broken links: 2",
        "500 http_5xx  http://a/x\n    linked from http://a/\n",
        "timeout  http://a/\n    linked from (a seed)",
    ):
        assert part in text, part


def test_status_line_shows_the_busiest_origins_limits_with_adaptive() -> None:
    """With --adaptive, the line ends with each busy origin's limit: one origin's alone, or the
    three busiest and how many more; without it, nothing."""
    seeds = [f"http://site-{index}.test/" for index in range(5)]
    settings = load_crawl_settings(overrides={"seeds": seeds, "adaptive": True})
    core = CrawlCore(settings.policy)
    for _ in seeds:  # robots.txt of each origin
        assert isinstance(core.next_request(0.0), FetchRequest)
    line = stats_line(core, 1.0)
    assert line.endswith("(+2 more)") and ", limits site-" in line
    assert line.count(" 1") >= 3  # every limit starts at 1
    one = CrawlCore(load_crawl_settings(overrides={"seeds": seeds[:1], "adaptive": True}).policy)
    assert "limit" not in stats_line(one, 1.0)  # no origin has been asked anything yet
    assert isinstance(one.next_request(0.0), FetchRequest)
    assert stats_line(one, 1.0).endswith(", limit 1")
    fixed = CrawlCore(load_crawl_settings(overrides={"seeds": seeds}).policy)
    assert isinstance(fixed.next_request(0.0), FetchRequest)
    assert "limit" not in stats_line(fixed, 1.0)


def test_summary_lists_the_most_limited_origins_first() -> None:
    """The summary's `limits` row names the rule, the five lowest limits with their refusals,
    and the range of the rest."""
    origins = {
        f"http://h{index}.test": {"limit": 10 + index, "signals": index % 2, "trajectory": []}
        for index in range(8)
    }
    text = limits_row({"rule": "crawler", "origins": origins})
    assert text.startswith("crawler: h0.test 10, h1.test 11 (1 refusal), h2.test 12")
    assert text.endswith("... and 3 more origins (15..17)")
