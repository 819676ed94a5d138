"""A reference web crawler whose fetch strategies are pluggable and measured end to end.

From Python: `crawler.crawl_sync(seeds, **settings)` yields each record as the crawl writes it,
and `crawler.crawl(...)` is the same as an async iterator (see `crawler.api`); `on_page=` runs a
function on every page (`crawler.Page`), which may return `crawler.Found` fields and URLs. They
are loaded on first use, so that a process that only parses pages (a pool's worker) never imports
the runner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crawler.api import CrawlFailed, CrawlRun, crawl, crawl_sync
    from crawler.core.records import Record
    from crawler.pages.callback import Found, Page

_API = ("CrawlFailed", "CrawlRun", "crawl", "crawl_sync")
_CALLBACK = ("Found", "Page")  # what a page callback is given and returns


def __getattr__(name: str) -> Any:
    if name in _API:
        from crawler import api

        return getattr(api, name)
    if name in _CALLBACK:
        from crawler.pages import callback

        return getattr(callback, name)
    if name == "Record":
        from crawler.core.records import Record

        return Record
    raise AttributeError(f"module 'crawler' has no attribute {name!r}")


__all__ = ["CrawlFailed", "CrawlRun", "Found", "Page", "Record", "crawl", "crawl_sync"]
