"""URL rules: resolve links, normalize them for dedup, and name their origin.

Normal form (RFC 3986 §6.2.2, with the WHATWG URL rules where browsers differ in ways that change
the target): lowercase scheme and host (IDN hosts in punycode), no default port, no fragment, dot
segments resolved (`%2E` ones too), an empty path as `/`. Percent-escapes of *unreserved*
characters (letters, digits, `-._~`) are decoded and every other escape is upper-cased, never
decoded: `%2F` in a query and `%3A` in a path may mean something else than `/` and `:` to the
server. Bytes a URL may not hold (spaces, non-ASCII, `"<>`...) are percent-encoded as UTF-8.

From an href, as browsers read it: leading and trailing spaces and controls are trimmed, tabs and
newlines anywhere are dropped, and a backslash before the query is a slash. Two URLs that name the
same resource by these rules are one URL to the crawl.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import SplitResult, urljoin, urlsplit

import idna

CRAWLABLE_SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_url(url: str, max_length: int = 2048) -> str | None:
    """Return the normal form of an absolute http(s) URL, or None if it is not one we crawl."""
    return _resolve("", _cleaned(url), max_length)


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
# What browsers trim from both ends of an href (C0 controls and space), and drop anywhere.
_TRIMMED = "".join(chr(code) for code in range(0x21))
_DROPPED = str.maketrans("", "", "\t\n\r")


def _cleaned(href: str) -> str:
    """Return `href` as a browser reads it: trimmed, without tabs and newlines, and with
    backslashes before the query read as slashes (every crawlable URL is a WHATWG special URL)."""
    href = href.strip(_TRIMMED)
    if "\t" in href or "\n" in href or "\r" in href:  # rare; three searches beat a translate
        href = href.translate(_DROPPED)
    if "\\" in href:
        end = min((at for at in (href.find("?"), href.find("#")) if at != -1), default=len(href))
        href = href[:end].replace("\\", "/") + href[end:]
    return href


def resolve_link(href: str, base: str, max_length: int = 2048) -> str | None:
    """Resolve an href against a document's base URL; None for links a crawler does not follow."""
    return LinkResolver(base, max_length).resolve(href)


class LinkResolver:
    """Resolve the hrefs of one document, memoizing each by the part of the base it depends on.

    An absolute href depends on nothing, `/x` and `//host/x` only on the base's origin, `x` and
    `../x` only on the base's directory. Navigation links repeat on every page of a site, so most
    hrefs of a crawl are resolved once; the cache is bounded, so memory stays flat.

    Most hrefs need no work at all: an absolute URL already in normal form is kept as it is, and
    a path of plain characters (nothing to escape, no dot segments) against a base in normal form
    is in normal form once joined, so it is joined as strings. Only the rest goes through
    parsing, and the result is the same (a test holds the two ways equal).
    """

    __slots__ = ("directory", "full", "joins_as_strings", "max_length", "origin", "plain_base")

    def __init__(self, base: str, max_length: int = 2048) -> None:
        self.max_length = max_length
        self.full = base.split("#", 1)[0]
        self.joins_as_strings = True  # False sends every href through parsing (for tests)
        self.plain_base = _is_plain_normal(self.full)
        if self.plain_base:  # the usual base, a crawled URL: its parts found by two searches
            path_start = self.full.index("/", self.full.index("://") + 3)
            self.origin = self.full[:path_start]
            self.directory = self.full[: self.full.rindex("/", 0, _query_start(self.full)) + 1]
            return
        try:
            parts = urlsplit(self.full)
        except ValueError:
            parts = SplitResult("", "", "", "", "")
        self.origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
        path = parts.path or "/"
        self.directory = self.origin + path[: path.rfind("/") + 1]

    def resolve(self, href: str) -> str | None:
        """Return the normalized absolute URL `href` names, or None if it is not crawlable."""
        if self.joins_as_strings and href.startswith(("http://", "https://")):
            url = _plain_absolute(href)  # the commonest link of all, remembered as it is
            if url is not None:
                return url if len(url) <= self.max_length else None
        href = _cleaned(href)
        if not href or href.startswith("#"):
            return None
        scheme = _SCHEME.match(href)
        if scheme is not None and scheme.group().lower() not in ("http:", "https:"):
            return None
        if self.joins_as_strings and scheme is None:
            joined = self._joined_as_strings(href)
            if joined is not None:
                return joined if len(joined) <= self.max_length else None
        if scheme is not None:
            context = ""
        elif href.startswith("/"):
            context = self.origin
        elif href.startswith("?"):
            context = self.full
        else:
            context = self.directory
        return _resolve(context, href, self.max_length)

    def _joined_as_strings(self, href: str) -> str | None:
        """Return the normal form of a relative `href` when string operations alone make it,
        else None. (An absolute one in normal form was taken as it is, before cleaning.)"""
        if not self.plain_base:
            return None
        if href.startswith("//"):  # the base's scheme, and the rest as it is
            url = self.origin[: self.origin.index(":") + 1] + href.split("#", 1)[0]
            before, _, query = url.partition("?")
            url = url if query else before  # joining drops an empty query
            return url if _is_plain_normal(url) else None
        match = _PLAIN_REFERENCE.fullmatch(href)
        if match is None:
            return None
        path, query = match.group(1), match.group(2) or ""
        if "//" in path:
            return None  # empty segments, which joining drops
        context = self.origin if href.startswith("/") else self.directory
        while path.startswith("."):  # leading `./` and `../`: the directory and its parents
            if path.startswith("./"):
                path = path[2:]
            elif path.startswith("../"):
                path = path[3:]
                if len(context) > len(self.origin) + 1:
                    context = context[: context.rindex("/", 0, -1) + 1]
            else:
                return None
        if "/." in path:
            return None  # a dot segment further on, or what may be one
        return context + path + (query if len(query) > 1 else "")  # joining drops an empty query


