"""The crawl oracle: what a complete, correct crawl of a site must request and record.

It walks the site, best path first, through the model's own `respond()`, with a crawler's limits as
arguments, so tests can compare a real crawl over HTTP against the truth without any HTTP here.
The walk follows the rules the crawler documents: retries for 5xx, 429, resets, truncated bodies
and timeouts; a redirect ends its URL's record, and its target (if in scope) is a URL of its own,
one step deeper, like a link. Of a URL's paths, the one that counts is the one that crosses from
one origin to another the fewest times, then the shortest (links and redirects are steps): each
site is crawled breadth-first on its own, and a URL reached only through another origin comes
after its own site's pages. Its depth is that path's length.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field

from yarl import URL

from mock_server.faults import FaultKind
from mock_server.site import Action, Link, Site, SiteResponse


@dataclass(frozen=True, slots=True)
class ExpectedRecord:
    """The record a correct crawler writes for one URL it attempts."""

    url: str
    depth: int
    status: int | None
    final_url: str | None
    problem: FaultKind | None
    attempts: int


@dataclass(slots=True)
class CrawlExpectation:
    """Every record a crawl must write, and every request it must send (with how many times)."""

    records: dict[str, ExpectedRecord] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)

    def urls_with(self, problem: FaultKind | None) -> set[str]:
        """Return the record URLs whose outcome is `problem` (None: clean pages)."""
        return {url for url, record in self.records.items() if record.problem is problem}


def robots_disallows(site: Site, url: str) -> bool:
    """Say whether the site's robots.txt (when served) forbids `url` to every user agent."""
    if site.settings.fault_rate(FaultKind.ROBOTS) <= 0:
        return False
    target = URL(url).raw_path_qs
    if target.startswith("/private/open-"):
        return False
    return target.startswith("/private/") or "?print=" in target


def expected_crawl(
    site: Site,
    *,
    max_depth: int | None = None,
    retries: int = 2,
    obey_robots: bool = True,
    honour_nofollow: bool = False,
    scope_hosts: Collection[int] = (0,),
    max_bytes: int = 2 * 1024 * 1024,
) -> CrawlExpectation:
    """Return what a breadth-first crawl from host 0's home page, within these limits, must do."""
    if max_depth is None and site.settings.fault_rate(FaultKind.SPIDER_TRAP) > 0:
        raise ValueError("the spider trap is endless: give a max_depth")
    in_scope = {str(URL(site.origins[host]).origin()) for host in scope_hosts}
    expectation = CrawlExpectation()
    start = site.page_url(0)
    # A heap of ((crossings, depth), url), popped best path first: a URL's first pop is final.
    best = {start: (0, 0)}
    queue: list[tuple[tuple[int, int], str]] = [((0, 0), start)]
    done: set[str] = set()
    robots_fetched: set[str] = set()
    while queue:
        (crossings, depth), url = heapq.heappop(queue)
        if url in done:
            continue
        done.add(url)
        origin = str(URL(url).origin())
        if obey_robots and origin not in robots_fetched:
            robots_fetched.add(origin)
            expectation.requests[f"{origin}/robots.txt"] += 1
        if obey_robots and robots_disallows(site, url):
            expectation.records[url] = ExpectedRecord(url, depth, None, None, FaultKind.ROBOTS, 0)
            continue
        record, target = _fetch(site, url, depth, retries, in_scope, expectation)
        record = _check_body(site, record, max_bytes)
        expectation.records[url] = record
        if record.problem is not None or (max_depth is not None and depth >= max_depth):
            continue
        found = [target] if target is not None else []
        if target is None and record.status == 200:
            found = [link.url for link in _links_of(site, url, honour_nofollow)]
        for link_url in found:
            link_origin = str(URL(link_url).origin())
            if link_origin not in in_scope:
                continue
            path = (crossings + (link_origin != origin), depth + 1)
            if link_url not in best or path < best[link_url]:
                best[link_url] = path
                heapq.heappush(queue, (path, link_url))
    return expectation


def _fetch(
    site: Site,
    url: str,
    depth: int,
    retries: int,
    in_scope: set[str],
    expectation: CrawlExpectation,
) -> tuple[ExpectedRecord, str | None]:
    """Request `url` as the crawler does; return its record and the redirect target to follow."""
    response, attempts = _request_with_retries(site, url, retries)
    expectation.requests[url] += attempts
    problem = _problem_of(response)
    status = None if response.action is Action.HANG else response.status
    if problem is not None or response.status not in (301, 302, 303, 307, 308):
        return ExpectedRecord(url, depth, status, url, problem, attempts), None
    target = str(URL(url).join(URL(dict(response.headers)["Location"])))
    if target == url:
        return ExpectedRecord(url, depth, status, url, FaultKind.REDIRECT_LOOP, attempts), None
    if str(URL(target).origin()) not in in_scope:
        return ExpectedRecord(url, depth, status, url, FaultKind.OFFSITE_REDIRECT, attempts), None
    return ExpectedRecord(url, depth, status, target, None, attempts), target


def _request_with_retries(site: Site, url: str, retries: int) -> tuple[SiteResponse, int]:
    for attempt in range(1, retries + 2):
        response = site.respond(url, attempt)
        if _problem_of(response) not in _RETRIED or attempt > retries:
            return response, attempt
    raise AssertionError("unreachable: the last attempt always returns")


_RETRIED = {
    FaultKind.HTTP_500,
    FaultKind.HTTP_429,
    FaultKind.RESET,
    FaultKind.TRUNCATED,
    FaultKind.HANG,
}


def _problem_of(response: SiteResponse) -> FaultKind | None:
    """Name what went wrong with a response, in the site's terms (None: nothing did)."""
    if response.action is Action.HANG:
        return FaultKind.HANG
    if response.action is Action.RESET:
        return FaultKind.RESET
    if response.action is Action.TRUNCATE:
        return FaultKind.TRUNCATED
    if response.status >= 500:
        return FaultKind.HTTP_500
    if response.status == 429:
        return FaultKind.HTTP_429
    if response.status >= 400:
        return FaultKind.BROKEN_LINK
    return None


def _check_body(site: Site, record: ExpectedRecord, max_bytes: int) -> ExpectedRecord:
    """Mark a fetched body that is not HTML, or larger than the crawler keeps."""
    if record.problem is not None or record.status != 200:
        return record
    response = site.respond(record.url, attempt=record.attempts, accept_gzip=False)
    content_type = dict(response.headers).get("Content-Type", "")
    problem: FaultKind | None = None
    if not content_type.startswith("text/html"):
        problem = FaultKind.NON_HTML
    elif len(response.body) > max_bytes:
        problem = FaultKind.OVERSIZE
    if problem is None:
        return record
    return ExpectedRecord(
        record.url, record.depth, record.status, record.final_url, problem, record.attempts
    )


def _links_of(site: Site, url: str, honour_nofollow: bool) -> list[Link]:
    """Return the links a crawler follows from the page at `url`."""
    routed = site.route(url)
    if routed is None:
        return []
    host, route = routed
    origin = site.origins[host]
    home = Link(f"{origin}/")
    if route.kind == "page":
        if honour_nofollow and site.has_meta_nofollow(route.number):
            return []
        links = site.links(route.number)
        return [link for link in links if not (honour_nofollow and link.nofollow)]
    if route.kind == "calendar":
        months = (route.number * 12 + route.extra - 1) - (2026 * 12)
        return [home, Link(site.calendar_url(host, months + 1))]
    return [home]
