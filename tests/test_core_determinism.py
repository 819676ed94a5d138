"""The records are a function of the site alone: the core on random made-up sites, answered in
random orders on a simulated clock, writes the same records every time.

Each site answers as a pure function of the URL and the attempt (pages linking within and across
origins, redirects that converge, chain and loop, 404s, flaky 503s, robots.txt that disallows),
so only the order of the answers differs between two crawls of it: concurrency, per-host limits
and each request's latency are drawn anew for every crawl.
"""

from __future__ import annotations

import heapq
import random
from typing import Any

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
)
from crawler.core.policy import CrawlPolicy
from crawler.core.records import ErrorKind

Outcome = FetchResponse | FetchFailure


class FixedSite:
    """A made-up site whose every answer depends only on (url, attempt), drawn from one seed."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        self.origins = [f"http://o{index}.test" for index in range(rng.randint(1, 3))]
        self.urls = [
            origin + ("/" if page == 0 else f"/p{page}")
            for origin in self.origins
            for page in range(rng.randint(2, 14))
        ]
        kinds = ["page", "redirect", "404", "flaky", "timeout"]
        self.kinds = {url: rng.choices(kinds, [65, 15, 6, 8, 6])[0] for url in self.urls}
        self.kinds.update({origin + "/": "page" for origin in self.origins})
        self.targets = {url: rng.choice(self.urls) for url in self.urls}
        self.links = {
            url: tuple(rng.sample(self.urls, min(len(self.urls), rng.randint(0, 6))))
            for url in self.urls
        }
        self.disallow = {origin: rng.random() < 0.3 for origin in self.origins}
        picked = rng.sample(self.origins, rng.randint(1, len(self.origins)))
        self.seeds = tuple(origin + "/" for origin in picked)
        # Sitemaps (read with --sitemaps): /sitemap.xml, and /s1.xml when robots.txt names it,
        # each listing pages (with a <lastmod> or not) and perhaps other sitemaps, loops included.
        self.named = {origin: rng.random() < 0.5 for origin in self.origins}
        sitemaps = [
            origin + path for origin in self.origins for path in ("/sitemap.xml", "/s1.xml")
        ]
        self.sitemaps = {
            url: (
                tuple(
                    (page, rng.choice([None, "2026-01-0" + str(rng.randint(1, 9))]))
                    for page in rng.sample(self.urls, min(len(self.urls), rng.randint(0, 8)))
                ),
                tuple(rng.sample(sitemaps, rng.randint(0, 2))),
            )
            for url in sitemaps
            if rng.random() < 0.8
        }

    def answer(self, request: FetchRequest) -> Outcome:
        """Return what `request` gets: the same whenever it is asked."""
        if request.kind is RequestKind.ROBOTS:
            origin = request.url.removesuffix("/robots.txt")
            named = b"Sitemap: /s1.xml\n" if self.named[origin] else b""
            if self.disallow[origin]:
                return FetchResponse(200, 0.01, body=b"User-agent: *\nDisallow: /p1\n" + named)
            return FetchResponse(200, 0.01, body=named) if named else FetchResponse(404, 0.01)
        if request.kind is RequestKind.SITEMAP:
            if request.url not in self.sitemaps:
                return FetchResponse(404, 0.01, "text/html")
            pages, sitemaps = self.sitemaps[request.url]
            listed = PageAnalysis(
                None,
                tuple((url, False) for url, _ in pages),
                len(pages) + len(sitemaps),
                sitemaps=sitemaps,
                lastmods=tuple(lastmod for _, lastmod in pages),
            )
            return FetchResponse(200, 0.01, "application/xml", body_bytes=100, page=listed)
        kind = self.kinds.get(request.url, "page")
        if kind == "redirect":
            return FetchResponse(302, 0.01, location=self.targets[request.url])
        if kind == "404":
            return FetchResponse(404, 0.01, "text/html")
        if kind == "flaky" and request.attempt == 1:
            return FetchResponse(503, 0.01)
        if kind == "timeout" and request.attempt <= 2:
            return FetchFailure(ErrorKind.TIMEOUT, 0.01)
        links = tuple((link, False) for link in self.links.get(request.url, ()))
        page = PageAnalysis("t", links, len(links))
        return FetchResponse(200, 0.01, "text/html", body_bytes=100, page=page)


def crawl(site: FixedSite, order: int, **limits: Any) -> dict[str, tuple[Any, ...]]:
    """Crawl `site` with answers arriving in an order drawn from `order`; return each URL's
    record without its timing."""
    rng = random.Random(order)
    concurrency = rng.randint(1, 8)
    policy = CrawlPolicy(
        seeds=site.seeds,
        allow_domains=("*.test",),
        concurrency=concurrency,
        per_host=rng.randint(1, concurrency),
        retries=1,
        backoff=0.05,
        **limits,
    )
    core = CrawlCore(policy)
    now, answers, sequence = 0.0, [], 0
    records = []
    for _ in range(100_000):
        step = core.next_request(now)
        records.extend(core.take_records())
        if isinstance(step, FetchRequest):
            core.sent(step, now)
            sequence += 1
            heapq.heappush(answers, (now + rng.expovariate(10.0), sequence, step))
            continue
        if isinstance(step, Done):
            break
        if isinstance(step, Wait) and (not answers or now + step.seconds < answers[0][0]):
            now += step.seconds
            continue
        now, _, request = heapq.heappop(answers)
        core.complete(request, site.answer(request), now)
    else:
        raise AssertionError("the crawl did not end")
    records.extend(core.take_records())
    assert len({record.url for record in records}) == len(records)
    return {
        r.url: (
            r.final_url,
            r.status,
            r.depth,
            r.parent,
            r.error,
            r.attempts,
            r.links,
            r.kind,
            r.lastmod,
        )
        for r in records
    }


@pytest.mark.parametrize("block", range(5))
def test_every_order_of_answers_gives_the_same_records(block: int) -> None:
    """On 40 random sites per block, five crawls in five random orders of answers (and random
    concurrency and per-host limits) write the same records: URL, final URL, status, depth,
    parent, error, attempts."""
    for seed in range(block * 40, block * 40 + 40):
        site = FixedSite(seed)
        max_depth = random.Random(seed).randint(1, 5)
        first = crawl(site, order=seed * 10, max_depth=max_depth)
        for order in range(seed * 10 + 1, seed * 10 + 5):
            assert crawl(site, order=order, max_depth=max_depth) == first, (seed, order)


@pytest.mark.parametrize("block", range(2))
def test_sitemaps_give_the_same_records_in_every_order(block: int) -> None:
    """With --sitemaps (and --sitemaps-only) on 40 random sites per block, whose sitemaps list
    pages also linked from pages, name each other in loops and give <lastmod>s: five orders of
    answers write the same records, the sitemaps' kind and each page's lastmod included."""
    for seed in range(block * 40, block * 40 + 40):
        site = FixedSite(seed)
        rng = random.Random(seed)
        limits = {"max_depth": rng.randint(1, 5), "sitemaps": True}
        if rng.random() < 0.3:
            limits["sitemaps_only"] = True
        first = crawl(site, order=seed * 10, **limits)
        assert any(kind == "sitemap" for *_, kind, _ in first.values())
        for order in range(seed * 10 + 1, seed * 10 + 5):
            assert crawl(site, order=order, **limits) == first, (seed, order)
