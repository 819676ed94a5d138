"""What a page's links cost: Python's documentation (Debian python3-doc) beside the mock site.

For every HTML page of each set, no network: lexbor's parse and anchor selection alone (the
floor), `analyze_page` at default settings, and the link resolution inside it (every href of the
page resolved against its URL, as the analysis does), per page and per link. The fastest of
`--repeat` passes over all pages is kept (the least disturbed by the machine's other work).

Needs scripts/install-benchmark-packages (python3-doc). Run:
`.venv/bin/python benchmarks/links.py [--repeat 3]`; writes results/links.{json,md}.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import command_line, git_revision, machine, write_results
from selectolax.lexbor import LexborHTMLParser

from crawler.core import urls
from crawler.core.urls import LinkResolver
from crawler.pages.parse import analyze_page
from mock_server import Site, load_settings

PYTHON_DOCS = Path("/usr/share/doc/python3/html")
CONTENT_TYPE = "text/html; charset=utf-8"
CACHES = [
    getattr(urls, name)
    for name in dir(urls)
    if callable(getattr(getattr(urls, name), "cache_clear", None))
]


def python_docs() -> list[tuple[str, bytes]]:
    pages = sorted(PYTHON_DOCS.rglob("*.html"))
    if not pages:
        raise SystemExit(f"no pages under {PYTHON_DOCS}: run scripts/install-benchmark-packages")
    base = "http://127.0.0.1:8080/"
    return [(base + str(page.relative_to(PYTHON_DOCS)), page.read_bytes()) for page in pages]


def mock_site(count: int = 2_000) -> list[tuple[str, bytes]]:
    site = Site(load_settings(overrides={"pages": count}).site)
    return [(site.page_url(page), site.render_page(page)[0]) for page in range(count)]


def fastest_us(pages: list[Any], work: Callable[[Any], object], repeat: int) -> float:
    """CPU microseconds per page of `work` over every page: the fastest of `repeat` passes.

    Each pass starts with the link caches empty, as a crawl does: hrefs repeated from page to
    page (menus, the index) are resolved once per pass, as once per crawl.
    """
    passes = []
    for _ in range(repeat):
        for cache in CACHES:
            cache.cache_clear()
        started = time.process_time()
        for page in pages:
            work(page)
        passes.append(time.process_time() - started)
    return min(passes) / len(pages) * 1e6


def hrefs_of(body: bytes) -> list[str]:
    return [node.attributes.get("href") or "" for node in LexborHTMLParser(body).css("a[href]")]


def resolve_all(page: tuple[str, list[str]]) -> None:
    url, hrefs = page
    resolver = LinkResolver(url)
    for href in hrefs:
        resolver.resolve(href)


def measure(pages: list[tuple[str, bytes]], repeat: int) -> dict[str, float]:
    with_hrefs = [(url, hrefs_of(body)) for url, body in pages]
    links = sum(len(hrefs) for _, hrefs in with_hrefs) / len(pages)
    resolve_us = fastest_us(with_hrefs, resolve_all, repeat)
    return {
        "pages": len(pages),
        "median_kb": statistics.median(len(body) for _, body in pages) / 1024,
        "anchors_per_page": links,
        "lexbor_parse_and_anchors_us": fastest_us(
            pages, lambda page: LexborHTMLParser(page[1]).css("a[href]"), repeat
        ),
        "analyze_page_us": fastest_us(
            pages, lambda page: analyze_page(page[1], page[0], CONTENT_TYPE), repeat
        ),
        "resolve_us_per_page": resolve_us,
        "resolve_us_per_link": resolve_us / links,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    sets = {
        "python3-doc": measure(python_docs(), arguments.repeat),
        "mock site": measure(mock_site(), arguments.repeat),
    }
    for name, figures in sets.items():
        print(name, figures)
    result = {
        "benchmark": "links",
        "command": command_line(),
        "revision": git_revision(),
        "machine": machine(),
        "sets": sets,
    }
    write_results("links", result, markdown(result))


def markdown(result: dict[str, Any]) -> str:
    facts, sets = result["machine"], result["sets"]
    docs, mock = sets["python3-doc"], sets["mock site"]
    rows = [
        ("HTML pages", "{pages:,}", ""),
        ("median page size", "{median_kb:.0f} KB", ""),
        ("anchors per page", "{anchors_per_page:.0f}", ""),
        (
            "lexbor parse + `css('a[href]')` (the floor)",
            "{lexbor_parse_and_anchors_us:.0f} us",
            "x",
        ),
        ("`analyze_page` at defaults", "{analyze_page_us:.0f} us", "x"),
        ("link resolution, per page", "{resolve_us_per_page:.0f} us", "x"),
        ("link resolution, per link", "{resolve_us_per_link:.2f} us", ""),
    ]
    table = ["| CPU per page, no network | python3-doc | mock site | ratio |", "|---|---|---|---|"]
    for label, template, ratio in rows:
        key = template.split("{")[1].split(":")[0].split("}")[0]
        times = f"{docs[key] / mock[key]:.1f}x" if ratio else ""
        table.append(
            f"| {label} | {template.format(**docs)} | {template.format(**mock)} | {times} |"
        )
    return "\n".join(
        [
            "# What a page's links cost: real documentation beside the mock site",
            "",
            f"- Command: `{result['command']}` (revision {result['revision']})",
            f"- Machine: {facts['cores']} cores, {facts['cpu']}, Python {facts['python']}, {facts['date']}",
            "- No network: pages read from disk (python3-doc) or rendered by the mock site's "
            "model. Fastest of the repeated passes over all pages.",
            "",
            *table,
            "",
            "A documentation page is larger and carries many more links than a mock page, so it "
            "costs more to parse whatever the crawler does: the ratio to compare is the crawler's "
            "against the floor's, row by row.",
            "",
        ]
    )


if __name__ == "__main__":
    main()
