"""The Python API: `crawler.crawl_sync` and `crawler.crawl` make the command's crawl, through real
HTTP, and hand over its records as it writes them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import crawler
from command_kit.errors import SettingsError
from crawler.core.records import ErrorKind, Record
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


# -- on_page -------------------------------------------------------------------------------

PAGE_STRATEGIES = ["sync", "threads", "async", "async-procs", "processes", "loop"]


def heading_and_more(record: Record, page: crawler.Page) -> crawler.Found:
    """A page callback at module level (so it pickles to worker processes): the heading, what
    the record knew, and one URL the page does not link to, relative, on every seed."""
    heading = page.css_first("h1")
    urls = ["extra/from-callback.html"] if record.depth == 0 else []
    return crawler.Found(
        fields={"h1": heading.text() if heading else None, "depth": record.depth,
                "title": record.title, "html_bytes": len(page.html.encode(page.charset))},
        urls=urls,
    )  # fmt: skip


def fails_on_section_one(record: Record, page: crawler.Page) -> dict[str, int]:
    if "/section-1/" in page.url:
        raise ValueError("no section 1 here")
    return {"links": record.links}


def not_json(record: Record, page: crawler.Page) -> dict[str, object]:
    return {"tree": page.tree}


@pytest.mark.parametrize("strategy", PAGE_STRATEGIES)
def test_on_page_adds_fields_and_urls_where_pages_are_parsed(site: str, strategy: str) -> None:
    """In every strategy that parses pages in this machine's processes, the callback's fields
    are the record's `extra` (and its JSON line's), and its URLs are crawled one step deeper
    with the page as their parent: here a page the site does not have, so a 404."""
    records = list(crawler.crawl_sync(site, strategy=strategy, on_page=heading_and_more))
    pages = [record for record in records if record.error is None]
    assert len(pages) == 40
    for record in pages:
        assert record.extra is not None and record.extra["depth"] == record.depth, record
        assert record.extra["title"] == record.title and record.extra["h1"], record
        assert record.extra["html_bytes"] == record.bytes
        assert json.loads(record.to_json())["extra"] == record.extra
        assert Record.from_json(record.to_json()) == record
    extra = [record for record in records if record.url.endswith("/extra/from-callback.html")]
    assert [(r.status, r.depth, r.parent, r.error) for r in extra] == [
        (404, 1, site, ErrorKind.HTTP_4XX)
    ]


def test_a_failing_callback_is_an_error_record_and_the_crawl_goes_on(site: str) -> None:
    """A callback that raises gives its page the error `callback` (its links not followed);
    one that returns what is not JSON too; every other page is crawled."""
    records = list(crawler.crawl_sync(site, on_page=fails_on_section_one, max_depth=1))
    failed = [record for record in records if record.error is ErrorKind.CALLBACK]
    assert failed and all("/section-1/" in record.url for record in failed)
    assert all(record.extra == {"links": record.links}
               for record in records if record.error is None)  # fmt: skip
    assert any(record.error is None for record in records)
    records = list(crawler.crawl_sync(site, on_page=not_json, max_depth=0))
    assert [record.error for record in records] == [ErrorKind.CALLBACK]


def test_a_callback_that_cannot_reach_its_processes_is_refused_before_the_crawl(site: str) -> None:
    """A lambda pickles to no worker process; no callable at all reaches a fleet's workers;
    both are `SettingsError`s before any request."""
    with pytest.raises(SettingsError, match="on_page: must be a module-level function"):
        crawler.crawl_sync(site, strategy="processes", on_page=lambda record, page: None)
    with pytest.raises(SettingsError, match="fleet"):
        crawler.crawl_sync(site, strategy="broker", on_page=heading_and_more)
    with pytest.raises(SettingsError, match="must be a function"):
        crawler.crawl_sync(site, on_page="h1")  # type: ignore[arg-type]
    records = list(crawler.crawl_sync(site, max_depth=0, on_page=lambda record, page: None))
    assert [(record.error, record.extra) for record in records] == [(None, None)]


def test_crawl_sync_archives_as_the_command_does(site: str, tmp_path: Path) -> None:
    """`warc=` is `--warc`: every answer the records hold is in an archive warcio reads."""
    from warcio.archiveiterator import ArchiveIterator

    archive = tmp_path / "api.warc.gz"
    records = list(crawler.crawl_sync([site], warc=str(archive), max_pages=40))
    with archive.open("rb") as file:
        archived = {
            record.rec_headers.get_header("WARC-Target-URI")
            for record in ArchiveIterator(file)
            if record.rec_type in ("response", "revisit")
        }
    assert len(records) == 40
    assert {r.url for r in records if r.status is not None} | {f"{site}robots.txt"} == archived
