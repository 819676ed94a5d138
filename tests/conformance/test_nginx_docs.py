"""The crawler on real documentation served by nginx, each strategy against the others and all
against wget.

Three Debian packages of HTML documentation, each made by a different generator (Sphinx, texinfo,
DocBook XSL), are served by nginx as they are installed. Every strategy must write the same
records; the HTML pages the crawler reaches must be those wget reaches, but for the differences
listed below, each with its reason; and gzip on the server must change nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conformance.crawls import (
    STRATEGIES,
    CrawlResult,
    comparable,
    is_html_page,
    path_of,
    run_crawler,
    run_wget,
)
from tests.conformance.servers import DOC_SETS, AccessLogLine, Nginx

DOC_SET_NAMES = [doc_set.name for doc_set in DOC_SETS]
# Links from a seed: far more than any of these trees is deep, so the crawl ends by itself.
CRAWL_OPTIONS = ("--max-depth", "1000")
# Fewer pages than this means the crawl did not really happen (a broken seed, say).
MIN_PAGES = {"requests": 20, "diffutils": 20, "docbook-xsl": 1000}

# HTML pages wget fetches and the crawler does not, by doc set: path, and why that is right.
WGET_ONLY_PAGES: dict[str, dict[str, str]] = {
    "requests": {
        "/genindex.html": 'only <link rel="index" href="genindex.html"> in each page\'s head points '
        "here: a relation between documents, which browsers do not offer as a link to follow",
        "/search.html": 'only <link rel="search" href="search.html"> and the sidebar\'s '
        '<form class="search" action="search.html"> point here: a form is submitted, not followed',
    },
}
# Requests of wget's that found nothing (4xx), by doc set: a pattern of their paths, and why the
# crawler is right not to make them.
WGET_ONLY_BROKEN: dict[str, tuple[str, str]] = {
    "requests": (
        r"/_static/requests-sidebar\.png",
        '<img class="logo" src="_static/requests-sidebar.png">, an image Debian\'s package leaves '
        "out; an image is part of a page, not a page",
    ),
    "docbook-xsl": (
        r"/[a-z]+/copyright\.html",
        'each part\'s pages say <link rel="copyright" href="copyright.html">, a file the package '
        "does not ship; <link> is not a link a reader follows",
    ),
}


@dataclass
class Crawls:
    """Crawls made once per module and shared by its tests (each takes a second or more)."""

    nginx: Nginx
    directory: Path
    done: dict[tuple[str, bool, str], CrawlResult] = field(default_factory=dict)

    def get(self, doc_set: str, strategy: str, gzip: bool = False) -> CrawlResult:
        """Crawl `doc_set` from its index with `strategy`, or return the crawl already made."""
        key = (doc_set, gzip, strategy)
        if key not in self.done:
            seed = self.nginx.origin(doc_set, gzip) + "/"
            output = self.directory / f"{doc_set}-{'gzip' if gzip else 'plain'}-{strategy}.jsonl"
            result = run_crawler([seed], output, strategy, *CRAWL_OPTIONS)
            print(
                f"{doc_set} ({'gzip' if gzip else 'plain'}) {strategy}: "
                f"{len(result.records)} records in {result.seconds:.2f}s"
            )
            self.done[key] = result
        return self.done[key]

    def get_all(self, doc_set: str, gzip: bool = False) -> dict[str, CrawlResult]:
        """Crawl `doc_set` with every strategy, side by side (each crawl is a process of its
        own, and part of its time is start-up and waiting), or return the crawls already made."""
        with ThreadPoolExecutor(len(STRATEGIES)) as pool:
            results = pool.map(lambda strategy: self.get(doc_set, strategy, gzip), STRATEGIES)
            return dict(zip(STRATEGIES, results, strict=True))


@pytest.fixture(scope="module")
def crawls(nginx: Nginx, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawls]:
    """The module's shared crawls of the nginx-served documentation."""
    yield Crawls(nginx, tmp_path_factory.mktemp("crawls"))


@pytest.fixture(scope="module")
def wget_requests(
    nginx: Nginx, wget: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[AccessLogLine]]:
    """Mirror every doc set with wget; return each one's requests as nginx logged them."""
    requests = {}
    for name in DOC_SET_NAMES:
        seconds = run_wget(wget, nginx.origin(name) + "/", tmp_path_factory.mktemp(f"wget-{name}"))
        requests[name] = nginx.requests(name, user_agent="Wget/")
        print(f"{name}: wget made {len(requests[name])} requests in {seconds:.2f}s")
    return requests


