"""The crawl core without any network: time is passed in, responses are made up."""

from __future__ import annotations

from typing import Any

import pytest

from crawler.core.engine import CrawlCore
from crawler.core.messages import (
    DONE,
    WAIT_FOR_COMPLETION,
    FetchFailure,
    FetchRequest,
    FetchResponse,
    PageAnalysis,
    RequestKind,
    Wait,
)
from crawler.core.policy import CrawlPolicy
from crawler.core.records import ErrorKind

SEED = "http://site.test/"


def make_core(**policy: Any) -> CrawlCore:
    """Build a core directly from its policy (durations in seconds), seeded with SEED."""
    policy.setdefault("seeds", (SEED,))
    return CrawlCore(CrawlPolicy(**policy))


def page(*links: str, nofollow: bool = False) -> FetchResponse:
    analysis = PageAnalysis(
        "t", tuple((link, False) for link in links), len(links), meta_nofollow=nofollow
    )
    return FetchResponse(200, 0.01, "text/html", body_bytes=100, page=analysis)


def take(core: CrawlCore, now: float) -> FetchRequest:
    step = core.next_request(now)
    assert isinstance(step, FetchRequest), step
    return step


def test_robots_txt_comes_first_and_its_404_allows_everything() -> None:
    """The first request to an origin is its robots.txt; a 404 there lets the pages go."""
    core = make_core()
    robots = take(core, 0.0)
    assert robots.kind is RequestKind.ROBOTS and robots.url == "http://site.test/robots.txt"
    assert core.next_request(0.0) == WAIT_FOR_COMPLETION  # pages wait for robots
    core.complete(robots, FetchResponse(404, 0.01), 0.1)
    assert take(core, 0.1).url == SEED


def test_robots_5xx_is_retried_then_denies_the_origin() -> None:
    """A failing robots.txt is retried with backoff; when retries run out, every page is refused,
    and the seed's record names the failure itself (here the last one, a timeout) and counts the
    robots.txt attempts that failed."""
    core = make_core(retries=1, backoff=0.1)
    robots = take(core, 0.0)
    core.complete(robots, FetchResponse(503, 0.01), 0.0)
    wait = core.next_request(0.0)
    assert isinstance(wait, Wait) and 0.05 <= wait.seconds <= 0.1
    robots = take(core, 1.0)
    core.complete(robots, FetchFailure(ErrorKind.TIMEOUT, 5.0), 1.0)
    assert core.next_request(1.0) == DONE
    [record] = core.take_records()
    assert record.error is ErrorKind.TIMEOUT and record.attempts == 2


def test_delay_is_kept_between_requests_to_one_origin() -> None:
    """With --delay 1s the core hands out one request per second per origin, telling how long to wait."""
    core = make_core(delay=1.0, ignore_robots=True, concurrency=4, per_host=4)
    first = take(core, 0.0)
    core.sent(first, 0.0)
    core.complete(first, page("http://site.test/a", "http://site.test/b"), 0.2)
    assert core.next_request(0.2) == Wait(pytest.approx(0.8))
    second = take(core, 1.0)
    assert second.url == "http://site.test/a"
    core.sent(second, 1.0)
    assert core.next_request(1.5) == Wait(pytest.approx(0.5))
    assert take(core, 2.0).url == "http://site.test/b"


def test_delay_counts_from_when_a_request_really_left() -> None:
    """A request handed out at 0 s but sent at 0.3 s pushes the next one to 1.3 s, not 1 s; and the
    next one waits for the send to be reported at all."""
    core = make_core(delay=1.0, ignore_robots=True, concurrency=4, per_host=4)
    core.complete(take(core, 0.0), page("http://site.test/a", "http://site.test/b"), 0.0)
    late = take(core, 1.0)
    assert (
        core.next_request(5.0) == WAIT_FOR_COMPLETION
    )  # not sent yet: nothing else may go to this origin
    core.sent(late, 1.3)
    assert core.next_request(2.0) == Wait(pytest.approx(0.3))
    assert take(core, 2.3).url == "http://site.test/b"


def test_per_host_and_global_limits_gate_dispatch() -> None:
    """Requests beyond --per-host wait for a completion (math.inf), other origins still go."""
    links = [f"http://a.test/{index}" for index in range(3)] + [
        f"http://b.test/{index}" for index in range(3)
    ]
    core = make_core(
        ignore_robots=True, concurrency=3, per_host=2, allow_domains=["a.test", "b.test"]
    )
    core.complete(take(core, 0), page(*links), 0)
    out = [take(core, 0) for _ in range(3)]
    assert sorted(request.url.split("/")[2] for request in out) in (
        ["a.test", "a.test", "b.test"],
        ["a.test", "b.test", "b.test"],
    )
    assert core.next_request(0) == WAIT_FOR_COMPLETION
    core.complete(out[0], page(), 0)
    assert isinstance(core.next_request(0), FetchRequest)


