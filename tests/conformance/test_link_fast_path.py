"""The link resolver's string fast path on real documentation: every `href` and `src` of every
page of the documentation sets the nginx crawls read resolves as the WHATWG parser resolves it.

The fast path joins plain hrefs as strings and keeps absolute URLs already in normal form; the
parser (ada) is the reference. Both are checked against the parser given the whole page URL as
its base, so the resolver's memoizing by the base's origin and directory is checked too.
"""

from __future__ import annotations

from urllib.parse import quote

import ada_url
import pytest
from selectolax.lexbor import LexborHTMLParser

from crawler.core.urls import LinkResolver, normalize_url
from tests.conformance.servers import DOC_SETS, DocSet, MissingTool

ORIGIN = "http://127.0.0.1:8080/"
TRIMMED = "".join(chr(code) for code in range(0x21))


def parsed_alone(href: str, base: str) -> str | None:
    """The normal form of what the parser makes of `href` on `base`; None for the page itself."""
    stripped = href.strip(TRIMMED)
    if not stripped or stripped.startswith("#"):
        return None
    try:
        return normalize_url(ada_url.join_url(base, href))
    except ValueError:
        return None


@pytest.mark.parametrize("doc_set", DOC_SETS, ids=[doc_set.name for doc_set in DOC_SETS])
def test_every_href_of_the_documentation_resolves_as_the_parser_resolves_it(
    doc_set: DocSet,
) -> None:
    """The fast path, the resolver sending every href to the parser, and the parser on the
    whole page URL give the same link for each href on each page."""
    try:
        doc_set.require()
    except MissingTool as missing:
        pytest.fail(str(missing), pytrace=False)
    pages = sorted(doc_set.root.rglob("*.html"))
    checked = 0
    for page in pages:
        url = normalize_url(ORIGIN + quote(page.relative_to(doc_set.root).as_posix()))
        assert url is not None
        fast, parser = LinkResolver(url), LinkResolver(url)
        parser.joins_as_strings = False
        for node in LexborHTMLParser(page.read_bytes()).css("[href], [src]"):
            for attribute in ("href", "src"):
                href = node.attributes.get(attribute)
                if href is None:
                    continue
                expected = parsed_alone(href, url)
                assert fast.resolve(href) == expected, (url, href)
                assert parser.resolve(href) == expected, (url, href)
                checked += 1
    print(f"{doc_set.name}: {checked} hrefs on {len(pages)} pages")
    assert checked > 10 * len(pages)
