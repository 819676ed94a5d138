"""URL rules: resolution, normalization, scope. Property tests where there is an invariant."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.core.frontier import url_digest
from crawler.core.scope import Scope
from crawler.core.urls import LinkResolver, normalize_url, origin_of, resolve_link

BASE = "http://example.com/dir/page.html"

urls = st.builds(
    lambda scheme, host, port, path, query, fragment: (
        f"{scheme}://{host}{port}{path}{query}{fragment}"
    ),
    st.sampled_from(["http", "HTTP", "https"]),
    st.sampled_from(["example.com", "EXAMPLE.com", "a.b.example.org", "127.0.0.1", "münchen.de"]),
    st.sampled_from(["", ":80", ":443", ":8080"]),
    st.lists(
        st.sampled_from(["a", "b", "..", ".", "%7Euser", "x%2fy", "é", "c d"]), max_size=5
    ).map(lambda parts: "/" + "/".join(parts)),
    st.sampled_from(["", "?q=1", "?a=%41&b=2"]),
    st.sampled_from(["", "#frag", "#"]),
)


@given(urls)
def test_normalization_is_idempotent(url: str) -> None:
    """Normalizing a normalized URL changes nothing."""
    once = normalize_url(url)
    assert once is not None
    assert normalize_url(once) == once


@given(urls, urls)
def test_dedup_never_merges_distinct_urls(first: str, second: str) -> None:
    """Two URLs share a seen-set digest only if their normal forms are equal."""
    one, two = normalize_url(first), normalize_url(second)
    assert one is not None and two is not None
    assert (url_digest(one) == url_digest(two)) == (one == two)


def test_normal_form() -> None:
    """Scheme and host lowercased, default port and fragment dropped, dots resolved, escapes normalized."""
    assert (
        normalize_url("HTTP://Example.COM:80/a/./b/../%7euser/?x=1#top")
        == "http://example.com/a/~user/?x=1"
    )
    assert normalize_url("https://example.com:443") == "https://example.com/"
    assert normalize_url("https://example.com?q=1") == "https://example.com/?q=1"
    assert normalize_url("http://münchen.de/") == "http://xn--mnchen-3ya.de/"


def test_links_a_crawler_does_not_follow() -> None:
    """Non-http schemes, empty and fragment-only hrefs, broken ports and overlong URLs give None."""
    for href in (
        "mailto:a@b.c",
        "javascript:void(0)",
        "tel:+1",
        "data:text/html,hi",
        "ftp://x/",
        "#top",
        "",
        "   ",
        "http://x.com:99999/",
    ):
        assert resolve_link(href, BASE) is None, href
    assert resolve_link("/" + "a" * 3000, BASE) is None
    assert resolve_link("/" + "a" * 100, BASE, max_length=200) is not None


def test_relative_links_resolve_against_the_base() -> None:
    """Relative, ../, protocol-relative and query-only hrefs resolve as browsers resolve them."""
    assert resolve_link("other.html", BASE) == "http://example.com/dir/other.html"
    assert resolve_link("../up.html", BASE) == "http://example.com/up.html"
    assert resolve_link("//cdn.example.com/x", BASE) == "http://cdn.example.com/x"
    assert resolve_link("?page=2", BASE) == "http://example.com/dir/page.html?page=2"


# Escapes of characters a server may read differently decoded: reserved (gen- and sub-delims).
RESERVED_ESCAPES = [f"%{ord(char):02X}" for char in ":/?#[]@!$&'()*+,;="]
UNRESERVED = "ABCXYZabcxyz0189-._~"
escaped_parts = st.lists(
    st.one_of(
        st.sampled_from(RESERVED_ESCAPES),
        st.sampled_from(RESERVED_ESCAPES).map(str.lower),
        st.sampled_from(UNRESERVED),
        st.sampled_from([f"%{ord(char):02x}" for char in UNRESERVED]),
    ),
    min_size=1,
    max_size=8,
).map("".join)


# A path of one dot segment (`.`, `%2e.`...) is resolved away, as it should be.
@given(escaped_parts.filter(lambda part: unquote(part) not in (".", "..")), escaped_parts)
def test_a_reserved_escape_is_never_decoded(path: str, query: str) -> None:
    """In a path or a query, an escaped reserved character stays escaped (upper-cased), and an
    escaped unreserved one is decoded: `?y=%2F` is never requested as `?y=/`."""
    url = normalize_url(f"http://example.com/{path}?{query}")
    assert url is not None
    _, _, rest = url.partition("example.com/")
    got_path, _, got_query = rest.partition("?")
    for got, sent in ((got_path, path), (got_query, query)):
        expected = sent
        for char in UNRESERVED:
            expected = expected.replace(f"%{ord(char):02x}", char)
        for escape in RESERVED_ESCAPES:
            expected = expected.replace(escape.lower(), escape)
        assert got == expected
    assert normalize_url(url) == url


@pytest.mark.parametrize(
    "url,normal",
    [
        ("http://a.test/p?x=1&y=%2F", "http://a.test/p?x=1&y=%2F"),
        ("http://a.test/a%3Ab%40c%21d%24e%27f%28g%29h%2Ai%2Cj", None),
        ("http://a.test/%7euser/%41b%2fc", "http://a.test/~user/Ab%2Fc"),
        ("http://a.test/a/%2e%2E/b", "http://a.test/b"),
        ("http://a.test/café?q=é", "http://a.test/caf%C3%A9?q=%C3%A9"),
        ("http://a.test/a b", "http://a.test/a%20b"),
        ("http://a.test/100%", "http://a.test/100%"),
        ("http://a.test/a\\b/..\\c?d\\e", "http://a.test/a/c?d%5Ce"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
    ],
)
def test_normal_forms_browsers_and_rfc_3986_agree_on(url: str, normal: str | None) -> None:
    """Each URL has the normal form browsers and RFC 3986 give it (None: it is already normal)."""
    assert normalize_url(url) == (normal or url)


def test_hrefs_are_read_as_browsers_read_them() -> None:
    """Tabs and newlines anywhere are dropped, ends trimmed, backslashes before the query are
    slashes (WHATWG URL: every http(s) URL is special)."""
    assert resolve_link(" \tot\nher.html\r\n", BASE) == "http://example.com/dir/other.html"
    assert resolve_link("..\\up.html", BASE) == "http://example.com/up.html"
    assert resolve_link("\\\\cdn.example.com\\x", BASE) == "http://cdn.example.com/x"
    assert resolve_link("?y=%2f", BASE) == "http://example.com/dir/page.html?y=%2F"


def test_origin_of() -> None:
    """The origin of a normalized URL is scheme://host[:port], without path or query."""
    assert origin_of("http://example.com:8080/a?b") == "http://example.com:8080"
    normalized = normalize_url("https://example.com?x=/y")
    assert normalized is not None and origin_of(normalized) == "https://example.com"


