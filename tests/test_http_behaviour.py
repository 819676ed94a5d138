"""One HTTP behaviour for every strategy: the same bytes on the wire give the same record.

A raw-socket server (`tests/awkward.py`) sends awkward but real HTTP: stacked, unknown and corrupt
content-codings, decompression bombs, broken framing, informational responses, Location headers
that are not ASCII, a flood of cookies. Every strategy crawls it; their records must be
identical and what this table says. Where the HTTP clients still cannot be made to agree, the
difference is stated below with its reason, and asserted, so it cannot change unnoticed.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from crawler.core.engine import CrawlCore
from crawler.core.records import Record
from crawler.http.decoding import BadEncoding, codings_of, decode_body
from crawler.http.location import location_from_bytes
from crawler.settings import load_crawl_settings
from crawler.strategies import STRATEGIES
from crawler.strategies.context import RunContext
from tests.awkward import CASES, PAGE, SLOW_CASES, response, serve_awkward
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
    "bad-chunk-size": (None, "protocol", 0, 1),
    "negative-chunk-size": (None, "protocol", 0, 1),
    "hex-prefix-chunk-size": (None, "protocol", 0, 1),
    "huge-chunk-size": (None, "protocol", 0, 1),
    "cut-in-chunk-size": (200, "truncated", 0, 2),
    "chunked-and-length": (None, "protocol", 0, 1),
    "garbage-status": (None, "protocol", 0, 1),
    "many-headers": (None, "protocol", 0, 1),
    "early-hints": (200, None, len(PAGE), 1),
    "503-corrupt-gzip": (503, "http_5xx", len(b"\x1f\x8b\x08\x00garbage-that-is-not-deflate"), 2),
    "404-cut-body": (404, "http_4xx", len(b"short"), 1),
    "302-cut-body": (302, None, 1, 1),
    "status-199": (200, None, len(PAGE), 1),
    "status-199-alone": (None, "reset", 0, 2),
    # A redirect's record is of the redirect; its final URL names the target, as read from raw
    # bytes (the target is a URL of its own, one step deeper).
    "location-utf8": (302, None, 0, 1),
    "location-ff": (302, None, 0, 1),
    "location-control": (302, None, 0, 1),
    "cookie-flood": (200, None, len(PAGE), 1),
}
FINAL_URL_PATHS = {
    "location-utf8": "/caf%C3%A9",
    "location-ff": "/x%FF.html",
    "location-control": "/a%01b",
}

# Where the clients still differ, and why: requests' answer (sync, threads), aiohttp's (async,
# async-procs, processes), h11's (loop, the event loop from scratch).
Answer = tuple[int | None, str | None]
KNOWN_DIFFERENCES: dict[str, tuple[Answer, Answer, Answer, str]] = {
    "length-short": (
        (200, None),
        (None, "protocol"),
        (200, None),
        "Content-Length 10, then 1 MB: RFC 9112 §6.3 lets a client discard what follows the"
        " declared length, and http.client does; llhttp (aiohttp's C parser) fails on bytes after"
        " a `Connection: close` message when they arrive in the same read, and the complete"
        " message it parsed is dropped with the error, out of reach without a parser of our own;"
        " h11 stops at the declared length, as http.client does",
    ),
    "204-with-body": (
        (204, None),
        (None, "protocol"),
        (204, None),
        "as length-short: a 204 has no content (RFC 9110 §15.3.5), and the page sent after it"
        " is the data llhttp fails on (and h11, like http.client, leaves unread)",
    ),
    "status-199-with-content": (
        (None, "protocol"),
        (None, "reset"),
        (None, "reset"),
        "a 1xx has no content (RFC 9110 §15.2), so http.client reads those bytes as the next"
        " status line and rejects them; llhttp takes the 1xx's Content-Length as a body, skips"
        " it, and sees the connection close while it waits for a final response; so does h11",
    ),
    "chunk-extension": (
        (200, None),
        (200, None),
        (None, "protocol"),
        "`5 ;name=value`: RFC 9112 §7.1.1 allows whitespace before a chunk extension's `;`, and"
        " http.client and llhttp take it; h11 follows RFC 7230's grammar, which did not",
    ),
}
REQUESTS_STRATEGIES = {"sync", "threads"}
H11_STRATEGIES = {"loop"}


async def crawl_awkward(strategy: str, base: str, output: Path, **overrides: Any) -> list[Record]:
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
        **overrides,
    }
    crawl_settings = load_crawl_settings(overrides=settings)
    core = CrawlCore(crawl_settings.policy)
    await asyncio.to_thread(
        STRATEGIES[strategy]().run,
        core,
        crawl_settings,
        RunContext(str(output), handle_signals=False),
    )
    check_output(output, core.stats.records)
    return read_records(output)


async def test_every_strategy_makes_the_same_record_of_awkward_http(tmp_path: Path) -> None:
    """Each awkward response is recorded identically by every strategy, as EXPECTED says;
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
    for name, (by_requests, by_aiohttp, by_h11, _why) in KNOWN_DIFFERENCES.items():
        for strategy in ALL:
            record = records[strategy][name]
            expected = (
                by_requests
                if strategy in REQUESTS_STRATEGIES
                else by_h11
                if strategy in H11_STRATEGIES
                else by_aiohttp
            )
            assert (record.status, record.error) == expected, (name, strategy)
    assert set(EXPECTED) | set(KNOWN_DIFFERENCES) == set(CASES)


