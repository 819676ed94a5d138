"""HTML in, what a crawler needs out: title, links, robots hints. Pure CPU work, no I/O.

Decoding follows browsers: the charset of the Content-Type header, else a `<meta>` declaration in
the first 1,024 bytes, else UTF-8 if the bytes are valid UTF-8, else a statistical guess
(charset_normalizer). Parsing is lexbor's, through selectolax: it recovers from broken HTML the
way browsers do, which is what the links on a broken page mean.
"""

from __future__ import annotations

import codecs
import dataclasses
import functools
import re
from functools import partial

from selectolax.lexbor import LexborHTMLParser

from crawler.core.messages import PageAnalysis
from crawler.core.records import ErrorKind, Record
from crawler.core.urls import LinkResolver
from crawler.pages.callback import CallbackFailed, Page, called
from crawler.pages.extract import extract
from crawler.pages.fingerprint import fingerprint, words_of
from crawler.pages.fingerprint import simhash as slow_simhash
from crawler.pages.page_options import DEFAULT_PAGE_OPTIONS, PageOptions

_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([\w.:-]+)", re.IGNORECASE)
_META_PRESCAN_BYTES = 1024
# Browsers cap the depth of the tree they build (Chrome at 512); lexbor does not, and every block
# element's start tag scans the stack of open ones, so 100,000 nested <div>s cost it 17 s of CPU.
# Pages nested deeper than this are refused before parsing, after a scan of their block tags.
MAX_NESTING = 4096
# The scan costs about 3 ms on a 100 KB page, so it is paid only by pages with more tags than this:
# below it, the deepest possible nesting (8,192 <div>s) costs lexbor 0.12 s, once.
_SCAN_ABOVE_TAGS = 2 * MAX_NESTING
_BLOCK_TAG = re.compile(  # on the lowercased page
    rb"<(/?)(?:div|section|article|aside|nav|header|footer|main|blockquote|ul|ol|dl|fieldset"
    rb"|figure|form|table|center|details|address|menu|pre|h[1-6])[\s/>]"
)


def nesting_depth(body: bytes) -> int:
    """Return how deep block elements nest in `body` (0 when it has too few tags to matter)."""
    if body.count(b"<") <= _SCAN_ABOVE_TAGS:
        return 0  # the usual page: too few tags to nest deep enough to matter, no scan paid
    depth = deepest = 0
    for slash in _BLOCK_TAG.findall(body.lower()):
        if slash:
            depth = max(0, depth - 1)
        else:
            depth += 1
            deepest = max(deepest, depth)
    return deepest


def known_charset(name: str | None) -> str | None:
    """Return the codec name for a declared charset, or None if Python does not know it."""
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


@functools.lru_cache(maxsize=256)
def _header_charset(content_type: str) -> str | None:
    """The charset a Content-Type names, if Python knows it (a site sends few distinct ones)."""
    match = _HEADER_CHARSET.search(content_type)
    return known_charset(match.group(1)) if match else None


def sniff_charset(body: bytes, content_type: str | None) -> str:
    """Return the charset to decode `body` with: header, then `<meta>`, then detection."""
    declared = _header_charset(content_type) if content_type else None
    if declared:
        return declared
    meta = _META_CHARSET.search(body[:_META_PRESCAN_BYTES])
    declared = known_charset(meta.group(1).decode("ascii", "replace")) if meta else None
    if declared:
        return declared
    try:
        body.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes  # loaded by the first page that needs a guess

        guess = from_bytes(body[:65536]).best()
        return known_charset(guess.encoding if guess else None) or "windows-1252"


# One pass over the document collects everything the analysis reads, in document order: the title,
# the base URL, meta robots and refresh, the prose (paragraphs), and what a browser navigates to:
# links, image-map areas and frames (not <img>, <script> or <link rel=stylesheet>: those are
# parts of a page, not pages).
_ELEMENTS = "title, base[href], meta, p, a[href], area[href], iframe[src], frame[src]"
# A refresh's content: a delay, then `url=` (optional, any case), the URL, maybe quoted (HTML's
# "shared declarative refresh steps").
_REFRESH = re.compile(r"\s*[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?(.*)", re.IGNORECASE | re.DOTALL)
_ASCII_WHITESPACE = re.compile(r"[\t\n\f\r ]+")


def _target_of(tag: str | None, attributes: dict[str, str | None]) -> str | None:
    """Return the URL an element navigates to, or None."""
    if tag in ("a", "area"):
        return attributes.get("href")
    if tag in ("iframe", "frame"):
        return attributes.get("src")
    if (attributes.get("http-equiv") or "").strip().lower() != "refresh":
        return None
    match = _REFRESH.fullmatch(attributes.get("content") or "")
    target = match.group(1).strip() if match else ""
    if target[:1] in ("'", '"'):
        target = target[1:].split(target[0], 1)[0]
    return target or None  # a refresh without a URL reloads the page itself


def _collapsed(text: str) -> str:
    """Return text as a browser shows a title: ASCII whitespace runs collapsed, ends stripped."""
    return _ASCII_WHITESPACE.sub(" ", text).strip(" ")


