"""What crosses between the core and a strategy: requests to perform, and what came of them."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

from crawler.core.records import ErrorKind


class RequestKind(enum.StrEnum):
    """Why a request is made."""

    PAGE = "page"
    ROBOTS = "robots"
    SITEMAP = "sitemap"


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """One HTTP GET the core wants performed now, without following redirects."""

    url: str
    kind: RequestKind
    job: int
    attempt: int
    max_bytes: int
    # The URL's depth, and the page that led to it as the core knows it when it sends it: for
    # a page callback (`on_page`), which sees the page where it is parsed.
    depth: int = 0
    parent: str | None = None


@dataclass(frozen=True, slots=True)
class Wait:
    """Nothing to send now: ask again after `seconds` (a delay or a retry's backoff ends), or
    sooner if a request completes."""

    seconds: float


@dataclass(frozen=True, slots=True)
class WaitForCompletion:
    """Nothing to send until a request in flight completes."""

    @property
    def seconds(self) -> float:
        """Return how long to wait if no request completes: for ever."""
        return math.inf


@dataclass(frozen=True, slots=True)
class Done:
    """The crawl is over: nothing is in flight, nothing is left to send."""


WAIT_FOR_COMPLETION = WaitForCompletion()
DONE = Done()
# What `CrawlCore.next_request` returns.
Step = FetchRequest | Wait | WaitForCompletion | Done


@dataclass(frozen=True, slots=True)
class PageAnalysis:
    """What the parser made of an HTML page or a sitemap: small, so it crosses a process boundary
    cheaply. A sitemap's `links` are the pages it lists, `link_count` the entries it holds."""

    title: str | None
    links: tuple[tuple[str, bool], ...]  # (absolute normalized URL, rel=nofollow)
    link_count: int
    meta_nofollow: bool = False
    charset: str = "utf-8"
    error: ErrorKind | None = None
    simhash: int | None = None
    words: int = 0
    # --extract's fields: (name, values), in rule order; None when no rule was given.
    data: tuple[tuple[str, tuple[str, ...]], ...] | None = None
    # A sitemap index's sitemaps, and each listed page's <lastmod> (None for a page without
    # one; the whole field None for an HTML page).
    sitemaps: tuple[str, ...] = ()
    lastmods: tuple[str | None, ...] | None = None
    # The page callback's fields (`on_page`), as one JSON object's text.
    extra_json: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResponse:
    """A response that arrived: its status, the headers the core needs, and the (capped) body."""

    status: int
    elapsed: float
    content_type: str | None = None
    location: str | None = None
    retry_after: float | None = None  # seconds, already read from the header by the strategy
    body: bytes = b""
    body_bytes: int = 0
    too_large: bool = False
    page: PageAnalysis | None = field(default=None)


@dataclass(frozen=True, slots=True)
class FetchFailure:
    """A request that got no usable response."""

    error: ErrorKind
    elapsed: float
    status: int | None = None
    detail: str = ""


# The statuses whose Location is followed: to another URL for a page, to the rules for robots.txt.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def is_html(content_type: str | None) -> bool:
    """Say whether a Content-Type names an HTML document (a missing one is taken as HTML)."""
    if not content_type:
        return True
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type in ("text/html", "application/xhtml+xml")


def should_read_body(request: FetchRequest, status: int, content_type: str | None) -> bool:
    """Say whether a strategy should download the body of a response to `request`.

    Successful bodies the crawl will not use (images, PDFs) are not downloaded at all. The rest
    are read, up to `--max-bytes`: a page's HTML, and the body of a redirect or an error, which
    is small, is what the record's `bytes` reports, and once read leaves the connection reusable.
    """
    if request.kind is RequestKind.ROBOTS:
        return status == 200
    if request.kind is RequestKind.SITEMAP:
        return True  # XML, text or gzip: whatever its type, a sitemap is read
    return is_html(content_type) or not 200 <= status < 300


def body_is_incidental(request: FetchRequest, status: int) -> bool:
    """Say whether a body is read only to be counted (a redirect's, an error's): the status is
    the response's outcome, so a body that arrives cut short, late or undecodable does not
    change it, and what arrived of it is kept."""
    return request.kind is not RequestKind.ROBOTS and not 200 <= status < 300


def should_analyze(request: FetchRequest, response: FetchResponse) -> bool:
    """Say whether a strategy should run the page analysis on a response (a sitemap's too)."""
    if response.status != 200 or response.too_large:
        return False
    if request.kind is RequestKind.SITEMAP:
        return True
    return request.kind is RequestKind.PAGE and is_html(response.content_type)