def test_retry_waits_for_retry_after_and_counts_attempts() -> None:
    """A 429 with Retry-After: 2 is retried no sooner than 2 s later; the record counts both attempts."""
    core = make_core(ignore_robots=True)
    first = take(core, 0.0)
    core.complete(first, FetchResponse(429, 0.01, retry_after=2.0), 0.0)
    wait = core.next_request(0.0)
    assert isinstance(wait, Wait) and wait.seconds >= 2.0
    second = take(core, 2.5)
    assert second.attempt == 2
    core.complete(second, page(), 2.6)
    [record] = core.take_records()
    assert record.attempts == 2 and record.status == 200 and record.error is None


def test_retry_after_holds_off_the_whole_origin_not_only_its_url() -> None:
    """A 429 (or 503) with Retry-After asks the client to wait: no other URL of that origin is
    handed out before it has passed (so no worker of a fleet sends one); other origins go on."""
    links = [f"{SEED}{index}" for index in range(4)] + ["http://other.test/"]
    core = make_core(ignore_robots=True, per_host=4, allow_domains=["other.test"])
    core.complete(take(core, 0.0), page(*links), 0.0)
    out = [take(core, 0.0) for _ in range(5)]
    refused = next(request for request in out if request.url == f"{SEED}0")
    core.complete(refused, FetchResponse(503, 0.01, retry_after=3.0), 1.0)
    for request in out:
        if request is not refused:
            core.complete(request, page(*links[1:4]), 1.0)
    step = core.next_request(1.0)
    assert isinstance(step, Wait) and step.seconds >= 3.0 - 1e-9, step
    assert take(core, 4.0).url == f"{SEED}0"
    # A 429 without Retry-After holds nothing off beyond the URL's own backoff.
    core = make_core(ignore_robots=True, per_host=4)
    core.complete(take(core, 0.0), page(*links[:2]), 0.0)
    first, second = take(core, 0.0), take(core, 0.0)
    core.complete(first, FetchResponse(429, 0.01), 0.0)
    core.complete(second, page(f"{SEED}9"), 0.0)
    assert take(core, 0.0).url == f"{SEED}9"


def test_a_redirect_ends_its_url_and_its_target_is_a_url_of_its_own() -> None:
    """A redirect's record ends at the redirect, naming the target, which is queued one step
    deeper with the redirecting URL as its parent; a redirect to itself is a loop, one off-site
    is refused, and two URLs redirecting to each other end when the target was already seen."""
    core = make_core(ignore_robots=True, concurrency=10, per_host=10)
    core.complete(
        take(core, 0),
        page(
            "http://site.test/self",
            "http://site.test/away",
            "http://site.test/a",
            "http://site.test/b",
        ),
        0,
    )
    out = {request.url: request for request in (take(core, 0) for _ in range(4))}
    core.complete(out["http://site.test/self"], FetchResponse(302, 0.01, location="/self#x"), 0)
    away = FetchResponse(301, 0.01, location="http://elsewhere.test/")
    core.complete(out["http://site.test/away"], away, 0)
    core.complete(out["http://site.test/a"], FetchResponse(302, 0.01, location="/b"), 0)
    core.complete(out["http://site.test/b"], FetchResponse(302, 0.01, location="/a"), 0)
    records = {record.url: record for record in core.take_records()}
    assert core.next_request(0) == DONE  # /a and /b were both seen: nothing more to fetch
    assert records["http://site.test/self"].error is ErrorKind.REDIRECT_LOOP
    assert records["http://site.test/away"].error is ErrorKind.OUT_OF_SCOPE_REDIRECT
    a = records["http://site.test/a"]
    assert (a.status, a.final_url, a.error, a.depth) == (302, "http://site.test/b", None, 1)


