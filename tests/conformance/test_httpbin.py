"""The crawler against httpbin, a real HTTP server of awkward responses, under gunicorn.

Several seeds per crawl and `--max-depth 0`, so every record is of a seed, or of where a seed's
redirects led (a seed's redirect moves the seed: its target is a seed too), and what it should be
is known: its status, error kind, final URL (a redirect's target), and attempts. All four
strategies must write exactly those records.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from crawler.core.records import Record
from tests.conformance.crawls import STRATEGIES, run_crawler

# Short timeouts and one quick retry keep the slow seeds (/delay/5) to seconds.
OPTIONS = ("--max-depth", "0", "--timeout", "2s", "--retries", "1", "--backoff", "100ms")
# Nothing listens on this loopback address at httpbin's port (httpbin binds 127.0.0.1 only).
UNREACHABLE_HOST = "127.0.0.2"


@dataclass(frozen=True, slots=True)
class Expected:
    """What the record of one seed must say. `final` is a path on httpbin, or a whole URL."""

    status: int | None
    error: str | None
    final: str | None
    attempts: int
    title: str | None = None
    links: int = 0


def _same(status: int | None, error: str | None, attempts: int = 1) -> Callable[[str], Expected]:
    """An expectation whose final URL is the seed itself (no redirect followed)."""
    return lambda seed: Expected(status, error, seed, attempts)


def responses(port: int) -> dict[str, Expected]:
    """Seeds answered by one response each (or refused): statuses, encodings, slow bodies."""
    unreachable = f"http://{UNREACHABLE_HOST}:{port}/html"
    same = {
        "/status/404": _same(404, "http_4xx"),
        "/status/503": _same(503, "http_5xx", attempts=2),  # retried once
        "/status/429": _same(429, "http_429", attempts=2),  # retried once
        # JSON, compressed three ways: not a page, known from the headers alone.
        "/gzip": _same(200, "not_html"),
        "/deflate": _same(200, "not_html"),
        "/brotli": _same(200, "not_html"),
        # 5 bytes over 5 s, but application/octet-stream: refused before the slow body is read.
        "/drip?duration=5&numbytes=5&delay=0": _same(200, "not_html"),
        "/robots.txt": _same(200, "not_html"),
        "/delay/5": lambda seed: Expected(None, "timeout", seed, 2),
        # httpbin's robots.txt says Disallow: /deny, so no request is sent.
        "/deny": lambda _seed: Expected(None, "robots", None, 0),
        "/html": _same(200, None),
        "/encoding/utf8": lambda seed: Expected(200, None, seed, 1, links=1),
        "/links/10/0": lambda seed: Expected(200, None, seed, 1, title="Links", links=9),
        # A Location that is not http(s), or empty, is no redirect to follow.
        "/redirect-to?url=ftp://example.com/": _same(302, "bad_redirect"),
        "/redirect-to?url=": _same(302, "bad_redirect"),
    }
    expected = {seed: make(seed) for seed, make in same.items()}
    # A redirect to a URL already seen (here another seed) ends there: it is not fetched twice.
    expected["/redirect-to?url=/html"] = Expected(302, None, "/html", 1)
    # A seed's redirect to another origin takes it into scope; nothing listens there, so its
    # robots.txt cannot be fetched, and the target, a seed too, names that failure (README:
    # robots.txt): it is never requested, and its attempts are its robots.txt's (--retries 1).
    expected[f"/redirect-to?url={unreachable}"] = Expected(302, None, unreachable, 1)
    expected[unreachable] = Expected(None, "connect", None, 2)
    return expected


def chain(seed: str, hops: list[str], end: Expected, status: int = 302) -> dict[str, Expected]:
    """The records of a seed whose redirects (each answering `status`) lead through `hops`: each
    ends at its redirect, naming the next, and the last hop ends as `end`."""
    urls = [seed, *hops]
    expected = {
        url: Expected(status, None, after, 1) for url, after in zip(urls, hops, strict=False)
    }
    expected[urls[-1]] = end
    return expected


def relative(start: int, stop: int) -> list[str]:
    """/relative-redirect/start down to /relative-redirect/stop."""
    return [f"/relative-redirect/{n}" for n in range(start, stop - 1, -1)]


def absolute(start: int, stop: int) -> list[str]:
    """/absolute-redirect/start down to /absolute-redirect/stop."""
    return [f"/absolute-redirect/{n}" for n in range(start, stop - 1, -1)]


# Redirect chains: followed to their end (/get, not a page), or stopped at the redirect past
# --max-redirects (10) from the seed, which names itself as its final URL.
NOT_HTML_END = Expected(200, "not_html", "/get", 1)
REDIRECT_GROUPS: dict[str, tuple[list[str], dict[str, Expected]]] = {
    "relative": (
        ["/redirect/3", "/absolute-redirect/12"],
        {
            **chain("/redirect/3", [*relative(2, 1), "/get"], NOT_HTML_END),
            **chain(
                "/absolute-redirect/12",
                absolute(11, 2),
                Expected(302, "too_many_redirects", "/absolute-redirect/2", 1),
            ),
        },
    ),
    "absolute": (
        ["/absolute-redirect/3", "/redirect/12"],
        {
            **chain("/absolute-redirect/3", [*absolute(2, 1), "/get"], NOT_HTML_END),
            **chain(
                "/redirect/12",
                relative(11, 2),
                Expected(302, "too_many_redirects", "/relative-redirect/2", 1),
            ),
        },
    ),
    "relative-redirect": (
        ["/relative-redirect/3", "/redirect-to?url=/html&status_code=307"],
        {
            **chain("/relative-redirect/3", [*relative(2, 1), "/get"], NOT_HTML_END),
            **chain(
                "/redirect-to?url=/html&status_code=307",
                ["/html"],
                Expected(200, None, "/html", 1),
                status=307,
            ),
        },
    ),
}


def crawl_all_strategies(
    origin: str, seeds: list[str], directory: Path, name: str
) -> dict[str, dict[str, Record]]:
    """Crawl the seeds with every strategy, side by side (each crawl mostly waits on httpbin's
    slow answers); return each one's records by seed path."""

    def crawl(strategy: str) -> dict[str, Record]:
        output = directory / f"{name}-{strategy}.jsonl"
        result = run_crawler([origin + seed for seed in seeds], output, strategy, *OPTIONS)
        print(f"httpbin {name} {strategy}: {len(result.records)} records in {result.seconds:.2f}s")
        return {record.url.removeprefix(origin): record for record in result.records}

    with ThreadPoolExecutor(len(STRATEGIES)) as pool:
        return dict(zip(STRATEGIES, pool.map(crawl, STRATEGIES), strict=True))


