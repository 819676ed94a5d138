"""The Crawlee side of benchmarks/versus_scrapy.py: follow every same-host link, one item per page.

Crawlee is not a dependency of the crawler: versus_scrapy.py installs it in benchmarks/.crawlee-venv
and runs this file there:

    python benchmarks/crawlee_crawler.py START_URL ITEMS.jsonl CONCURRENCY [FOLLOW]

This is the crawl Crawlee's own documentation shows: a ParselCrawler whose default handler pushes
one item per page to the default dataset and calls `enqueue_links()` (links on the same hostname,
its default strategy). Storage is Crawlee's MemoryStorageClient (no files: the request queue and
the dataset in memory, as our crawler's frontier is); concurrency is held at CONCURRENCY (minimum,
desired and maximum alike: Crawlee starts at 10 and scales by the machine's load otherwise).
Everything else is Crawlee's default: its HTTP client (impit), robots.txt not read, three retries,
depth unlimited. The items are written as JSON Lines at the end, inside the timed process.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from crawlee import ConcurrencySettings
from crawlee.crawlers import ParselCrawler, ParselCrawlingContext
from crawlee.storage_clients import MemoryStorageClient


async def crawl(start_url: str, items: Path, concurrency: int, follow: bool) -> None:
    """Crawl from `start_url`; write one JSON line per page to `items`."""
    crawler = ParselCrawler(
        storage_client=MemoryStorageClient(),
        concurrency_settings=ConcurrencySettings(
            min_concurrency=concurrency,
            desired_concurrency=concurrency,
            max_concurrency=concurrency,
        ),
    )

    @crawler.router.default_handler
    async def page(context: ParselCrawlingContext) -> None:
        """Record one page, and follow its links on the same host."""
        response = context.http_response
        await context.push_data(
            {
                "url": context.request.url,
                "status": response.status_code,
                "title": context.selector.css("title::text").get(),
                "content_type": response.headers.get("content-type", ""),
            }
        )
        if follow:
            await context.enqueue_links()

    await crawler.run([start_url])
    data = await crawler.get_data(limit=None)
    with items.open("w") as lines:
        for item in data.items:
            lines.write(json.dumps(item) + "\n")


if __name__ == "__main__":
    start, path, limit = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    asyncio.run(crawl(start, path, limit, follow=sys.argv[4:5] != ["0"]))