def test_a_redirect_target_is_fetched_once_and_recorded_on_its_own() -> None:
    """Two URLs redirecting to one page and a link to it: one request for it, and the same three
    records whichever answers first."""
    results = []
    for order in ([0, 1, 2], [2, 1, 0], [1, 2, 0]):
        core = make_core(ignore_robots=True, concurrency=10, per_host=10)
        core.complete(
            take(core, 0),
            page("http://site.test/r1", "http://site.test/r2", "http://site.test/target"),
            0,
        )
        requests = [take(core, 0) for _ in range(3)]
        answers = {
            "http://site.test/r1": FetchResponse(301, 0.01, location="/target"),
            "http://site.test/r2": FetchResponse(302, 0.01, location="/target"),
            "http://site.test/target": page(),
        }
        for index in order:
            core.complete(requests[index], answers[requests[index].url], 0)
        assert core.next_request(0) == DONE
        records = {r.url: (r.status, r.final_url, r.depth, r.parent) for r in core.take_records()}
        results.append(records)
    assert results[0] == results[1] == results[2]
    assert results[0]["http://site.test/target"] == (200, "http://site.test/target", 1, SEED)
    assert results[0]["http://site.test/r1"] == (301, "http://site.test/target", 1, SEED)


def test_a_parent_is_the_first_in_url_order_whatever_answers_first() -> None:
    """A page linked from two pages of the previous depth names the first of them in URL order,
    even when that one answers last and the page itself has already been fetched."""
    for b_first in (True, False):
        core = make_core(ignore_robots=True, concurrency=10, per_host=10)
        core.complete(take(core, 0), page("http://site.test/b", "http://site.test/a"), 0)
        b, a = take(core, 0), take(core, 0)
        first, second = (b, a) if b_first else (a, b)
        core.complete(first, page("http://site.test/shared"), 0)
        shared = take(core, 0)  # depth 2 may go while depth 1 is unfinished
        core.complete(shared, page(), 0)
        core.complete(second, page("http://site.test/shared"), 0)
        parents = {record.url: record.parent for record in core.take_records()}
        assert parents["http://site.test/shared"] == "http://site.test/a"


def test_a_seeds_redirect_moves_the_seed() -> None:
    """A seed's redirect target is a seed too: depth 0, its origin in scope, and nothing deeper
    is fetched before it; past --max-redirects such a chain ends as too many redirects."""
    core = make_core(ignore_robots=True, max_redirects=2, seeds=(SEED, "http://two.test/"))
    seed, two = take(core, 0), take(core, 0)
    core.complete(seed, page("http://site.test/p"), 0)
    core.complete(two, FetchResponse(301, 0.01, location="http://www.two.test/"), 0)
    moved = take(core, 0)
    assert moved.url == "http://www.two.test/"  # not /p: depth 1 waits for every seed
    core.complete(moved, FetchResponse(301, 0.01, location="http://www.two.test/1"), 0)
    core.complete(take(core, 0), FetchResponse(301, 0.01, location="http://www.two.test/2"), 0)
    records = {record.url: record for record in core.take_records()}
    assert records["http://www.two.test/"].depth == 0
    assert records["http://www.two.test/"].parent == "http://two.test/"
    assert records["http://www.two.test/1"].error is ErrorKind.TOO_MANY_REDIRECTS
    assert core.stats.scope_added == ["http://www.two.test"]
    assert take(core, 0).url == "http://site.test/p"


def test_depth_stays_shortest_when_deeper_pages_answer_first() -> None:
    """A URL first found from a deeper page, then from a shallower one, is crawled at the smaller depth."""
    core = make_core(ignore_robots=True, concurrency=10, per_host=10)
    core.complete(take(core, 0), page("http://site.test/a", "http://site.test/b"), 0)
    a, b = take(core, 0), take(core, 0)
    core.complete(a, page("http://site.test/c"), 0)  # c at depth 2
    c = take(core, 0)
    core.complete(c, page("http://site.test/x"), 0)  # x found at depth 3, while b is still out
    assert core.next_request(0) == WAIT_FOR_COMPLETION  # depth 3 must wait for depth 1 to finish
    core.complete(b, page("http://site.test/x"), 0)  # x is also at depth 2
    x = take(core, 0)
    core.complete(x, page(), 0)
    depths = {record.url: record.depth for record in core.take_records()}
    assert depths["http://site.test/x"] == 2


def test_max_pages_is_exact_and_stop_interrupts_waiting_work() -> None:
    """--max-pages 3 starts exactly three URLs; stop() ends a waiting retry as interrupted."""
    core = make_core(ignore_robots=True, max_pages=3)
    core.complete(take(core, 0), page(*[f"http://site.test/{index}" for index in range(10)]), 0)
    one, two = take(core, 0), take(core, 0)
    assert core.next_request(0) == WAIT_FOR_COMPLETION
    core.complete(one, FetchResponse(503, 0.01), 0)
    core.stop()
    core.complete(two, page("http://site.test/more"), 0)
    assert core.next_request(0) == DONE
    records = core.take_records()
    assert len(records) == 3
    assert {record.error for record in records} == {None, ErrorKind.INTERRUPTED}