@pytest.mark.slow
async def test_timeout_is_the_whole_request_in_every_strategy(tmp_path: Path) -> None:
    """`--timeout` bounds a request from connect to its last byte, whatever it waits for: a
    status line, headers or body dripped a byte at a time (each read short, the whole taking
    over 30 s), or silence. Every strategy records each as a timeout, in one attempt."""

    async def crawl_timed(strategy: str, base: str) -> tuple[list[Record], float]:
        started = time.monotonic()
        crawled = await crawl_awkward(
            strategy, base, tmp_path / f"{strategy}.jsonl", timeout="1s", retries=0
        )
        return crawled, time.monotonic() - started

    async with serve_awkward(SLOW_CASES) as base:
        # The strategies' crawls, each in a thread of its own, wait on the same silent server:
        # side by side.
        crawls = await asyncio.gather(*(crawl_timed(strategy, base) for strategy in ALL))
    for strategy, (crawled, elapsed) in zip(ALL, crawls, strict=True):
        records = {record.url.removeprefix(base): record for record in crawled}
        for name in SLOW_CASES:
            record = records[name]
            if name == "drip-404-body":
                # The status came in time: the record is the 404, with the bytes that came by
                # the deadline (a quarter second each).
                assert (record.status, record.error, record.attempts) == (404, "http_4xx", 1)
                assert 0 < record.bytes < 500, (name, strategy, record.bytes)
                continue
            assert (record.error, record.bytes, record.attempts) == ("timeout", 0, 1), (
                name,
                strategy,
            )
        # The cases run side by side; a drip alone would take 35 s and more.
        assert elapsed < 20, strategy


GRACE = 0.5
# What the crawl waits on when it is told to stop: a robots.txt, or a page, whose server says
# nothing for a minute (the request then waits for a status line, which no read of the body ends).
STALLS = {
    "robots": ({"page": response()}, [60.0]),
    "status-line": ({"page": [60.0, response()]}, None),
    "headers": ({"page": [b"HTTP/1.1 200 OK\r\n", 60.0]}, None),
}


@pytest.mark.parametrize("stall", sorted(STALLS))
@pytest.mark.parametrize("strategy", ALL)
async def test_a_stop_ends_a_stalled_request_after_the_grace_period(
    tmp_path: Path, strategy: str, stall: str
) -> None:
    """Ctrl-C while every request waits on a silent server: each strategy gives the requests
    `--grace`, then records them as interrupted and exits 130, at whatever point of the request
    it is (connected, waiting for the status line or the headers). Timed from the signal,
    against a server that would hold the request for a minute (the --timeout)."""
    cases, robots = STALLS[stall]
    output = tmp_path / "out.jsonl"
    stalled_path = "/robots.txt" if stall == "robots" else "/page"
    stalled = asyncio.Event()

    def note(path: str) -> None:
        if path == stalled_path:
            stalled.set()

    async with serve_awkward(cases, robots=robots, on_request=note) as base:
        process = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "crawler", "crawl", base, "-o", str(output)],
            *["--strategy", strategy, "--workers", "1", "--timeout", "60s"],
            *["--grace", f"{GRACE}s", "--retries", "0", "-q"],
            stderr=asyncio.subprocess.PIPE,
        )
        # The crawl starts (a pool of processes, on a loaded machine: seconds) and sends the
        # request the server then sits on.
        await asyncio.wait_for(stalled.wait(), timeout=60)
        await asyncio.sleep(0.2)
        signalled = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=90)
        after_signal = time.monotonic() - signalled
    assert process.returncode == 130, stderr
    assert b"Traceback" not in stderr
    # The grace period, and room for a loaded machine: far below the server's minute.
    assert after_signal < GRACE + 10, after_signal
    records = read_records(output)
    if stall == "robots":
        # The seed waited on its host's robots.txt: a URL never sent is dropped at a stop.
        assert records == []
    else:
        assert [(record.url, record.error) for record in records if record.url != base] == [
            (base + "page", "interrupted")
        ]


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
    """Content-Encoding names are read in any case and spacing, in order; identity is no coding."""
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
    """Location bytes are trimmed, tabs and newlines dropped, and other bytes percent-encoded."""
    assert location_from_bytes(raw) == reference
