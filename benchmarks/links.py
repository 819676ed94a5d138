"""What a page's links cost: Python's documentation (Debian python3-doc) beside the mock site.

For every HTML page of each set, no network: lexbor's parse and anchor selection alone (the
floor), `analyze_page` at default settings, and the link resolution inside it (every href of the
page resolved against its URL, as the analysis does), per page and per link: as the crawler does
it, with every href sent to the WHATWG parser (the string fast path off), and, given `--before
DIR` (a checkout of an earlier revision), by that revision's `crawler/core/urls.py`, side by
side in the same run. The fastest of `--repeat` passes over all pages is kept (the least
disturbed by the machine's other work).

Needs scripts/install-benchmark-packages (python3-doc). Run:
`.venv/bin/python benchmarks/links.py [--repeat 3] [--before DIR]`; writes
results/links.{json,md}.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from common import command_line, git_revision, machine, write_results
from selectolax.lexbor import LexborHTMLParser

from crawler.core import urls
from crawler.pages.parse import analyze_page
from mock_server import Site, load_settings

PYTHON_DOCS = Path("/usr/share/doc/python3/html")
CONTENT_TYPE = "text/html; charset=utf-8"


def caches_of(module: ModuleType) -> list[Any]:
    """The memoized functions of a URL module, emptied before each pass."""
    return [
        getattr(module, name)
        for name in dir(module)
        if callable(getattr(getattr(module, name), "cache_clear", None))
    ]


CACHES = caches_of(urls)


def urls_of_revision(checkout: Path) -> ModuleType:
    """Load an earlier revision's `crawler/core/urls.py` beside this one's, under its own name."""
    spec = importlib.util.spec_from_file_location("urls_before", checkout / "crawler/core/urls.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def python_docs() -> list[tuple[str, bytes]]:
    pages = sorted(PYTHON_DOCS.rglob("*.html"))
    if not pages:
        raise SystemExit(f"no pages under {PYTHON_DOCS}: run scripts/install-benchmark-packages")
    base = "http://127.0.0.1:8080/"
    return [(base + str(page.relative_to(PYTHON_DOCS)), page.read_bytes()) for page in pages]


def mock_site(count: int = 2_000) -> list[tuple[str, bytes]]:
    site = Site(load_settings(overrides={"pages": count}).site)
    return [(site.page_url(page), site.render_page(page)[0]) for page in range(count)]


def fastest_us(
    pages: list[Any], work: Callable[[Any], object], repeat: int, caches: list[Any] = CACHES
) -> float:
    """CPU microseconds per page of `work` over every page: the fastest of `repeat` passes.

    Each pass starts with the link caches empty, as a crawl does: hrefs repeated from page to
    page (menus, the index) are resolved once per pass, as once per crawl.
    """
    passes = []
    for _ in range(repeat):
        for cache in caches:
            cache.cache_clear()
        started = time.process_time()
        for page in pages:
            work(page)
        passes.append(time.process_time() - started)
    return min(passes) / len(pages) * 1e6


def hrefs_of(body: bytes) -> list[str]:
    return [node.attributes.get("href") or "" for node in LexborHTMLParser(body).css("a[href]")]


def revision_of(checkout: Path) -> str:
    """The commit a checkout of an earlier revision is at."""
    done = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def resolver_of(module: ModuleType, joins_as_strings: bool = True) -> Callable[[Any], None]:
    """Resolve every href of a page as the analysis does, by `module`'s `LinkResolver`."""

    def resolve_all(page: tuple[str, list[str]]) -> None:
        url, hrefs = page
        resolver = module.LinkResolver(url)
        resolver.joins_as_strings = joins_as_strings
        for href in hrefs:
            resolver.resolve(href)

    return resolve_all


def measure(
    pages: list[tuple[str, bytes]], repeat: int, before: ModuleType | None
) -> dict[str, float]:
    with_hrefs = [(url, hrefs_of(body)) for url, body in pages]
    links = sum(len(hrefs) for _, hrefs in with_hrefs) / len(pages)
    resolve_us = fastest_us(with_hrefs, resolver_of(urls), repeat)
    parser_only_us = fastest_us(with_hrefs, resolver_of(urls, joins_as_strings=False), repeat)
    earlier = {}
    if before is not None:
        before_us = fastest_us(with_hrefs, resolver_of(before), repeat, caches_of(before))
        earlier = {
            "resolve_before_us_per_page": before_us,
            "resolve_before_us_per_link": before_us / links,
        }
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
        "resolve_parser_only_us_per_page": parser_only_us,
        "resolve_parser_only_us_per_link": parser_only_us / links,
        **earlier,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--before", type=Path, help="a checkout of an earlier revision, measured beside this one"
    )
    arguments = parser.parse_args()
    before = urls_of_revision(arguments.before) if arguments.before else None
    sets = {
        "python3-doc": measure(python_docs(), arguments.repeat, before),
        "mock site": measure(mock_site(), arguments.repeat, before),
    }
    for name, figures in sets.items():
        print(name, figures)
    result = {
        "benchmark": "links",
        "command": command_line(),
        "revision": git_revision(),
        "before_revision": revision_of(arguments.before) if arguments.before else None,
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
        (
            "link resolution, every href to the parser, per page",
            "{resolve_parser_only_us_per_page:.0f} us",
            "x",
        ),
        (
            "link resolution, every href to the parser, per link",
            "{resolve_parser_only_us_per_link:.2f} us",
            "",
        ),
    ]
    if result["before_revision"]:
        before = f"revision {result['before_revision']}"
        rows.append(
            (f"link resolution at {before}, per page", "{resolve_before_us_per_page:.0f} us", "x")
        )
        rows.append(
            (f"link resolution at {before}, per link", "{resolve_before_us_per_link:.2f} us", "")
        )
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
            "Link resolution reads hrefs by the WHATWG URL Standard (ada, through `ada-url`) and "
            'joins plain ones as strings; the row "every href to the parser" is the same '
            "resolver with that fast path off (`joins_as_strings = False`), measured in the same "
            "run, so the two rows say what the fast path saves. Both memoize by the part of the "
            "base an href depends on, so a navigation link repeated on every page is resolved "
            "once per pass.",
            "",
        ]
    )


if __name__ == "__main__":
    main()