def test_scope_rules() -> None:
    """Seeds' origins are in scope; allowed domains add hosts (any port) or host:port; patterns filter."""
    scope = Scope.build(
        ["http://a.test:8000/"], ["b.test", "c.test:9000"], include=[r"/keep"], exclude=[r"\.pdf$"]
    )
    assert scope.allows("http://a.test:8000/keep/x")
    assert not scope.allows("http://a.test:8001/keep/x")
    assert scope.allows("https://b.test/keep") and scope.allows("http://b.test:1234/keep")
    assert scope.allows("http://c.test:9000/keep") and not scope.allows("http://c.test:9001/keep")
    assert not scope.allows("http://a.test:8000/other") and not scope.allows(
        "http://a.test:8000/keep.pdf"
    )


hrefs = st.lists(
    st.sampled_from(
        [
            *"ab/.-_~%2F?#:@!$&'()*+,;=\\ \tAé",
            *("..", "../", "./", "/.", "//", "%41", "x.html", "http:", "https://h.example"),
            *("//h.example:80/", "http://h.example:8080/", "HTTP://H.x"),
            *("//1.2.3.4/", "//1.2.3/", "//h.example.1/", "//0x7f.1/", "//xn--a/", "http:", "'"),
        ]
    ),
    max_size=12,
).map("".join)
bases = st.sampled_from(
    [
        "http://example.com/dir/page.html",
        "http://example.com/",
        "https://example.com:8443/a/b/?q=1",
        "http://127.0.0.1:8080/x/y",
        "http://example.com/a//b/",  # an empty segment: not plain
        "http://example.com/a/./b",  # not in normal form: not plain
        "HTTP://Example.com:80/dir/",  # not in normal form: not plain
        "http://xn--mnchen-3ya.de/d/",
        "http://example.com/d;p/e;f?g;h",
        "http://192.168.0.1/d/",
        "http://user:pass@example.com/d/",  # userinfo: not plain
        "https://example.com/?'",  # a query WHATWG escapes: not plain
    ]
)


