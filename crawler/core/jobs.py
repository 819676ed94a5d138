"""`Job`: one URL being crawled, from its first request to its record.

A job gathers every request its URL takes (attempts, redirect hops) and what they found, and when
the core decides the URL is done, makes the one `Record` it ends as.
"""

from __future__ import annotations

from dataclasses import dataclass

from crawler.core.messages import PageAnalysis
from crawler.core.records import ErrorKind, Record


@dataclass(slots=True)
class Job:
    """One URL being crawled: all the requests (attempts, redirect hops) that make its record."""

    id: int
    url: str
    depth: int
    parent: str | None
    current: str  # where the URL's redirects have led so far
    chain: list[str]  # the URL and every redirect target, in order
    attempts: int = 0
    hop_failures: int = 0  # failures of the current hop, for its retries
    elapsed: float = 0.0
    status: int | None = None
    content_type: str | None = None
    body_bytes: int = 0

    def record(
        self, error: ErrorKind | None, page: PageAnalysis | None, keep_links: bool
    ) -> Record:
        """Return the record the URL ends as (`keep_links`: with its page's outgoing links)."""
        return Record(
            url=self.url,
            final_url=self.current if self.attempts else None,
            status=self.status,
            depth=self.depth,
            parent=self.parent,
            title=page.title if page is not None else None,
            links=page.link_count if page is not None else 0,
            bytes=self.body_bytes,
            elapsed_ms=round(self.elapsed * 1000, 3),
            attempts=self.attempts,
            error=error,
            content_type=self.content_type,
            simhash=f"{page.simhash:016x}"
            if page is not None and page.simhash is not None
            else None,
            words=page.words if page is not None else None,
            outlinks=tuple(url for url, _ in page.links)
            if page is not None and keep_links
            else None,
        )
