"""What a page yields: the links a browser would navigate to, and the title a browser shows."""

from __future__ import annotations

import pytest

from crawler.page import analyze_page

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
    quote = "'" if '"' in content else '"'
    html = f'<html><head><meta http-equiv="Refresh" content={quote}{content}{quote}></head></html>'
    assert links_of(html) == ([target] if target else [])


def test_other_meta_elements_are_not_links() -> None:
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
    page = analyze_page(f"<title>{title}</title>".encode(), BASE, "text/html; charset=utf-8")
    assert page.title == shown