def check(origin: str, expected: dict[str, Expected], records: dict[str, Record]) -> list[str]:
    """Return what is wrong with a crawl's records, one line per seed."""
    wrong = []
    assert set(records) == set(expected), "not one record per seed and redirect target"
    for seed, want in expected.items():
        record = records[seed]
        final = origin + want.final if want.final and want.final.startswith("/") else want.final
        got = Expected(
            record.status,
            record.error,
            record.final_url,
            record.attempts,
            record.title,
            record.links,
        )
        if got != Expected(want.status, want.error, final, want.attempts, want.title, want.links):
            wrong.append(f"{seed}: got {got}, want {want}")
    return wrong


def port_of(origin: str) -> int:
    """The port of an http://host:port origin."""
    return int(origin.rsplit(":", 1)[1])


def test_single_responses_are_recorded_as_they_should_be(httpbin: str, tmp_path: Path) -> None:
    """Statuses, encodings, slow responses, robots.txt and bad redirects, in every strategy."""
    expected = responses(port_of(httpbin))
    seeds = [seed for seed in expected if seed.startswith("/")]
    crawls = crawl_all_strategies(httpbin, seeds, tmp_path, "responses")
    for strategy, records in crawls.items():
        assert check(httpbin, expected, records) == [], strategy
        drip = records["/drip?duration=5&numbytes=5&delay=0"]
        assert drip.elapsed_ms < 2000, "the slow body of a non-page was waited for"
        assert records["/html"].words and records["/html"].bytes == 3741


@pytest.mark.parametrize("group", sorted(REDIRECT_GROUPS))
def test_redirect_chains_end_where_they_should(httpbin: str, tmp_path: Path, group: str) -> None:
    """Relative and absolute chains are followed hop by hop to their end, each hop a record of
    its own, and stopped after --max-redirects (10) hops, the same in every strategy."""
    seeds, expected = REDIRECT_GROUPS[group]
    crawls = crawl_all_strategies(httpbin, seeds, tmp_path, group)
    for strategy, records in crawls.items():
        assert check(httpbin, expected, records) == [], strategy


def test_converging_redirect_chains_give_the_same_records_in_every_strategy(
    httpbin: str, tmp_path: Path
) -> None:
    """/redirect/3, /relative-redirect/3 and /absolute-redirect/3 all end at /get, two of them
    through /relative-redirect/2: every strategy, in every run, writes the same records (status,
    final URL, error, depth, parent), and requests each URL once."""
    seeds = ["/redirect/3", "/relative-redirect/3", "/absolute-redirect/3"]
    outcomes = set()
    for _ in range(3):
        crawls = crawl_all_strategies(httpbin, seeds, tmp_path, "converging")
        for records in crawls.values():
            outcomes.add(
                tuple(
                    sorted(
                        (url, r.status, r.final_url, r.error, r.depth, r.parent, r.attempts)
                        for url, r in records.items()
                    )
                )
            )
    assert len(outcomes) == 1, "\n".join(map(str, sorted(outcomes)))
    records = {
        url: (status, final, parent) for url, status, final, _, _, parent, _ in outcomes.pop()
    }
    assert records["/relative-redirect/2"][2] == httpbin + "/redirect/3"  # first in URL order
    assert records["/get"][0] == 200 and len(records) == 8
