"""A reference web crawler whose fetch strategies are pluggable and measured end to end.

From Python: `crawler.crawl_sync(seeds, **settings)` yields each record as the crawl writes it,
and `crawler.crawl(...)` is the same as an async iterator (see `crawler.api`). They are loaded on
first use, so that a process that only parses pages (a pool's worker) never imports the runner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crawler.api import CrawlFailed, CrawlRun, crawl, crawl_sync

_API = ("CrawlFailed", "CrawlRun", "crawl", "crawl_sync")


def __getattr__(name: str) -> Any:
    if name in _API:
        from crawler import api

        return getattr(api, name)
    raise AttributeError(f"module 'crawler' has no attribute {name!r}")


__all__ = ["CrawlFailed", "CrawlRun", "crawl", "crawl_sync"]
