"""`--extract NAME=SELECTOR`: what a page's record carries in `data`.

The selectors mean what they mean in Scrapy: on real documentation pages three generators made
(Debian's Sphinx, texinfo and DocBook packages), every rule extracts what parsel, Scrapy's own
selector library, extracts from the same file. Through real HTTP, every strategy writes the same
`data`; a config's `[extract]` table limits rules to URL patterns; a bad rule is one line before
the crawl starts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import parsel
import pytest
from selectolax.lexbor import LexborHTMLParser

from crawler.core.records import Record
from crawler.pages.extract import extract, parse_rule, rules_from_table, split_selector
from crawler.strategies import STRATEGIES
from mock_server import MockServerProcess, load_settings

DOCUMENTATION = [
    Path("/usr/share/doc/python-requests-doc/html"),
    Path("/usr/share/doc/diffutils"),
    Path("/usr/share/doc/docbook-xsl-doc-html/doc"),
]
SELECTORS = [
    "title::text",
    "h1::text",
    "h2 *::text",
    "a::attr(href)",
    "a[href^='http']::attr(href)",
    "img::attr(alt)",
    "code",
    "li > a::text",
    "div p::text",
    "table td:first-child",
    "meta[name]::attr(content)",
]
RULES = ["title=title::text", "links=a::attr(href)", "lead=p::text", "first=p:first-of-type"]


def test_selectors_extract_what_parsel_extracts_on_real_documentation() -> None:
    """Eleven selectors (text, descendant text, attributes, whole elements) on 60 pages of three
    generators' documentation: the same values, in the same order, as parsel's `getall()`."""
    pages = [
        page
        for folder in DOCUMENTATION
        for page in sorted(folder.rglob("*.html"))[:20]
        if folder.is_dir()
    ]
    if len(pages) < 30:
        pytest.skip("the documentation packages are missing: run scripts/install-system-packages")
    rules = [parse_rule(f"f{index}={selector}") for index, selector in enumerate(SELECTORS)]
    compared = 0
    for page in pages:
        body = page.read_bytes()
        theirs = parsel.Selector(body.decode("utf-8", errors="replace"))
        ours = dict(extract(LexborHTMLParser(body.decode("utf-8", errors="replace")), "", rules))
        for rule in rules:
            expected = theirs.css(rule.selector).getall()
            assert list(ours[rule.name]) == expected, (page, rule.selector)
            compared += len(expected)
    assert compared > 1000


def test_a_selector_is_css_with_scrapys_pseudo_elements() -> None:
    """`::text` takes the text nodes, ` *::text` every text node inside, `::attr(x)` an
    attribute, nothing the element, as parsel reads them; a rule is NAME=SELECTOR; an
    `[extract]` table's sub-tables are URL patterns."""
    assert split_selector("h1::text") == ("h1", "text", "")
    assert split_selector("a.x::attr( href )") == ("a.x", "attr", "href")
    assert split_selector("div > p") == ("div > p", "html", "")
    tree = LexborHTMLParser('<h1>A <b>B</b> C</h1><a href="/1">1</a><a>2</a>')
    rules = [parse_rule("h=h1::text"), parse_rule("b=h1 *::text"), parse_rule("a=a::attr(href)")]
    assert extract(tree, "", rules) == (
        ("h", ("A ", " C")),
        ("b", ("A ", "B", " C")),
        ("a", ("/1",)),
    )
    child = LexborHTMLParser("<div><p>x<i>y</i></p></div>")
    assert extract(child, "", [parse_rule("c=div > *::text")]) == (("c", ("x",)),)
    table = rules_from_table({"title": "title::text", "/blog/": {"author": ".by::text"}})
    assert [(rule.name, rule.url_pattern) for rule in table] == [
        ("title", ""),
        ("author", "/blog/"),
    ]
    assert table[1].applies_to("http://x/blog/1") and not table[1].applies_to("http://x/news/1")
    for bad, needle in (
        ("h1::text", "is not NAME=SELECTOR"),
        ("=h1", "is not a field name"),
        ("t=", "the selector is empty"),
        ("t=h1[[", "is not a CSS selector lexbor can read"),
    ):
        with pytest.raises(ValueError, match=needle):
            parse_rule(bad)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    settings = load_settings(overrides={"pages": 25, "links": 6, "faults": "none"})
    with MockServerProcess(settings) as server:
        yield server.base_url