def test_a_url_robots_excludes_lets_the_barrier_release_parked_origins() -> None:
    """When a URL excluded by robots.txt finishes the shallowest level while the core looks for a
    request, origins held back by the depth barrier are let through in the same call: the crawl
    goes on instead of waiting for a completion that will never come."""
    core = CrawlCore(
        CrawlPolicy(seeds=("http://a.test/",), allow_domains=("*.test",), per_host=1, concurrency=4)
    )
    robots = take(core, 0.0)
    core.complete(robots, FetchResponse(200, 0.01, body=b"User-agent: *\nDisallow: /x\n"), 0.0)
    seed = take(core, 0.0)
    core.complete(seed, page("http://a.test/y", "http://a.test/x", "http://b.test/q"), 0.0)
    out = {request.url: request for request in (take(core, 0.0), take(core, 0.0))}
    assert set(out) == {"http://b.test/robots.txt", "http://a.test/y"}  # a/x waits: per_host 1
    core.complete(out["http://b.test/robots.txt"], FetchResponse(404, 0.01), 0.0)
    for url, link in (
        ("http://b.test/q", "http://b.test/r"),
        ("http://b.test/r", "http://b.test/s"),
    ):
        request = take(core, 0.0)
        assert request.url == url
        core.complete(request, page(link), 0.0)
    # b/s is at depth 3, held back while a/x (depth 1) is unfinished.
    assert core.next_request(0.0) == WAIT_FOR_COMPLETION
    core.complete(out["http://a.test/y"], page(), 0.0)
    # a/x is dispatched, excluded by robots.txt and recorded; that frees depth 3.
    assert take(core, 0.0).url == "http://b.test/s"
    assert ("http://a.test/x", ErrorKind.ROBOTS) in {
        (record.url, record.error) for record in core.take_records()
    }


def test_a_slow_origin_does_not_hold_back_a_fast_one() -> None:
    """Once the seeds are done, each origin's own pages wait only for that origin: while one page
    of b.test is still out, a.test is crawled six levels deep, and its records are handed over."""
    core = CrawlCore(
        CrawlPolicy(seeds=("http://a.test/", "http://b.test/"), ignore_robots=True, per_host=1)
    )
    seeds = {request.url: request for request in (take(core, 0.0), take(core, 0.0))}
    core.complete(seeds["http://b.test/"], page("http://b.test/slow"), 0.0)
    core.complete(seeds["http://a.test/"], page("http://a.test/1"), 0.0)
    slow = take(core, 0.0)
    assert slow.url == "http://b.test/slow"
    for level in range(1, 7):
        request = take(core, 0.0)
        assert request.url == f"http://a.test/{level}"
        core.complete(request, page(f"http://a.test/{level + 1}"), 0.0)
    handed_over = {record.url: record.depth for record in core.take_records()}
    assert handed_over["http://a.test/5"] == 5 and "http://b.test/slow" not in handed_over
    core.complete(slow, page(), 1.0)
    assert take(core, 1.0).url == "http://a.test/7"


def test_a_page_reached_across_origins_waits_for_its_own_site_to_reach_it() -> None:
    """A URL linked from another origin waits while its own site may still reach it without a
    crossing; found there, it keeps that path (its depth and parent), whichever answer came
    first."""
    core = CrawlCore(
        CrawlPolicy(
            seeds=("http://a.test/", "http://b.test/"),
            ignore_robots=True,
            per_host=1,
            concurrency=4,
        )
    )
    seeds = {request.url: request for request in (take(core, 0.0), take(core, 0.0))}
    core.complete(seeds["http://a.test/"], page("http://b.test/shared"), 0.0)
    core.complete(seeds["http://b.test/"], page("http://b.test/1"), 0.0)
    for level in (1, 2, 3):
        request = take(core, 0.0)
        assert request.url == f"http://b.test/{level}"
        links = ["http://b.test/shared"] if level == 3 else [f"http://b.test/{level + 1}"]
        core.complete(request, page(*links), 0.0)
    shared = take(core, 0.0)
    assert shared.url == "http://b.test/shared"
    core.complete(shared, page(), 0.0)
    assert core.next_request(0.0) == DONE
    records = {record.url: record for record in core.take_records()}
    assert records["http://b.test/shared"].depth == 4
    assert records["http://b.test/shared"].parent == "http://b.test/3"
