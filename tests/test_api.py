"""The Python API: `crawler.crawl_sync` and `crawler.crawl` make the command's crawl, through real
HTTP, and hand over its records as it writes them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import crawler
from command_kit.errors import SettingsError
from crawler.core.records import Record
from mock_server import MockServerProcess, load_settings


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    settings = load_settings(overrides={"pages": 40, "links": 6, "faults": "none"})
    with MockServerProcess(settings) as server:
        yield server.base_url


def command_records(seed: str, tmp_path: Path, *flags: str) -> list[Record]:
    """Crawl with `crawler crawl`, as a user at a terminal would."""
    output = tmp_path / "command.jsonl"
    subprocess.run(
        [sys.executable, "-m", "crawler", "crawl", seed, "-q", "-o", str(output), *flags],
        check=True,
        timeout=120,
    )
    return [Record.from_json(line) for line in output.read_text().splitlines()]


def same(records: list[Record]) -> list[tuple[str, int | None, int, str | None]]:
    return sorted((r.url, r.status, r.depth, r.parent) for r in records)


@pytest.mark.parametrize("strategy", ["sync", "async", "processes"])
def test_crawl_sync_yields_the_commands_records(site: str, tmp_path: Path, strategy: str) -> None:
    """The same records as `crawler crawl` with the same settings, in the order they were
    written, and the summary `--stats-json` would write."""
    run = crawler.crawl_sync(site, strategy=strategy, per_host=4)
    records = list(run)
    assert same(records) == same(command_records(site, tmp_path, "--strategy", strategy,
                                                 "--per-host", "4"))  # fmt: skip
    assert run.summary is not None and run.summary["pages"] == 40 == len(records)
    assert run.summary["finish_reason"] == "finished" and run.summary["strategy"] == strategy


def test_crawl_is_an_async_iterator_that_leaves_the_callers_loop_free(site: str) -> None:
    """`async for` over a crawl: the caller's own coroutines keep running meanwhile."""

    async def main() -> tuple[list[Record], int]:
        ticks = 0
        running = True

        async def ticker() -> None:
            nonlocal ticks
            while running:
                ticks += 1
                await asyncio.sleep(0.005)

        beating = asyncio.create_task(ticker())
        records = [record async for record in crawler.crawl([site], extract=["t=title::text"])]
        running = False
        await beating
        return records, ticks

    records, ticks = asyncio.run(main())
    assert len(records) == 40 and ticks > 5
    assert all(record.data is not None for record in records if record.content_type)


def test_leaving_the_loop_stops_the_crawl_and_its_thread(site: str) -> None:
    """A `break` stops the crawl as Ctrl-C does; its thread ends; the summary says so. (Records
    come in the blocks the crawl writes, a second's worth at most: a slow site of 2,000 pages is
    far from done when the first arrive.)"""
    settings = load_settings(overrides={"pages": 2000, "latency": "20ms", "faults": "none"})
    with MockServerProcess(settings) as server:
        run = crawler.crawl_sync(server.base_url, concurrency=2)
        for index, _ in enumerate(run):
            if index == 5:
                break
    assert run.summary is not None and run.summary["finish_reason"] == "interrupted"
    assert run.summary["pages"] < 2000
    assert not any(thread.name == "crawler" for thread in threading.enumerate())
    with crawler.crawl_sync(site) as unread:  # a run nobody reads, closed by its block
        pass
    assert unread.summary is not None and not any(
        thread.name == "crawler" for thread in threading.enumerate()
    )


def test_settings_are_the_commands_and_so_are_their_errors(tmp_path: Path) -> None:
    """A bad setting raises before any request, with the command's one line; a records file,
    when asked for, is written as the command writes it; a config file is read as `--config`."""
    with pytest.raises(SettingsError, match="--concurrency: must be at least 1"):
        crawler.crawl_sync("http://127.0.0.1:1/", concurrency=0)
    with pytest.raises(SettingsError, match="unknown setting"):
        crawler.crawl_sync("http://127.0.0.1:1/", concurency=4)
    config = tmp_path / "crawl.toml"
    config.write_text("[crawl]\nmax_pages = 12\n")
    output = tmp_path / "kept.jsonl"
    records = list(crawler.crawl_sync(config=config, output=str(output)))  # the embedded site
    assert len(records) == 12
    assert [Record.from_json(line) for line in output.read_text().splitlines()] == records


def test_a_crawl_whose_every_seed_fails_raises_after_its_records(tmp_path: Path) -> None:
    """Every seed failing is the command's exit 1: the records come first, then CrawlFailed."""
    run = crawler.crawl_sync("http://127.0.0.1:1/", retries=0, ignore_robots=True)
    seen = []
    with pytest.raises(crawler.CrawlFailed) as failure:
        for record in run:
            seen.append(record)
    assert [record.error.value for record in seen if record.error] == ["connect"]
    assert failure.value.exit_code != 0 and "connect" in str(failure.value)
