"""robots.txt as RFC 9309 reads it, and a crawl's scope as a site's redirects define it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from crawler.core.records import Record
from crawler.core.robots import RobotsRules
from crawler.core.scope import Scope
from crawler.run.crawl import CrawlOutcome, run_crawl
from crawler.settings import load_crawl_settings
from tests.crawling import check_output, read_records
from tests.sites import html, robots, serve

RULES = "User-agent: *\nDisallow: /private/\n"


async def crawl(seed: str, output: Path, **overrides: Any) -> tuple[CrawlOutcome, list[Record]]:
    settings = load_crawl_settings(
        overrides={
            "seeds": [seed],
            "output": str(output),
            "quiet": True,
            "retries": 0,
            **overrides,
        }
    )
    outcome = await asyncio.to_thread(run_crawl, settings, None, False)
    check_output(output, outcome.summary["pages"])
    return outcome, read_records(output)


def errors_by_path(records: list[Record], base: str) -> dict[str, str | None]:
    return {
        record.url.removeprefix(base.rstrip("/")): (record.error.value if record.error else None)
        for record in records
    }


SITE = {"/": html("/private/x", "/open"), "/open": html(), "/private/x": html()}


async def test_a_byte_order_mark_does_not_hide_the_rules(tmp_path: Path) -> None:
    """RFC 9309 §2.3.1 allows a UTF-8 BOM; the rules after it still apply."""
    pages = {**SITE, "/robots.txt": robots("\ufeff" + RULES)}
    async with serve(pages) as base:
        _, records = await crawl(base, tmp_path / "out.jsonl")
    assert errors_by_path(records, base) == {"/": None, "/open": None, "/private/x": "robots"}


async def test_robots_txt_redirects_are_followed_five_hops_across_hosts(tmp_path: Path) -> None:
    """A robots.txt that redirects, even to another origin, is read where the redirects end
    (up to five hops), and its rules apply to the origin that was asked."""
    elsewhere: dict[str, str] = {}
    async with serve({"/rules.txt": robots(RULES)}, redirects=elsewhere) as other:
        hops = {f"/hop{n}": f"/hop{n + 1}" for n in range(1, 4)}
        elsewhere.update({"/hop4": "/rules.txt"})
        redirects = {"/robots.txt": f"{other}hop1", **hops}
        elsewhere.update({path: target for path, target in hops.items()})
        async with serve(SITE, redirects=redirects) as base:
            _, records = await crawl(base, tmp_path / "out.jsonl")
    # robots.txt -> other/hop1 -> hop2 -> hop3 -> hop4 -> rules.txt: five redirects.
    assert errors_by_path(records, base) == {"/": None, "/open": None, "/private/x": "robots"}


async def test_more_than_five_robots_redirects_mean_no_rules(tmp_path: Path) -> None:
    """Past five redirects robots.txt is "unavailable" (RFC 9309 §2.3.1.2): everything may be
    crawled, as after a 404."""
    redirects = {"/robots.txt": "/r1", **{f"/r{n}": f"/r{n + 1}" for n in range(1, 6)}}
    pages = {**SITE, "/r6": robots(RULES)}
    async with serve(pages, redirects=redirects) as base:
        _, records = await crawl(base, tmp_path / "out.jsonl")
    assert errors_by_path(records, base) == {"/": None, "/open": None, "/private/x": None}


async def test_a_seed_that_moves_to_another_origin_takes_its_scope_along(tmp_path: Path) -> None:
    """http -> https or apex -> www: the seed's own redirect puts its final origin in scope, the
    summary says so, and the site is crawled there, its home page a record of its own."""
    moves: dict[str, str] = {}
    async with (
        serve({"/": html("/page"), "/page": html()}) as moved_to,
        serve({}, redirects=moves) as seed,
    ):
        moves["/"] = moved_to
        outcome, records = await crawl(seed, tmp_path / "out.jsonl")
    assert {(record.url, record.final_url, record.error) for record in records} == {
        (moved_to + "page", moved_to + "page", None),
        (moved_to, moved_to, None),
        (seed, moved_to, None),
    }
    assert outcome.summary["scope_added"] == [moved_to.rstrip("/")]


async def test_a_page_that_redirects_elsewhere_does_not_widen_the_scope(tmp_path: Path) -> None:
    """A page (not a seed) redirecting to another origin is an out-of-scope redirect; the scope stays."""
    moves: dict[str, str] = {}
    async with (
        serve({"/": html("/away")}) as other,
        serve({"/": html("/moved")}, redirects=moves) as base,
    ):
        moves["/moved"] = other
        outcome, records = await crawl(base, tmp_path / "out.jsonl")
    assert errors_by_path(records, base)["/moved"] == "out_of_scope_redirect"
    assert outcome.summary["scope_added"] == []


async def test_only_the_seed_names_the_failure_behind_an_unavailable_robots_txt(
    tmp_path: Path,
) -> None:
    """A host that refuses connections: its seed's record says `connect`; a page of it found
    through a link says `robots_unavailable`, the consequence it met."""
    refused = "http://127.0.0.1:9/"
    async with serve({"/": html(refused + "page")}) as base:
        settings = {"allow_domains": ["127.0.0.1:9"]}
        _, records = await crawl(base, tmp_path / "out.jsonl", **settings)
        _, seed_records = await crawl(refused, tmp_path / "seed.jsonl")
    assert {record.url: str(record.error) for record in records} == {
        base: "None",
        refused + "page": "robots_unavailable",
    }
    assert [str(record.error) for record in seed_records] == ["connect"]


def test_a_wildcard_allows_a_domain_and_every_host_under_it() -> None:
    """`*.example.com` allows example.com and any host under it, on any port and scheme, and no other."""
    scope = Scope.build(["http://seed.test/"], ["*.example.com"])
    for origin in ("http://example.com", "https://docs.example.com:8443", "http://a.b.example.com"):
        assert scope.allows_origin(origin), origin
    for origin in ("http://badexample.com", "http://example.com.evil.test", "http://other.test"):
        assert not scope.allows_origin(origin), origin


# RFC 9309's rules, one case each: (robots.txt, URL, allowed for "crawler-lab").
RFC_9309_CASES = {
    "§2.2.2 the most specific (longest) match wins": (
        "User-agent: *\nDisallow: /a\nAllow: /a/b\n",
        "http://x.test/a/b/c",
        True,
    ),
    "§2.2.2 on a tie, allow wins": ("User-agent: *\nDisallow: /a\nAllow: /a\n", "/a", True),
    "§2.2.1 the product token matches case-insensitively": (
        "User-agent: CRAWLER-LAB\nDisallow: /\n\nUser-agent: *\nAllow: /\n",
        "/a",
        False,
    ),
    "§2.2.1 a matching group beats the * group": (
        "User-agent: *\nDisallow: /\n\nUser-agent: crawler-lab\nAllow: /\n",
        "/a",
        True,
    ),
    "§2.2.1 groups for one agent are combined": (
        "User-agent: crawler-lab\nDisallow: /a\n\nUser-agent: crawler-lab\nDisallow: /b\n",
        "/b",
        False,
    ),
    "§2.1 several user-agent lines start one group": (
        "User-agent: other\nUser-agent: crawler-lab\nDisallow: /z\n",
        "/z",
        False,
    ),
    "§2.2.2 percent-encoded and UTF-8 paths compare encoded": (
        "User-agent: *\nDisallow: /\u4f60\n",
        "/%E4%BD%A0",
        False,
    ),
    "§2.2.2 an escaped unreserved character is that character": (
        "User-agent: *\nDisallow: /%7ea\n",
        "/~a",
        False,
    ),
    "§2.2.3 $ ends the pattern": ("User-agent: *\nDisallow: /*.pdf$\n", "/a.pdfx", True),
    "§2.2.3 * matches any run": ("User-agent: *\nDisallow: /*.pdf$\n", "/d/a.pdf", False),
    "§2.2.2 the query is part of the path matched": (
        "User-agent: *\nDisallow: /p?x=1\n",
        "/p?x=1",
        False,
    ),
    "§2.2.4 unknown records are ignored": ("User-agent: *\nFoo: bar\nDisallow: /q\n", "/q", False),
    "§2.2 CRLF line ends and comments": ("User-agent: * # c\r\nDisallow: /q # c\r\n", "/q", False),
    "§2.2.2 an empty Disallow allows everything": ("User-agent: *\nDisallow:\n", "/q", True),
    "§2.2.2 /robots.txt is implicitly allowed": (
        "User-agent: *\nDisallow: /\n",
        "/robots.txt",
        True,
    ),
    "§2.3.1 a UTF-8 byte-order mark is skipped": ("\ufeffUser-agent: *\nDisallow: /\n", "/", False),
}


@pytest.mark.parametrize("case", sorted(RFC_9309_CASES))
def test_rules_are_matched_as_rfc_9309_says(case: str) -> None:
    """Each rule of RFC 9309 allows or disallows its URL as the RFC says, for `crawler-lab`."""
    text, url, allowed = RFC_9309_CASES[case]
    url = url if url.startswith("http") else "http://x.test" + url
    rules = RobotsRules.parse(text.encode(), "crawler-lab")
    assert rules.allows(url, "crawler-lab") is allowed
