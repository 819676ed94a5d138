"""The pure site model: determinism, reachability, link spelling, charsets, fault placement."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser
from yarl import URL

from mock_server import FaultKind, Site, SiteSettings, expected_crawl
from mock_server.faults import HOSTILE_FAULTS, LINK_FAULTS, PAGE_FAULTS, parse_fault_spec
from mock_server.html_pages import write_href
from mock_server.site import Action

ALL_FAULTS = parse_fault_spec("all")


def every_url(site: Site) -> list[str]:
    """Return the URL of every page and of every fault link of the site."""
    urls = [site.page_url(page) for page in range(site.settings.pages)]
    for page in range(site.settings.pages):
        urls += site.fault_links(page)
    return urls


def test_same_settings_give_byte_identical_responses() -> None:
    """Two sites built from the same settings answer every URL with the same bytes."""
    first = Site(SiteSettings(pages=200, faults=ALL_FAULTS))
    second = Site(SiteSettings(pages=200, faults=ALL_FAULTS))
    for url in every_url(first):
        assert first.respond(url) == second.respond(url), url


def test_another_seed_gives_another_site() -> None:
    """Changing the seed changes the pages' content and links."""
    first = Site(SiteSettings(pages=200, seed=1))
    second = Site(SiteSettings(pages=200, seed=2))
    assert first.respond(first.page_url(0)).body != second.respond(second.page_url(0)).body
    assert [first.links(page) for page in range(50)] != [second.links(page) for page in range(50)]


@pytest.mark.parametrize("hosts", [1, 3])
def test_every_page_is_reachable_from_home(hosts: int) -> None:
    """Without faults, a complete crawl of all hosts reaches every page, each with status 200."""
    site = Site(SiteSettings(pages=500, hosts=hosts))
    expectation = expected_crawl(site, scope_hosts=range(hosts))
    assert set(expectation.records) == {site.page_url(page) for page in range(500)}
    assert {record.status for record in expectation.records.values()} == {200}


def test_written_hrefs_resolve_to_the_model_links() -> None:
    """Every in-site link the HTML spells (relative, ../, base href, escapes) resolves to the model's URL."""
    site = Site(SiteSettings(pages=300, faults=ALL_FAULTS))
    checked_base_href = False
    for page in range(300):
        if site.plan.page_fault.get(page) in (FaultKind.MALFORMED_HTML, FaultKind.OVERSIZE):
            continue
        body = site.render_page(page)[0].decode(site.charset_of(page))
        tree = LexborHTMLParser(body)
        base = URL(site.page_url(page))
        base_node = tree.css_first("base[href]")
        if base_node is not None:
            base = base.join(URL(base_node.attributes["href"] or ""))
            checked_base_href = True
        resolved = {
            str(base.join(URL(node.attributes["href"] or "")).with_fragment(None))
            for node in tree.css("a[href]")
        }
        in_site = {url for url in resolved if URL(url).host == "127.0.0.1"} - {site.page_url(page)}
        assert in_site == {link.url for link in site.links(page)} - {site.page_url(page)}, page
    assert checked_base_href


def test_links_are_in_normal_form() -> None:
    """The model names every link by its normalized URL, so dedup needs no second opinion."""
    site = Site(SiteSettings(pages=300, faults=ALL_FAULTS, hosts=2))
    for page in range(300):
        for link in site.links(page):
            assert str(URL(link.url)) == link.url


@given(
    path=st.from_regex(
        r"/[a-z0-9\-]{1,8}(/[a-z0-9\-]{1,8}){0,2}(\.html)?(\?id=[0-9]{1,3})?", fullmatch=True
    ),
    base_path=st.from_regex(r"/([a-z0-9\-]{1,8}/){0,2}([a-z\-]{1,8}\.html)?", fullmatch=True),
    form=st.integers(0, 7),
)
def test_every_href_form_resolves_back_to_its_target(path: str, base_path: str, form: int) -> None:
    """write_href's eight spellings all resolve, by RFC 3986, to the target they were written for."""
    target = URL("http://127.0.0.1:8000" + path)
    base = URL("http://127.0.0.1:8000" + base_path)
    href = write_href(target, base, form)
    assert base.join(URL(href)).with_fragment(None) == target