@pytest.mark.parametrize("doc_set", DOC_SET_NAMES)
def test_every_strategy_writes_the_same_records(crawls: Crawls, doc_set: str) -> None:
    """Real markup from a generator nobody here wrote is crawled alike by all four models."""
    results = crawls.get_all(doc_set)
    expected = sorted(comparable(record) for record in results["sync"].records)
    for strategy, result in results.items():
        got = sorted(comparable(record) for record in result.records)
        assert got == expected, (
            f"{strategy} differs from sync on {doc_set}: {_difference(got, expected)}"
        )
    pages = sum(is_html_page(record) for record in results["sync"].records)
    assert pages >= MIN_PAGES[doc_set]
    assert len({record.url for record in results["sync"].records}) == len(expected), "a URL twice"
    print(f"{doc_set}: {pages} HTML pages")


@pytest.mark.parametrize("doc_set", DOC_SET_NAMES)
def test_the_crawler_finds_the_pages_wget_finds(
    crawls: Crawls, wget_requests: dict[str, list[AccessLogLine]], doc_set: str
) -> None:
    """The HTML pages reached from the index are wget's, but for the listed differences."""
    records = crawls.get(doc_set, "async").records
    crawler_pages = {
        path_of(record.final_url or record.url) for record in records if is_html_page(record)
    }
    wget_pages = {
        line.uri
        for line in wget_requests[doc_set]
        if line.status == 200 and line.content_type.startswith("text/html")
    }
    expected_wget_only = set(WGET_ONLY_PAGES.get(doc_set, {}))
    assert crawler_pages - wget_pages == set(), "pages only the crawler reached"
    assert wget_pages - crawler_pages == expected_wget_only, "pages only wget reached"


@pytest.mark.parametrize("doc_set", DOC_SET_NAMES)
def test_the_crawler_requests_nothing_wget_does_not(
    crawls: Crawls, nginx: Nginx, wget_requests: dict[str, list[AccessLogLine]], doc_set: str
) -> None:
    """Every request the crawler makes, wget makes too; wget's broken requests are the listed
    ones; and the crawler meets no error at all on these trees."""
    records = crawls.get(doc_set, "async").records
    assert [record.url for record in records if record.error] == []
    crawler_uris = {line.uri for line in nginx.requests(doc_set, user_agent="crawler-lab")}
    wget_uris = {line.uri for line in wget_requests[doc_set]}
    assert crawler_uris - wget_uris == set()
    broken = {line.uri for line in wget_requests[doc_set] if line.status >= 400} - {"/robots.txt"}
    pattern, _reason = WGET_ONLY_BROKEN.get(doc_set, ("(?!)", ""))
    assert {uri for uri in broken if not re.fullmatch(pattern, uri)} == set()
    assert broken.isdisjoint(crawler_uris)


@pytest.mark.parametrize("doc_set", DOC_SET_NAMES)
def test_gzip_on_the_server_changes_no_record(crawls: Crawls, nginx: Nginx, doc_set: str) -> None:
    """nginx's gzip filter (chunked, compressed HTML) gives the records of plain responses."""
    plain = sorted(comparable(record) for record in crawls.get(doc_set, "sync").records)
    for strategy, result in crawls.get_all(doc_set, gzip=True).items():
        compressed = sorted(comparable(record) for record in result.records)
        assert compressed == plain, f"{strategy}: {_difference(compressed, plain)}"
    html = [
        line
        for line in nginx.requests(doc_set, gzip=True, user_agent="crawler-lab")
        if line.status == 200 and line.content_type.startswith("text/html")
    ]
    assert html, "no HTML was requested from the gzip server"
    assert {line.content_encoding for line in html} == {"gzip"}, "the pages were not compressed"


def _difference(got: list[tuple[object, ...]], expected: list[tuple[object, ...]]) -> str:
    """Say which records one crawl has and the other lacks (a few of each)."""
    extra = sorted(set(got) - set(expected), key=repr)[:5]
    missing = sorted(set(expected) - set(got), key=repr)[:5]
    return f"extra {extra}, missing {missing}"
