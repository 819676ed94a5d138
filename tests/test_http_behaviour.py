"""One HTTP behaviour for every strategy: the same bytes on the wire give the same record.

A raw-socket server (`tests/awkward.py`) sends awkward but real HTTP: stacked, unknown and corrupt
content-codings, decompression bombs, broken framing, informational responses, Location headers
that are not ASCII, a flood of cookies. All four strategies crawl it; their records must be
identical and what this table says. Where the two HTTP clients still cannot be made to agree, the
difference is stated below with its reason, and asserted, so it cannot change unnoticed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from crawler.core.engine import CrawlCore
from crawler.core.records import Record
from crawler.http.decoding import BadEncoding, codings_of, decode_body
from crawler.http.location import location_from_bytes
from crawler.settings import load_crawl_settings
from crawler.strategies import STRATEGIES, RunContext
from tests.awkward import CASES, PAGE, serve_awkward
from tests.crawling import check_output, read_records

ALL = sorted(STRATEGIES)
MAX_BYTES = 1 << 20

# (status, error, bytes kept, attempts) each case must be recorded as, by every strategy.
EXPECTED: dict[str, tuple[int | None, str | None, int, int]] = {
    "gzip": (200, None, len(PAGE), 1),
    "deflate-zlib": (200, None, len(PAGE), 1),
    "deflate-raw": (200, None, len(PAGE), 1),
    "br": (200, None, len(PAGE), 1),
    "zstd": (200, None, len(PAGE), 1),
    "gzip-gzip": (200, None, len(PAGE), 1),
    "deflate-then-gzip": (200, None, len(PAGE), 1),
    "upper-case": (200, None, len(PAGE), 1),
    "identity": (200, None, len(PAGE), 1),
    "unknown-encoding": (200, "bad_encoding", 0, 1),
    "corrupt-gzip": (200, "bad_encoding", 0, 1),
    "gzip-bomb": (200, "too_large", MAX_BYTES, 1),
    "br-bomb": (200, "too_large", MAX_BYTES, 1),
    "zstd-bomb": (200, "too_large", MAX_BYTES, 1),
    "deflate-bomb": (200, "too_large", MAX_BYTES, 1),
    "chunked-and-length": (None, "protocol", 0, 1),
    "garbage-status": (None, "protocol", 0, 1),
    "many-headers": (None, "protocol", 0, 1),
    "early-hints": (200, None, len(PAGE), 1),
    # A redirect hop's record carries the last response: the target, which is a 404 here.
    "location-utf8": (404, "http_4xx", 0, 2),
    "location-ff": (404, "http_4xx", 0, 2),
    "location-control": (404, "http_4xx", 0, 2),
    "cookie-flood": (200, None, len(PAGE), 1),
}
FINAL_URL_PATHS = {
    "location-utf8": "/caf%C3%A9",
    "location-ff": "/x%FF.html",
    "location-control": "/a%01b",
}

# Where the clients still differ, and why: requests' answer first, then aiohttp's.
KNOWN_DIFFERENCES: dict[
    str, tuple[tuple[int | None, str | None], tuple[int | None, str | None], str]
] = {
    "length-short": (
        (200, None),
        (None, "protocol"),
        "Content-Length 10 then 1 MB: http.client stops at the length; llhttp rejects the bytes"
        " after the message when they arrive with it",
    ),
    "204-with-body": (
        (204, None),
        (None, "protocol"),
        "the same: a 204 has no body, and llhttp rejects the bytes that follow it",
    ),
    "bad-chunk-size": (
        (200, "truncated"),
        (None, "protocol"),
        "http.client reports an invalid chunk size as IncompleteRead(0), the very error of a body"
        " cut at a chunk boundary; telling them apart needs a chunk parser of our own",
    ),
    "negative-chunk-size": (
        (200, "truncated"),
        (None, "protocol"),
        "as bad-chunk-size",
    ),
    "status-199": (
        (None, "protocol"),
        (None, "reset"),
        "after skipping the 1xx, its body is read as the next status line: http.client rejects"
        " it, aiohttp waits for a final response and sees the connection close",
    ),
}
REQUESTS_STRATEGIES = {"sync", "threads"}


async def crawl_awkward(strategy: str, base: str, output: Path) -> list[Record]:
    settings: dict[str, Any] = {
        "seeds": [base],
        "output": str(output),
        "strategy": strategy,
        "quiet": True,
        "workers": 1,
        "retries": 1,
        "backoff": "10ms",
        "timeout": "5s",
        "max_bytes": "1MiB",
        "max_depth": 1,
    }
    core = CrawlCore(load_crawl_settings(overrides=settings))
    await asyncio.to_thread(
        STRATEGIES[strategy]().run, core, RunContext(str(output), handle_signals=False)
    )
    check_output(output, core.stats.records)
    return read_records(output)


async def test_every_strategy_makes_the_same_record_of_awkward_http(tmp_path: Path) -> None:
    """Each awkward response is recorded identically by the four strategies, as EXPECTED says;
    the known differences are exactly as stated; and no request after a flood of Set-Cookie
    carries a Cookie header (the crawl keeps no cookies, in any strategy)."""
    cookies: list[bytes] = []
    records: dict[str, dict[str, Record]] = {}
    async with serve_awkward(CASES, cookies) as base:
        for strategy in ALL:
            crawled = await crawl_awkward(strategy, base, tmp_path / f"{strategy}.jsonl")
            records[strategy] = {record.url.removeprefix(base): record for record in crawled}
    assert cookies == []
    for name, (status, error, kept, attempts) in EXPECTED.items():
        for strategy in ALL:
            record = records[strategy][name]
            got = (record.status, record.error, record.bytes, record.attempts)
            assert got == (status, error, kept, attempts), (name, strategy)
        titles = {records[strategy][name].title for strategy in ALL}
        assert len(titles) == 1, name
        if name in FINAL_URL_PATHS:
            for strategy in ALL:
                final = records[strategy][name].final_url or ""
                assert final.removeprefix(base.rstrip("/")) == FINAL_URL_PATHS[name], strategy
    for name, (by_requests, by_aiohttp, _why) in KNOWN_DIFFERENCES.items():
        for strategy in ALL:
            record = records[strategy][name]
            expected = by_requests if strategy in REQUESTS_STRATEGIES else by_aiohttp
            assert (record.status, record.error) == expected, (name, strategy)
    assert set(EXPECTED) | set(KNOWN_DIFFERENCES) == set(CASES)


@pytest.mark.parametrize(
    "header,codings",
    [
        (None, []),
        ("gzip", ["gzip"]),
        ("GZIP , Deflate", ["gzip", "deflate"]),
        ("identity, br", ["br"]),
        ("", []),
    ],
)
def test_content_encoding_names(header: str | None, codings: list[str]) -> None:
    assert codings_of(header) == codings


def test_a_body_cut_at_the_cap_decodes_as_far_as_it_goes() -> None:
    """A coded body itself longer than the cap is decoded up to the cap, without its end."""
    import gzip
    import random

    plain = random.Random(1).randbytes(20_000)  # incompressible: the coded body is as long
    data = gzip.compress(plain)
    cut = decode_body(data[:5000], "gzip", 50, complete=False)
    assert cut.body == plain[:50] and cut.too_large
    assert (
        decode_body(data[:5000], "gzip", 30_000, complete=False).body
        == plain[: len(decode_body(data[:5000], "gzip", 30_000, complete=False).body)]
    )
    with pytest.raises(BadEncoding):
        decode_body(data[:5000], "gzip", 30_000, complete=True)


@pytest.mark.parametrize(
    "raw,reference",
    [
        (b"/plain", "/plain"),
        ("/café".encode(), "/caf%C3%A9"),
        (b"/x\xff.html", "/x%FF.html"),
        (b"/a\x01b", "/a%01b"),
        (b"  /trimmed \t", "/trimmed"),
        (b"/with\ttab\nnewline", "/withtabnewline"),
        (b"/space here", "/space%20here"),
    ],
)
def test_location_is_read_from_its_bytes_as_browsers_do(raw: bytes, reference: str) -> None:
    assert location_from_bytes(raw) == reference
