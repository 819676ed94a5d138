"""`Job`: one URL being crawled, from its first request to its record, and the states it passes.

A job gathers every attempt its URL takes and what the last one found, and when the core decides
the URL is done, makes the one `Record` it ends as. Where a job is (waiting to be sent, out,
backing off before a retry, finished) is its `state`, and `move` is the one place a state changes:
a move the life of a job does not allow is a bug in the core, and fails at once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from crawler.core.depth import depth_of
from crawler.core.messages import PageAnalysis
from crawler.core.records import ErrorKind, Record


class JobState(enum.Enum):
    """Where a URL being crawled is."""

    READY = "ready"  # may be sent as soon as its origin may send
    IN_FLIGHT = "in_flight"  # a request for it is out
    BACKING_OFF = "backing_off"  # failed in a way worth retrying, waiting out its backoff
    FINISHED = "finished"  # has its record (or, in a durable crawl, is left for a resume)


# The life of a job: READY → IN_FLIGHT → (BACKING_OFF → READY → IN_FLIGHT)* → FINISHED. A job
# may finish from any state: a URL robots.txt excludes never leaves READY, a stop ends a backoff.
_MOVES: dict[JobState, frozenset[JobState]] = {
    JobState.READY: frozenset({JobState.IN_FLIGHT, JobState.FINISHED}),
    JobState.IN_FLIGHT: frozenset({JobState.BACKING_OFF, JobState.FINISHED}),
    JobState.BACKING_OFF: frozenset({JobState.READY, JobState.FINISHED}),
    JobState.FINISHED: frozenset(),
}


@dataclass(slots=True)
class Job:
    """One URL being crawled: its attempts, what the last one found, and where it is now."""

    id: int
    url: str
    rank: int  # crossings between origins, then steps from a seed (`depth.rank_of`)
    # The page that led here (linked it, or redirected to it); the core keeps the first in
    # URL order among those one step before it, so it does not depend on arrival order.
    parent: str | None
    sitemap: int | None = None  # a sitemap's nesting level (see `FrontierEntry`); None: a page
    lastmod: str | None = None
    state: JobState = JobState.READY
    redirected_to: str | None = None  # where its redirect led, if it answered with one
    attempts: int = 0
    # Refused because its origin's robots.txt could not be fetched: the attempts at that, which
    # the record reports as its own, so an unreachable seed does not read "0 attempts".
    robots_attempts: int = 0
    failures: int = 0  # failed attempts so far, for the retry policy
    elapsed: float = 0.0
    status: int | None = None
    content_type: str | None = None
    body_bytes: int = 0

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.url} [{self.state.value} | depth {self.depth}]>"

    @property
    def depth(self) -> int:
        """Return the steps (links or redirects) from a seed to this URL."""
        return depth_of(self.rank)

    def move(self, state: JobState) -> None:
        """Move the job to `state`, if its life allows that move."""
        if state not in _MOVES[self.state]:
            raise AssertionError(f"{self!r} cannot move to {state.value}")
        self.state = state

    def record(
        self, error: ErrorKind | None, page: PageAnalysis | None, keep_links: bool
    ) -> Record:
        """Return the record the URL ends as (`keep_links`: with its page's outgoing links)."""
        return Record(
            url=self.url,
            final_url=(self.redirected_to or self.url) if self.attempts else None,
            status=self.status,
            depth=self.depth,
            parent=self.parent,
            title=page.title if page is not None else None,
            links=page.link_count if page is not None else 0,
            bytes=self.body_bytes,
            elapsed_ms=round(self.elapsed * 1000, 3),
            attempts=self.attempts or self.robots_attempts,
            error=error,
            content_type=self.content_type,
            simhash=f"{page.simhash:016x}"
            if page is not None and page.simhash is not None
            else None,
            words=page.words if page is not None else None,
            outlinks=tuple(url for url, _ in page.links) + page.sitemaps
            if page is not None and keep_links
            else None,
            data=page.data if page is not None else None,
            kind="sitemap" if self.sitemap is not None else None,
            lastmod=self.lastmod,
            extra_json=page.extra_json if page is not None else None,
        )
