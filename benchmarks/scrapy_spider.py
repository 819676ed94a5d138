"""The Scrapy side of benchmarks/versus_scrapy.py: follow every same-host link, one item per page.

Scrapy is not a dependency of the crawler: versus_scrapy.py installs it in benchmarks/.scrapy-venv
and runs this file there, with the settings of the comparison given as `-s` options:

    scrapy runspider benchmarks/scrapy_spider.py -a start_url=URL -a stats_path=FILE -O items.jsonl

This is the spider Scrapy's own documentation suggests for a whole-site crawl: a CrawlSpider whose
one Rule sends every link a LinkExtractor finds (on the start URL's host, through
`allowed_domains`) to a callback and follows it. Everything else is Scrapy's default: dedup by
request fingerprint, depth unlimited unless DEPTH_LIMIT says otherwise, non-2xx responses dropped
by HttpErrorMiddleware before they reach the callback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scrapy.http import Response, TextResponse
from scrapy.linkextractors import LinkExtractor
from scrapy.spiders import CrawlSpider, Rule


class FollowEveryLink(CrawlSpider):
    """Yield url, status, title and content type of every page reached from `start_url`."""

    name = "follow_every_link"
    rules = (Rule(LinkExtractor(), callback="parse_page", follow=True),)

    def __init__(self, start_url: str, stats_path: str = "", follow: str = "1", **kwargs: Any):
        self.start_urls = [start_url]
        self.allowed_domains = [urlsplit(start_url).hostname or ""]
        self.stats_path = stats_path
        if follow == "0":
            # The startup measure: fetch the start URL, follow nothing.
            self.rules = ()
        super().__init__(**kwargs)

    def parse_start_url(self, response: Response, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """The start page is a page like any other."""
        yield from self.parse_page(response)

    def parse_page(self, response: Response) -> Iterator[dict[str, Any]]:
        """Record one page."""
        title = response.css("title::text").get() if isinstance(response, TextResponse) else None
        yield {
            "url": response.url,
            "status": response.status,
            "title": title,
            "content_type": response.headers.get("Content-Type", b"").decode("latin-1"),
        }

    def closed(self, reason: str) -> None:
        """Leave Scrapy's own counters (requests, responses by status, depth) for the benchmark."""
        if self.stats_path and self.crawler.stats is not None:
            stats = {"reason": reason, **self.crawler.stats.get_stats()}
            Path(self.stats_path).write_text(json.dumps(stats, default=str, indent=1))
