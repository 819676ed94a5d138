"""What a page yields: the links a browser would navigate to (at most `--max-outlinks`), and the
title a browser shows; a page too deep to parse is refused."""

from __future__ import annotations

import pytest

from crawler.pages.page_options import PageOptions
from crawler.pages.parse import analyze_page
from mock_server import hostile
from tests.sites import html

BASE = "http://x.test/dir/"


def links_of(html: str) -> list[str]:
    page = analyze_page(html.encode(), BASE, "text/html; charset=utf-8")
    return [url for url, _ in page.links]


def test_every_kind_of_navigation_is_followed_in_document_order() -> None:
    """`<a>`, image-map `<area>`, `<iframe>` and a refresh are pages a browser goes to; images,
    scripts and stylesheets are parts of the page and are not followed."""
    html = """<html><head><meta http-equiv="refresh" content="0; url=/moved">
    <link rel="stylesheet" href="/style.css"><script src="/app.js"></script></head>
    <body><iframe src="framed.html"></iframe><a href="/a">a</a>
    <img src="/picture.png" usemap="#m"><map name="m"><area shape="rect" href="/mapped"></map>
    </body></html>"""
    assert links_of(html) == [
        "http://x.test/moved",
        "http://x.test/dir/framed.html",
        "http://x.test/a",
        "http://x.test/mapped",
    ]


def test_frames_of_a_frameset_are_followed() -> None:
    """Each `<frame src>` of a frameset is a link, resolved against the page."""
    html = """<html><frameset cols="20%,80%"><frame src="toc.html"><frame src="/main.html">
    </frameset></html>"""
    assert links_of(html) == ["http://x.test/dir/toc.html", "http://x.test/main.html"]


@pytest.mark.parametrize(
    "content,target",
    [
        ("0; url=/next", "http://x.test/next"),
        ("5;URL='next.html'", "http://x.test/dir/next.html"),
        ('3, url="/q?x=1"', "http://x.test/q?x=1"),
        ("0;/bare", "http://x.test/bare"),
        ("  10  ;  Url = /spaced  ", "http://x.test/spaced"),
        ("30", None),  # reloads the page itself: nothing new
    ],
)
def test_refresh_targets(content: str, target: str | None) -> None:
    """A meta refresh's URL is a link, however it is spelled; a refresh without one is none."""
    quote = "'" if '"' in content else '"'
    html = f'<html><head><meta http-equiv="Refresh" content={quote}{content}{quote}></head></html>'
    assert links_of(html) == ([target] if target else [])


def test_other_meta_elements_are_not_links() -> None:
    """A `url=` in the content of a meta element other than refresh is not a link."""
    html = '<meta http-equiv="content-type" content="text/html; url=/no"><a href="/yes">y</a>'
    assert links_of(html) == ["http://x.test/yes"]


@pytest.mark.parametrize(
    "title,shown",
    [
        ("\n  Two\n   lines  ", "Two lines"),
        ("tab\tand\r\nreturn", "tab and return"),
        ("no\u00a0break", "no\u00a0break"),  # not ASCII whitespace: browsers keep it
        ("   ", None),
    ],
)
def test_titles_are_shown_as_browsers_show_them(title: str, shown: str | None) -> None:
    """Runs of ASCII whitespace in a title are one space, ends trimmed; a blank title is none."""
    page = analyze_page(f"<title>{title}</title>".encode(), BASE, "text/html; charset=utf-8")
    assert page.title == shown


def test_links_are_taken_in_document_order_up_to_the_cap() -> None:
    """Only the first `max_outlinks` distinct links of a page are taken, in document order."""
    body = html("/a", "/b", "/a", "/c", "/d", "/e")[2]
    page = analyze_page(body, "http://example.test/", "text/html", PageOptions(max_outlinks=3))
    assert [url for url, _ in page.links] == [
        "http://example.test/a",
        "http://example.test/b",
        "http://example.test/c",
    ]
    assert page.link_count == 3
    everything = analyze_page(body, "http://example.test/", "text/html")
    assert everything.link_count == 5


def test_the_huge_line_page_parses_when_allowed_and_nesting_is_refused() -> None:
    """With a limit that admits it, the 10 MB one-line page parses and its link at the very end
    is found; a page nested 100,000 deep is refused before lexbor spends seconds on it."""
    page = analyze_page(hostile.huge_line(1), "http://a.test/x", "text/html")
    assert page.error is None and page.title == "One line (1)"
    assert [url for url, _ in page.links] == ["http://a.test/"]
    nested = analyze_page(hostile.deep_nesting(1), "http://a.test/x", "text/html")
    assert nested.error is not None and nested.error.value == "parse"
    shallow = b"<html><body>" + b"<div>" * 200 + b"<a href='/y'>y</a>" + b"</div>" * 200
    assert analyze_page(shallow, "http://a.test/x", "text/html").link_count == 1
