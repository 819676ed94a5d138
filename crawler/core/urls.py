"""URL rules: resolve links, normalize them for dedup, and name their origin. All through yarl.

Normal form: lowercase scheme and host (IDN hosts in punycode), no default port, no fragment, dot
segments resolved, percent-escapes of unreserved characters decoded and the rest upper-cased.
Two URLs that name the same resource by these rules are one URL to the crawl.
"""

from __future__ import annotations

import functools
import re

from yarl import URL

CRAWLABLE_SCHEMES = frozenset({"http", "https"})


def normalize_url(url: str | URL, max_length: int = 2048) -> str | None:
    """Return the normal form of an absolute http(s) URL, or None if it is not one we crawl."""
    try:
        parsed = url if isinstance(url, URL) else URL(url.strip())
        return _crawlable(parsed, max_length)
    except (ValueError, TypeError, UnicodeError):
        return None


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


def resolve_link(href: str, base: URL, max_length: int = 2048) -> str | None:
    """Resolve an href against a document's base URL; None for links a crawler does not follow."""
    return LinkResolver(base, max_length).resolve(href)


class LinkResolver:
    """Resolve the hrefs of one document, memoizing each by the part of the base it depends on.

    An absolute href depends on nothing, `/x` and `//host/x` only on the base's origin, `x` and
    `../x` only on the base's directory. Navigation links repeat on every page of a site, so most
    hrefs of a crawl are resolved once; the cache is bounded, so memory stays flat.
    """

    __slots__ = ("directory", "full", "max_length", "origin")

    def __init__(self, base: URL, max_length: int = 2048) -> None:
        self.max_length = max_length
        self.full = str(base.with_fragment(None))
        self.origin = str(base.origin()) if base.is_absolute() else ""
        path = base.raw_path or "/"
        self.directory = self.origin + path[: path.rfind("/") + 1]

    def resolve(self, href: str) -> str | None:
        """Return the normalized absolute URL `href` names, or None if it is not crawlable."""
        href = href.strip()
        if not href or href.startswith("#"):
            return None
        scheme = _SCHEME.match(href)
        if scheme is not None:
            if scheme.group().lower() not in ("http:", "https:"):
                return None
            context = ""
        elif href.startswith("/"):
            context = self.origin
        elif href.startswith("?"):
            context = self.full
        else:
            context = self.directory
        return _resolve(context, href, self.max_length)


@functools.lru_cache(maxsize=65_536)
def _resolve(context: str, href: str, max_length: int) -> str | None:
    try:
        target = URL(href) if not context else URL(context).join(URL(href))
        return _crawlable(target, max_length)
    except (ValueError, TypeError, UnicodeError):
        return None


def _crawlable(url: URL, max_length: int) -> str | None:
    if url.scheme not in CRAWLABLE_SCHEMES or not url.host or not url.is_absolute():
        return None
    # Reading the port validates it; yarl raises ValueError for one out of range.
    _ = url.port
    text = str(url.with_fragment(None))
    authority_start = text.index("://") + 3
    ends = [
        at for at in (text.find("/", authority_start), text.find("?", authority_start)) if at != -1
    ]
    authority_end = min(ends, default=len(text))
    if not text.startswith("/", authority_end):
        # http://host?q and http://host/?q are one resource.
        text = f"{text[:authority_end]}/{text[authority_end:]}"
    return text if len(text) <= max_length else None


def origin_of(url: str) -> str:
    """Return `scheme://host[:port]` of a normalized URL: the unit of politeness and robots.

    Normalized URLs always have a path starting right after the authority, so two searches do.
    """
    return url[: url.index("/", url.index("://") + 3)]
