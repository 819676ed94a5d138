"""A tiny reference crawler, independent of the crawler package, agrees with the site oracle.

If this walk over real HTTP finds exactly the oracle's URL set, then the model, its HTML and its
server tell one consistent story, and the oracle can be trusted to judge the real crawler.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from selectolax.lexbor import LexborHTMLParser
from yarl import URL

from mock_server import expected_crawl
from tests.conftest import StartServer


async def reference_walk(
    start: str, scope: set[str], concurrency: int = 20
) -> dict[str, tuple[int, int]]:
    """Walk from `start` level by level, a level being the URLs of one (crossings between
    origins, depth), fewest crossings first; return {url: (status, depth)}."""
    found: dict[str, tuple[int, int]] = {}
    best = {start: (0, 0)}
    levels: dict[tuple[int, int], list[str]] = {(0, 0): [start]}
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession() as session:

        async def visit(url: str, depth: int) -> list[str]:
            async with gate, session.get(url) as response:
                found[url] = (response.status, depth)
                if response.status != 200 or not response.content_type.startswith("text/html"):
                    return []
                tree = LexborHTMLParser(await response.read())
            base = URL(url)
            base_node = tree.css_first("base[href]")
            if base_node is not None:
                base = base.join(URL(base_node.attributes["href"] or ""))
            links = []
            for node in tree.css("a[href]"):
                target = base.join(URL(node.attributes["href"] or "")).with_fragment(None)
                if target.scheme in ("http", "https") and str(target.origin()) in scope:
                    links.append(str(target))
            return links

        while levels:
            crossings, depth = key = min(levels)
            level = [url for url in levels.pop(key) if best[url] == key]
            discovered = await asyncio.gather(*(visit(url, depth) for url in level))
            for url, links in zip(level, discovered, strict=True):
                origin = URL(url).origin()
                for link in links:
                    path = (crossings + (URL(link).origin() != origin), depth + 1)
                    if link not in best or path < best[link]:
                        best[link] = path
                        levels.setdefault(path, []).append(link)
    return found


@pytest.mark.parametrize("pages,hosts", [(400, 1), (300, 3)])
async def test_reference_walk_finds_exactly_the_oracle_set(
    start_server: StartServer, pages: int, hosts: int
) -> None:
    """Over HTTP, a breadth-first walk of every host finds exactly the oracle's URLs, statuses and depths."""
    server = await start_server(pages=pages, hosts=hosts)
    assert server.site is not None
    walked = await reference_walk(server.base_url, set(server.origins))
    expectation = expected_crawl(server.site, scope_hosts=range(hosts))
    assert walked == {
        url: (record.status, record.depth) for url, record in expectation.records.items()
    }
    assert len(walked) == pages


async def test_reference_walk_agrees_with_oracle_on_a_site_of_content_faults(
    start_server: StartServer,
) -> None:
    """Malformed HTML, foreign charsets, base hrefs, gzip and nofollow do not change the URL set."""
    faults = "malformed_html=0.1,charset_header=0.05,charset_meta=0.05,gzip=0.1,broken_link=0.05,non_html=0.03"
    server = await start_server(pages=300, faults=faults)
    assert server.site is not None
    walked = await reference_walk(server.base_url, set(server.origins))
    expectation = expected_crawl(server.site, obey_robots=False)
    assert {url: status for url, (status, _) in walked.items()} == {
        url: record.status for url, record in expectation.records.items()
    }