@pytest.mark.slow
@settings(max_examples=2000)
@given(bases, hrefs)
def test_plain_hrefs_joined_as_strings_resolve_as_parsed_ones(base: str, href: str) -> None:
    """The string-join fast path gives exactly what full parsing and normalization give."""
    fast = LinkResolver(base)
    parsed = LinkResolver(base)
    parsed.joins_as_strings = False  # every href through the WHATWG parser and the normalizer
    assert fast.resolve(href) == parsed.resolve(href)


def test_plain_hrefs_take_the_fast_path() -> None:
    """The usual hrefs of a documentation page are joined as strings (and so cost no parsing)."""
    resolver = LinkResolver("http://docs.example/library/os.html")
    assert resolver.plain_base
    assert resolver.resolve("../index.html") == "http://docs.example/index.html"  # parsed
    assert (
        resolver.resolve("os.path.html#os.path.join") == "http://docs.example/library/os.path.html"
    )
    assert resolver.resolve("/genindex.html?q=a") == "http://docs.example/genindex.html?q=a"
    assert LinkResolver("http://docs.example/", max_length=24).resolve("a" * 10) is None


@given(urls)
def test_a_base_in_normal_form_is_split_by_string_search_as_urlsplit_splits_it(url: str) -> None:
    """The origin and directory found by two string searches are urlsplit's."""
    base = normalize_url(url)
    assert base is not None
    parts = urlsplit(base)
    path = parts.path or "/"
    resolver = LinkResolver(base)
    assert resolver.origin == f"{parts.scheme}://{parts.netloc}"
    assert resolver.directory == resolver.origin + path[: path.rfind("/") + 1]


@given(
    st.text(alphabet="0123456789abfnx.-", min_size=1, max_size=12)
    | st.sampled_from(["xn--a", "xn--mnchen-3ya.de", "a.xn--", "1.2.3.4", "1.2.3.4.", "0x", "a.0x"])
)
def test_a_host_is_kept_as_it_is_only_when_the_parser_keeps_it(host: str) -> None:
    """The fast path keeps a host only if the parser gives it back unchanged: a host that ends
    in a number is an IPv4 address (canonical, or refused), an `xn--` label is checked."""
    for href in (f"http://{host}/p", f"//{host}/p"):
        fast = LinkResolver("http://example.com/")
        parsed = LinkResolver("http://example.com/")
        parsed.joins_as_strings = False
        assert fast.resolve(href) == parsed.resolve(href), href


@pytest.mark.parametrize(
    "href,base,link",
    [
        # Empty path segments are kept (wget too): urljoin dropped them.
        ("a//b/", "http://h.test/pt-BR/foo.html", "http://h.test/pt-BR/a//b/"),
        # A special scheme without slashes is relative to a base of the same scheme.
        ("http:foo.com", "http://example.org/foo/bar", "http://example.org/foo/foo.com"),
        ("http:/example.com/", "http://example.org/foo/bar", "http://example.org/example.com/"),
        ("https:example.com/", "http://example.org/foo/bar", "https://example.com/"),
        ("///test", "http://example.org/", "http://test/"),
        ("////../..", "http://example.org/foo/bar", "http://../"),
        # Hosts a browser refuses give no link.
        ("http://ho%3Ast/", BASE, None),
        ("http://hello%00", BASE, None),
        ("http://example example.com", BASE, None),
        ("http://192.168.0.257", BASE, None),
        ("http://4294967296", BASE, None),
        ("http://example.0x/", BASE, None),
        # IPv4 and IPv6 hosts in canonical form.
        ("http://192.0x00A80001", BASE, "http://192.168.0.1/"),
        ("http://256", BASE, "http://0.0.1.0/"),
        ("http://[::127.0.0.1]", BASE, "http://[::7f00:1]/"),
        # Userinfo without an empty password; an empty query kept; `'` escaped in a query.
        ("https://test:@test", BASE, "https://test@test/"),
        ("x?", BASE, "http://example.com/dir/x?"),
        ("?a='b'", BASE, "http://example.com/dir/page.html?a=%27b%27"),
    ],
)
def test_links_browsers_follow_where_urljoin_did_not(
    href: str, base: str, link: str | None
) -> None:
    """The kinds of href the WHATWG parser reads as browsers do, where urllib read them otherwise."""
    assert resolve_link(href, base) == link