@pytest.mark.parametrize("kind", [FaultKind.CHARSET_HEADER, FaultKind.CHARSET_META])
def test_foreign_charset_pages_carry_foreign_text(kind: FaultKind) -> None:
    """Charset pages are not valid UTF-8 (or not ASCII) and decode to their title in their charset."""
    site = Site(SiteSettings(pages=400, faults={kind: 0.05}))
    for page in site.plan.pages_with(kind):
        response = site.respond(site.page_url(page))
        charset = site.charset_of(page)
        assert charset != "utf-8"
        content_type = dict(response.headers)["Content-Type"]
        assert (f"charset={charset}" in content_type) == (kind is FaultKind.CHARSET_HEADER)
        assert (f'<meta charset="{charset}">'.encode() in response.body) == (
            kind is FaultKind.CHARSET_META
        )
        assert site.title_of(page) in response.body.decode(charset)
        assert not response.body.isascii()


def test_every_enabled_fault_appears_even_on_a_small_site() -> None:
    """Each fault kind lands on at least one page, page faults never on the home page; `all`
    is every fault but the hostile ones, which `hostile` turns on."""
    site = Site(SiteSettings(pages=20, faults=ALL_FAULTS))
    for kind in (*PAGE_FAULTS, *LINK_FAULTS):
        assert bool(site.plan.pages_with(kind)) == (kind not in HOSTILE_FAULTS), kind
    assert 0 not in site.plan.page_fault
    hostile = Site(SiteSettings(pages=20, faults=parse_fault_spec("hostile")))
    for kind in HOSTILE_FAULTS:
        assert bool(hostile.plan.pages_with(kind)) == (kind in LINK_FAULTS), kind


def test_transient_faults_succeed_on_a_later_attempt() -> None:
    """503, 429 and resets fail `transient_failures` times, then answer 200."""
    site = Site(SiteSettings(pages=200, faults=ALL_FAULTS, transient_failures=2))
    for kind in (FaultKind.HTTP_503, FaultKind.HTTP_429, FaultKind.RESET):
        url = site.page_url(site.plan.pages_with(kind)[0])
        failures = [site.respond(url, attempt) for attempt in (1, 2)]
        assert all(r.status != 200 or r.action is Action.RESET for r in failures)
        assert site.respond(url, 3).status == 200 and site.respond(url, 3).action is Action.SEND


def test_spider_trap_is_bounded_only_by_depth() -> None:
    """The calendar trap grows the crawl by one page per extra level of depth."""
    site = Site(SiteSettings(pages=50, faults={FaultKind.SPIDER_TRAP: 0.02}))
    sizes = [len(expected_crawl(site, max_depth=depth).records) for depth in (10, 11, 12)]
    assert sizes[1] - sizes[0] == 1 and sizes[2] - sizes[1] == 1
    with pytest.raises(ValueError, match="endless"):
        expected_crawl(site)


def test_oracle_counts_retries_and_robots() -> None:
    """The oracle's request counts follow the retry budget, and robots-excluded URLs are never requested."""
    site = Site(SiteSettings(pages=200, faults=ALL_FAULTS))
    strict = expected_crawl(site, max_depth=6, retries=0)
    lenient = expected_crawl(site, max_depth=6, retries=3)
    failing = site.page_url(site.plan.pages_with(FaultKind.HTTP_500)[0])
    if failing in strict.records:
        assert strict.requests[failing] == 1 and lenient.requests[failing] == 4
    for url in strict.urls_with(FaultKind.ROBOTS):
        assert strict.requests[url] == 0
    ignoring = expected_crawl(site, max_depth=6, obey_robots=False)
    assert not ignoring.urls_with(FaultKind.ROBOTS)


def test_near_duplicates_share_most_of_their_words() -> None:
    """A near-duplicate page's prose differs from its twin's in only a few words."""
    site = Site(SiteSettings(pages=400, near_duplicates=0.1))
    pairs = [(page, site.near_duplicate_of(page)) for page in range(400)]
    pairs = [(page, twin) for page, twin in pairs if twin is not None]
    assert pairs
    page, twin = pairs[0]
    words = lambda p: set(LexborHTMLParser(site.render_page(p)[0]).css_first("p").text().split())  # noqa: E731
    assert len(words(page) & words(twin)) / len(words(twin)) > 0.8
    unrelated = random.Random(0).choice([p for p in range(2, 400) if p not in (page, twin)])
    assert len(words(unrelated) & words(twin)) / len(words(twin)) < 0.5
