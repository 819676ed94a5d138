"""The core on many random made-up sites, driven on a simulated clock: it never stalls, never
ends with work left, and never breaks a limit, whatever robots.txt, redirects and failures do.

Each case is a seeded random site of a few origins: pages linking within and across origins,
redirects (some looping), 404s, flaky 503s and timeouts, and robots.txt files that disallow a
path, redirect, fail for a while, or fail for good. A small event loop plays the strategy: it asks
the core for requests, answers each after a random latency, and jumps the clock to the next event
when the core says to wait.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter

import pytest

from crawler.core.engine import CrawlCore
from crawler.core.messages import (
    Done,
    FetchFailure,
    FetchRequest,
    FetchResponse,
    PageAnalysis,
    RequestKind,
    Wait,
    WaitForCompletion,
)
from crawler.core.policy import CrawlPolicy
from crawler.core.records import ErrorKind
from crawler.core.urls import origin_of

Outcome = FetchResponse | FetchFailure


class RandomSite:
    """A made-up site: what each URL answers on each attempt, drawn from one seed."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        origins = [f"http://o{index}.test" for index in range(rng.randint(1, 4))]
        self.urls = [
            origin + ("/" if page == 0 else f"/p{page}")
            for origin in origins
            for page in range(rng.randint(1, 10))
        ]
        self.kinds = {url: rng.choices(["page", "redirect", "404", "flaky", "timeout"],
                                       [70, 8, 6, 10, 6])[0] for url in self.urls}  # fmt: skip
        self.links = {url: rng.sample(self.urls, min(len(self.urls), rng.randint(0, 5)))
                      for url in self.urls}  # fmt: skip
        self.robots = {origin: rng.choice(["allow", "disallow", "flaky", "down", "redirect"])
                       for origin in origins}  # fmt: skip
        self.seeds = tuple(rng.sample(origins, rng.randint(1, len(origins))))

    def answer(self, request: FetchRequest) -> Outcome:
        """Return what `request` gets."""
        if request.kind is RequestKind.ROBOTS:
            return self._robots(request)
        kind = self.kinds.get(request.url.replace("/r/", "/"), "page")
        if "/r/" not in request.url and kind == "redirect":
            target = self.rng.choice([*self.urls, request.url.replace(".test/", ".test/r/")])
            return FetchResponse(302, 0.01, location=target)
        if kind == "404":
            return FetchResponse(404, 0.01, "text/html")
        if kind == "flaky" and request.attempt == 1:
            return FetchResponse(503, 0.01)
        if kind == "timeout" and self.rng.random() < 0.6:
            return FetchFailure(ErrorKind.TIMEOUT, 0.01)
        links = tuple((link, False) for link in self.links.get(request.url, []))
        page = PageAnalysis("t", links, len(links))
        return FetchResponse(200, 0.01, "text/html", body_bytes=100, page=page)

    def _robots(self, request: FetchRequest) -> Outcome:
        kind = self.robots[origin_of(request.url)]
        if kind == "disallow":
            return FetchResponse(200, 0.01, body=b"User-agent: *\nDisallow: /p1\nCrawl-delay: 0.2")
        if kind == "flaky" and request.attempt == 1:
            return FetchResponse(503, 0.01)
        if kind == "down":
            return FetchFailure(ErrorKind.CONNECT, 0.01)
        if kind == "redirect" and "moved" not in request.url:
            return FetchResponse(301, 0.01, location=request.url + "?moved")
        return FetchResponse(404, 0.01)


def crawl(seed: int) -> tuple[CrawlCore, CrawlPolicy]:
    """Crawl one random site to its end on a simulated clock, checking every step."""
    rng = random.Random(seed)
    site = RandomSite(rng)
    concurrency = rng.randint(1, 6)
    policy = CrawlPolicy(
        seeds=tuple(origin + "/" for origin in site.seeds),
        allow_domains=("*.test",) if rng.random() < 0.7 else (),
        concurrency=concurrency,
        per_host=rng.randint(1, concurrency),
        delay=rng.choice([0.0, 0.0, 0.05]),
        max_depth=rng.randint(1, 6),
        max_pages=rng.choice([None, None, rng.randint(1, 30)]),
        ignore_robots=rng.random() < 0.2,
        retries=rng.randint(0, 2),
        backoff=0.1,
    )
    core = CrawlCore(policy)
    now, answers, sequence = 0.0, [], 0
    out_per_origin: Counter[str] = Counter()
    for _ in range(100_000):
        step = core.next_request(now)
        if isinstance(step, FetchRequest):
            core.sent(step, now)
            origin = origin_of(step.url)
            out_per_origin[origin] += 1
            assert core.in_flight <= policy.concurrency
            assert out_per_origin[origin] <= policy.per_host
            sequence += 1
            heapq.heappush(answers, (now + rng.uniform(0.001, 0.3), sequence, step, origin))
            continue
        if isinstance(step, Done):
            assert not answers, "done with requests still out"
            return core, policy
        assert answers or isinstance(step, Wait), f"{step} with nothing in flight: a stall"
        if isinstance(step, Wait) and (not answers or now + step.seconds < answers[0][0]):
            now += step.seconds
            continue
        assert isinstance(step, Wait | WaitForCompletion)
        now, _, request, origin = heapq.heappop(answers)
        out_per_origin[origin] -= 1
        core.complete(request, site.answer(request), now)
    raise AssertionError("the crawl did not end")


@pytest.mark.parametrize("block", range(10))
def test_the_core_never_stalls_and_ends_with_nothing_left(block: int) -> None:
    """On 100 random sites per block, the crawl ends (never waiting for a completion with
    nothing in flight), with nothing queued, one record per URL, within --max-pages."""
    for seed in range(block * 100, block * 100 + 100):
        core, policy = crawl(seed)
        records = core.take_records()
        assert core.finished and core.queued == 0, seed
        assert len({record.url for record in records}) == len(records), seed
        if policy.max_pages is not None:
            assert len(records) <= policy.max_pages, seed
        assert all(record.depth <= policy.max_depth for record in records), seed
