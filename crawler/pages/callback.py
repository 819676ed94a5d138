"""`on_page`: a Python function that sees every HTML page, for users who need more than selectors.

    def on_page(record: Record, page: Page) -> Found | None:
        price = page.css_first(".price")
        return Found(fields={"price": price.text() if price else None},
                     urls=[a.attributes["data-href"] for a in page.css("a[data-href]")])

It runs where the page is parsed, on the tree the analysis already built, so it costs no second
parse: on the event loop (`async`, `loop`), a parser thread (`threads`: it must be thread-safe),
a process pool (`async-procs`) or a fetching process (`processes`): there it must pickle, so a
module-level function, not a lambda. It returns extra fields (a mapping), URLs to crawl (an
iterable of strings, resolved against the page and taken as its links are: scope, robots.txt,
the seen-set, one step deeper), both (`Found`), or None. Extra fields go in the record's `extra`
object, as JSON; a function that raises, or returns what is not one of those, gives the page the
error `callback`, and the crawl goes on.

The `record` it is given is the page's as far as it is known when the page is read: its depth,
status, title, links, bytes and `data`; `parent` is the page that led to it when it was sent
(the record may name a better one found later, see `crawler.core.depth`), and `elapsed_ms` and
`attempts` are settled only when the record is written.
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawler.core.records import Record

log = logging.getLogger("crawler.pages")


@dataclass(frozen=True, slots=True)
class Page:
    """An HTML page as the crawl read it: its bytes, its text, and the tree lexbor built."""

    url: str
    status: int
    content_type: str | None
    body: bytes  # as received, after its Content-Encoding is undone
    charset: str  # the one the analysis decoded it with
    tree: LexborHTMLParser

    @property
    def html(self) -> str:
        """Return the page decoded with its charset."""
        return self.body.decode(self.charset, errors="replace")

    def css(self, selector: str) -> list[LexborNode]:
        """Return the elements `selector` matches, in document order."""
        return self.tree.css(selector)

    def css_first(self, selector: str) -> LexborNode | None:
        """Return the first element `selector` matches, or None."""
        return self.tree.css_first(selector)


@dataclass(frozen=True, slots=True)
class Found:
    """What `on_page` found: fields for the record's `extra`, and URLs to crawl."""

    fields: Mapping[str, Any] = field(default_factory=dict)
    urls: Sequence[str] = ()


PageCallback = Callable[[Record, Page], "Found | Mapping[str, Any] | Iterable[str] | None"]


class CallbackFailed(Exception):
    """`on_page` raised, or returned something that is not fields, URLs or `Found`."""


def called(callback: PageCallback, record: Record, page: Page) -> tuple[str | None, list[str]]:
    """Run `callback` on a page; return its fields as one JSON object's text (None if it gave
    none) and the URLs it gave, as written. Raises CallbackFailed, naming what went wrong."""
    try:
        result = callback(record, page)
    except Exception as error:
        log.warning("on_page raised on %s: %s: %s", page.url, type(error).__name__, error)
        raise CallbackFailed(str(error)) from None
    fields: Mapping[str, Any] = {}
    urls: Iterable[object] = ()
    if isinstance(result, Found):
        fields, urls = result.fields, result.urls
    elif isinstance(result, Mapping):
        fields = result
    elif isinstance(result, Iterable) and not isinstance(result, str | bytes):
        urls = result
    elif result is not None:
        raise _refused(page, f"returned a {type(result).__name__}")
    listed = list(urls)
    if not all(isinstance(url, str) for url in listed):
        raise _refused(page, "gave a URL that is not a string")
    if not fields:
        return None, [url for url in listed if isinstance(url, str)]
    try:
        text = json.dumps(dict(fields), ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise _refused(page, f"gave fields that are not JSON: {error}") from None
    return text, [url for url in listed if isinstance(url, str)]


def _refused(page: Page, what: str) -> CallbackFailed:
    log.warning("on_page %s on %s: give fields, URLs, Found or None", what, page.url)
    return CallbackFailed(what)


def callback_problem(callback: object, strategy: str) -> str | None:
    """Say why `callback` cannot be used with `strategy`, or None: it must be callable, and
    where pages are parsed in other processes, it must pickle (a module-level function)."""
    if not callable(callback):
        return f"must be a function of (record, page), not a {type(callback).__name__}"
    if strategy == "broker":
        return "cannot reach a fleet's workers (they run on other machines): use another strategy"
    if strategy in ("async-procs", "processes"):
        try:
            pickle.dumps(callback)
        except Exception:
            return (
                f"must be a module-level function with --strategy {strategy}, which parses pages"
                " in other processes (a lambda or a nested function does not reach them)"
            )
    return None