# A path and query of characters that stay as they are in normal form: unreserved, sub-delims,
# `:@/` (and `?` in the query); then maybe a fragment, which is dropped. Not `;` in the path:
# urllib's join reads it as the start of RFC 1808 parameters, and those are left to it. A query
# alone (`?x`) is left to it too.
_PLAIN_REFERENCE = re.compile(
    r"([\w\-.~!$&'()*+,=:@/]+)(\?[\w\-.~!$&'()*+,;=:@/?]*)?(?:#.*)?", re.ASCII
)
_PLAIN_NORMAL_URL = re.compile(
    r"(https?)://[a-z0-9.\-]+(?::([1-9][0-9]{0,4}))?(/[\w\-.~!$&'()*+,=:@/]*)(\?[\w\-.~!$&'()*+,;=:@/?]*)?",
    re.ASCII,
)


def _query_start(url: str) -> int:
    at = url.find("?")
    return len(url) if at < 0 else at


def _is_plain_normal(url: str) -> bool:
    """Whether `url` is in normal form in a way a string test can tell: lowercase http(s), an
    ASCII host, a port that is not the default, a plain path without dot or empty segments."""
    match = _PLAIN_NORMAL_URL.fullmatch(url)
    if match is None or "/." in match.group(3) or "//" in match.group(3):
        return False
    port = match.group(2)
    return port is None or (int(port) <= 65535 and int(port) != _DEFAULT_PORTS[match.group(1)])


@functools.lru_cache(maxsize=65_536)
def _plain_absolute(href: str) -> str | None:
    """Return an absolute href without its fragment if that is in normal form, else None.
    (Remembered: the same absolute links appear on page after page of a site.)"""
    url = href.split("#", 1)[0]
    return url if _is_plain_normal(url) else None


@functools.lru_cache(maxsize=65_536)
def _resolve(context: str, href: str, max_length: int) -> str | None:
    try:
        return _crawlable(urljoin(context, href) if context else href, max_length)
    except (ValueError, UnicodeError):  # a bad port, IPv6 literal or IDN host
        return None


def _crawlable(url: str, max_length: int) -> str | None:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in CRAWLABLE_SCHEMES:
        return None
    host = _host(parts.hostname or "")
    if not host:
        return None
    port = parts.port  # raises ValueError for one out of range
    authority = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        authority = f"{authority}:{port}"
    if "@" in parts.netloc:
        authority = f"{_escapes(parts.netloc.rpartition('@')[0], _USERINFO)}@{authority}"
    path = _without_dot_segments(_escapes(parts.path, _PATH)) or "/"
    query = f"?{_escapes(parts.query, _QUERY)}" if "?" in url.split("#", 1)[0] else ""
    text = f"{scheme}://{authority}{path}{query}"
    return text if len(text) <= max_length else None


def _host(host: str) -> str:
    """Return a host in its normal form: lowercase, IDN in punycode (UTS #46, as browsers)."""
    if "%" in host:
        host = _unescape_all(host)
    if host.isascii():
        return host.lower()
    return idna.encode(host, uts46=True).decode("ascii")


# Bytes kept as they are, by component: unreserved, sub-delims, and what RFC 3986 allows there.
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_SUB_DELIMS = frozenset(b"!$&'()*+,;=")
_PATH = _UNRESERVED | _SUB_DELIMS | frozenset(b":@/")
_QUERY = _PATH | frozenset(b"?")
_USERINFO = _UNRESERVED | _SUB_DELIMS | frozenset(b":")
_HEX = frozenset(b"0123456789ABCDEFabcdef")


def _escapes(part: str, allowed: frozenset[int]) -> str:
    """Return `part` with unreserved escapes decoded, other escapes upper-cased, and every byte
    not `allowed` percent-encoded (UTF-8); a `%` that starts no escape is left as it is."""
    if part.isascii() and "%" not in part and allowed.issuperset(part.encode("ascii")):
        return part  # the usual case, already in normal form
    data = part.encode("utf-8", "surrogateescape")
    out: list[str] = []
    index, length = 0, len(data)
    while index < length:
        byte = data[index]
        if byte == 0x25:  # %
            if index + 2 < length and data[index + 1] in _HEX and data[index + 2] in _HEX:
                value = int(data[index + 1 : index + 3], 16)
                out.append(chr(value) if value in _UNRESERVED else f"%{value:02X}")
                index += 3
                continue
            out.append("%")  # as browsers send it: "%25" would name another resource
        elif byte in allowed:
            out.append(chr(byte))
        else:
            out.append(f"%{byte:02X}")
        index += 1
    return "".join(out)


def _unescape_all(text: str) -> str:
    return _ANY_ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), text)


_ANY_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")


def _without_dot_segments(path: str) -> str:
    """Remove `.` and `..` segments (RFC 3986 §5.2.4), after unreserved escapes were decoded."""
    if "." not in path:
        return path
    segments = path.split("/")
    output: list[str] = []
    for segment in segments[1:] if path.startswith("/") else segments:
        if segment == ".":
            continue
        if segment == "..":
            if output:
                output.pop()
            continue
        output.append(segment)
    result = ("/" if path.startswith("/") else "") + "/".join(output)
    if segments[-1] in (".", "..") and not result.endswith("/"):
        result += "/"  # `/a/b/..` names the directory `/a/`
    return result


def origin_of(url: str) -> str:
    """Return `scheme://host[:port]` of a normalized URL: the unit of politeness and robots.

    Normalized URLs always have a path starting right after the authority, so two searches do.
    """
    return url[: url.index("/", url.index("://") + 3)]