def crawl(seed: str, out: Path, *flags: str) -> tuple[int, list[Record], str]:
    """Crawl with `flags`; return the exit status, the records and stderr."""
    output = out / "records.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "crawler", "crawl", seed, "-q", "-o", str(output), "--workers",
         "1", *flags],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    records = (
        [Record.from_json(line) for line in output.read_text().splitlines()]
        if output.exists()
        else []
    )
    return result.returncode, records, result.stderr


def test_every_strategy_writes_the_same_data(site: str, tmp_path: Path) -> None:
    """The same rules in every strategy give every page the same `data`, wherever its parse
    ran (the loop, threads, a process pool, fetching processes, fleet workers)."""
    flags = [arg for rule in RULES for arg in ("--extract", rule)]
    found: dict[str, dict[str, Any]] = {}
    for strategy in map(str, STRATEGIES):
        out = tmp_path / strategy
        out.mkdir()
        status, records, stderr = crawl(site, out, "--strategy", strategy, *flags)
        assert status == 0, stderr
        found[strategy] = {record.url: record.data for record in records}
    reference = found["sync"]
    assert len(reference) == 25
    pages = [data for data in reference.values() if data is not None]
    assert pages and all([name for name, _ in data] == ["title", "links", "lead", "first"]
                         for data in pages)  # fmt: skip
    assert all(data[1][1] for data in pages)  # every page has links
    for strategy, data in found.items():
        assert data == reference, strategy


def test_a_config_table_gives_rules_per_url_pattern(site: str, tmp_path: Path) -> None:
    """`[extract]` in a config file: a rule for every page, and one for the pages under
    /section-1/ only; `data` is in the JSON line, an object of lists."""
    config = tmp_path / "crawl.toml"
    config.write_text(
        '[extract]\ntitle = "title::text"\n\n[extract."/section-1/"]\nheading = "h1::text"\n'
    )
    status, records, stderr = crawl(site, tmp_path, "--config", str(config))
    assert status == 0, stderr
    pages = [record for record in records if record.data is not None]
    assert pages
    for record in pages:
        names = [name for name, _ in record.data or ()]
        assert names == (["title", "heading"] if "/section-1/" in record.url else ["title"])
    line = (tmp_path / "records.jsonl").read_text().splitlines()[0]
    assert isinstance(json.loads(line)["data"]["title"], list)
    assert all(record.data is None for record in records if record.content_type is None)


@pytest.mark.parametrize(
    "flags,config,needle",
    [
        (["--extract", "title"], None, "--extract: 'title' is not NAME=SELECTOR"),
        (["--extract", "t=div >> p"], None, "is not a CSS selector lexbor can read"),
        ([], '[extract]\n"a b" = "p"\n', "'a b' is not a field name"),
        ([], '[extract."(unclosed"]\nx = "p"\n', "URL pattern '(unclosed'"),
    ],
)
def test_a_bad_rule_is_one_line_before_the_crawl(
    tmp_path: Path, flags: list[str], config: str | None, needle: str
) -> None:
    """A rule that cannot be used stops the command before any request, in one line."""
    if config is not None:
        path = tmp_path / "bad.toml"
        path.write_text(config)
        flags = [*flags, "--config", str(path)]
    status, records, stderr = crawl("http://127.0.0.1:1/", tmp_path, *flags)
    assert status == 2 and records == []
    assert len(stderr.strip().splitlines()) == 1 and needle in stderr, stderr