def analyze_page(
    body: bytes,
    url: str,
    content_type: str | None,
    options: PageOptions = DEFAULT_PAGE_OPTIONS,
    depth: int = 0,
    parent: str | None = None,
) -> PageAnalysis:
    """Parse an HTML page: title, distinct http(s) links resolved and normalized, robots hints,
    and the fingerprint of its prose (plus `options.analysis_cost` rounds of plain-Python
    SimHash).

    Links are taken in document order up to `options.max_outlinks` distinct ones: a page of a
    hundred thousand links costs the crawl no more than a page of that many (resolving, queueing
    and storing each), and a page that large is a link farm or an index better crawled another
    way.
    """
    charset = sniff_charset(body, content_type)
    if nesting_depth(body) > MAX_NESTING:
        return PageAnalysis(None, (), 0, charset=charset, error=ErrorKind.PARSE)
    # lexbor reads UTF-8 bytes itself; other charsets are decoded here first.
    document: str | bytes = body if charset == "utf-8" else body.decode(charset, errors="replace")
    try:
        tree = LexborHTMLParser(document)
    except Exception:  # lexbor refusing a document must not stop a crawl
        return PageAnalysis(None, (), 0, charset=charset, error=ErrorKind.PARSE)
    title: str | None = None
    base_href: str | None = None
    meta_nofollow = False
    targets: list[tuple[str, bool]] = []  # (href, has rel=nofollow), in document order
    paragraphs: list[str] = []
    for node in tree.css(_ELEMENTS):
        tag = node.tag
        if tag == "p":
            paragraphs.append(node.text(separator=" "))
            continue
        if tag == "title":
            if title is None:
                title = _collapsed(node.text())
            continue
        attributes = node.attributes
        if tag == "base":
            if base_href is None:
                base_href = attributes.get("href") or ""
            continue
        if tag == "meta" and (attributes.get("name") or "").strip().lower() == "robots":
            meta_nofollow = meta_nofollow or "nofollow" in (attributes.get("content") or "").lower()
        href = attributes.get("href") if tag == "a" else _target_of(tag, attributes)
        if href:
            targets.append((href, "nofollow" in (attributes.get("rel") or "").lower().split()))
    max_url_length, max_outlinks = options.max_url_length, options.max_outlinks
    base = url
    if base_href is not None:  # the first <base href> applies to every link, even earlier ones
        base = LinkResolver(base, max_url_length).resolve(base_href) or base
    # A URL is followable when any link to it lacks rel=nofollow.
    resolver = LinkResolver(base, max_url_length)
    resolved_hrefs: dict[str, str | None] = {}  # pages repeat their hrefs (menus, "#", index)
    links: dict[str, bool] = {}
    for href, nofollow in targets:
        resolved = resolved_hrefs.get(href, "")
        if resolved == "":
            resolved = resolved_hrefs[href] = resolver.resolve(href)
        if resolved is None:
            continue
        if resolved not in links and len(links) >= max_outlinks:
            break
        links[resolved] = links.get(resolved, True) and nofollow
    # The prose is the text of paragraphs: navigation and link lists are boilerplate.
    prose = " ".join(paragraphs)
    simhash, words = fingerprint(prose)
    if options.analysis_cost:  # the teaching dial: the same algorithm again, as plain Python loops
        slow_simhash(words_of(prose), options.analysis_cost)
    analysis = PageAnalysis(
        title=title or None,
        links=tuple(links.items()),
        link_count=len(links),
        meta_nofollow=meta_nofollow,
        charset=charset,
        simhash=simhash,
        words=words,
        data=extract(tree, url, options.extract) if options.extract else None,
    )
    if options.on_page is None:
        return analysis
    page = Page(url, 200, content_type, body, charset, tree)
    return with_callback(analysis, page, resolver, options, depth, parent)


def with_callback(
    analysis: PageAnalysis,
    page: Page,
    resolver: LinkResolver,
    options: PageOptions,
    depth: int,
    parent: str | None,
) -> PageAnalysis:
    """Return the analysis with what the page callback found: its fields, and its URLs added to
    the page's links (resolved as the page's own are); or the error `callback`."""
    assert options.on_page is not None
    record = Record(
        url=page.url,
        final_url=page.url,
        status=page.status,
        depth=depth,
        parent=parent,
        title=analysis.title,
        links=analysis.link_count,
        bytes=len(page.body),
        elapsed_ms=0.0,
        attempts=0,
        error=None,
        content_type=page.content_type,
        simhash=f"{analysis.simhash:016x}" if analysis.simhash is not None else None,
        words=analysis.words,
        data=analysis.data,
    )
    try:
        extra_json, urls = called(options.on_page, record, page)
    except CallbackFailed:
        return dataclasses.replace(analysis, error=ErrorKind.CALLBACK)
    links = dict(analysis.links)
    for href in urls[: options.max_outlinks]:
        resolved = resolver.resolve(href)
        if resolved is not None and resolved not in links:
            links[resolved] = False
    return dataclasses.replace(analysis, links=tuple(links.items()), extra_json=extra_json)


def page_job(
    options: PageOptions,
    body: bytes,
    url: str,
    content_type: str | None,
    depth: int = 0,
    parent: str | None = None,
) -> partial[PageAnalysis]:
    """Return the analysis of one page under the crawl's limits, as a call to run here, on a
    parser thread or in a process pool (it pickles, options and all)."""
    return partial(analyze_page, body, url, content_type, options, depth, parent)
