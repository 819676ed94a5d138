"""Memory that does not grow with `--concurrency`, in every strategy: pages are parsed on at most
one thread or process per core, and each keeps at most `--max-outlinks` links (that cap on one page
is tested in tests/test_pages_parse.py)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from tests.crawling import check_output, read_records, run_measuring_peak_rss
from tests.sites import Page, html, serve

ALL = ["async", "async-procs", "sync", "threads"]


def link_farm(index: int, links: int = 116_000) -> Page:
    """Return a page of about 2 MiB holding `links` distinct links (none of them served)."""
    anchors = "".join(f'<a href="/f{index}/{n}">{n}</a>' for n in range(links))
    body = f"<html><head><title>farm {index}</title></head><body>{anchors}</body></html>"
    return 200, "text/html; charset=utf-8", body.encode()


def crawl_peak_rss(base: str, output: Path, strategy: str, concurrency: int) -> float:
    """Crawl `base` in a child process; return its peak resident memory in MiB."""
    status, peak_mb = run_measuring_peak_rss(
        [
            *[sys.executable, "-m", "crawler", "crawl", base, "-o", str(output), "-q"],
            *["--strategy", strategy, "--concurrency", str(concurrency)],
            *["--per-host", str(concurrency), "--max-depth", "1", "--workers", "2"],
            *["--max-bytes", "4MiB"],
        ],
        output.parent,
    )
    assert status == 0
    return peak_mb


@pytest.fixture(scope="module")
def link_farms() -> dict[str, Page]:
    """A home page linking to 32 link farms, and the farms (made once: a second's work)."""
    farms = {f"/farm{index}": link_farm(index) for index in range(32)}
    return {"/": html(*farms), **farms}


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ALL)
async def test_memory_does_not_grow_with_concurrency(
    tmp_path: Path, link_farms: dict[str, Page], strategy: str
) -> None:
    """32 pages of 2 MiB, each with 116,000 links, fetched 64 at a time: every strategy stays
    under 700 MB at its peak (threads, parsing all 64 side by side, once took 1.3 to 4.9 GB),
    and every page's record counts the 6,000 links it took."""
    output = tmp_path / "out.jsonl"
    async with serve(link_farms) as base:
        peak = await asyncio.to_thread(crawl_peak_rss, base, output, strategy, 64)
    records = read_records(output)
    check_output(output, len(records))
    assert sorted(record.links for record in records if record.url != base) == [6000] * 32
    assert peak < 700, f"{peak:.0f} MiB"
