"""URL rules: resolve links as browsers do, normalize them for dedup, and name their origin.

An href is read by the WHATWG URL Standard, as browsers read it, through ada (the parser of
Node.js, tested against the standard's own test data): ends trimmed, tabs and newlines dropped,
backslashes as slashes, empty path segments kept, IPv4 and IPv6 hosts in canonical form, IDN hosts
in punycode, hosts browsers refuse refused. Our own code only puts that result in the crawler's
normal form, RFC 3986 §6.2.2 on top of it: no fragment, and percent-escapes of *unreserved*
characters (letters, digits, `-._~`) decoded and every other escape upper-cased, never decoded
(`%2F` in a query and `%3A` in a path may mean something else than `/` and `:` to the server);
ASCII a URL may not hold that WHATWG leaves as it is (`|`, `[`, `]`, `^`...) is percent-encoded.
Two URLs that name the same resource by these rules are one URL to the crawl.
"""

from __future__ import annotations

import functools
import re

import ada_url

CRAWLABLE_SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_url(url: str, max_length: int = 2048) -> str | None:
    """Return the normal form of an absolute http(s) URL, or None if it is not one we crawl."""
    return _resolve("", url, max_length)


def resolve_link(href: str, base: str, max_length: int = 2048) -> str | None:
    """Resolve an href against a document's base URL; None for links a crawler does not follow."""
    return LinkResolver(base, max_length).resolve(href)


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
# What browsers trim from both ends of an href (C0 controls and space), and drop anywhere.
_TRIMMED = "".join(chr(code) for code in range(0x21))
_DROPPED = str.maketrans("", "", "\t\n\r")


def _cleaned(href: str) -> str:
    """Return `href` as the parser reads it: trimmed, without tabs and newlines, and with
    backslashes before the query read as slashes (every crawlable URL is a WHATWG special URL)."""
    href = href.strip(_TRIMMED)
    if "\t" in href or "\n" in href or "\r" in href:  # rare; three searches beat a translate
        href = href.translate(_DROPPED)
    if "\\" in href:
        end = min((at for at in (href.find("?"), href.find("#")) if at != -1), default=len(href))
        href = href[:end].replace("\\", "/") + href[end:]
    return href


class LinkResolver:
    """Resolve the hrefs of one document, memoizing each by the part of the base it depends on.

    An absolute href depends on nothing, `/x` and `//host/x` only on the base's origin, `x` and
    `../x` only on the base's directory. Navigation links repeat on every page of a site, so most
    hrefs of a crawl are resolved once; the cache is bounded, so memory stays flat.

    Most hrefs need no parsing at all: an absolute URL already in normal form is kept as it is,
    and a path of plain characters (nothing to escape, no dot segments) against a base in normal
    form is in normal form once joined, so it is joined as strings. Only the rest goes to the
    parser, and the result is the same (tests hold the two ways equal).
    """

    __slots__ = ("directory", "full", "joins_as_strings", "max_length", "origin", "plain_base")

    def __init__(self, base: str, max_length: int = 2048) -> None:
        self.max_length = max_length
        self.joins_as_strings = True  # False sends every href to the parser (for tests)
        self.full = base.split("#", 1)[0]
        self.plain_base = _is_plain_normal(self.full)
        if not self.plain_base:  # then the base as the parser reads it (or none, if it fails)
            self.full = (_parsed(base, "") or "").split("#", 1)[0]
        if self.full.startswith(("http://", "https://")):  # its parts found by two searches
            path_start = self.full.index("/", self.full.index("://") + 3)
            self.origin = self.full[:path_start]
            self.directory = self.full[: self.full.rindex("/", 0, _query_start(self.full)) + 1]
        else:  # a base of another scheme: every href is resolved against all of it
            self.origin = self.directory = self.full

    def resolve(self, href: str) -> str | None:
        """Return the normalized absolute URL `href` names, or None if it is not crawlable.

        An empty or fragment-only href names the document itself: not a link to follow.
        """
        if self.joins_as_strings and href.startswith(("http://", "https://")):
            url = _plain_absolute(href)  # the commonest link of all, remembered as it is
            if url is not None:
                return url if len(url) <= self.max_length else None
        href = _cleaned(href)
        if not href or href.startswith("#"):
            return None
        scheme = _SCHEME.match(href)
        if scheme is not None:
            if scheme.group().lower() not in ("http:", "https:"):
                return None
            # `http://h/x` needs no base; `http:x` and `http:/x` are relative to a base of the
            # same scheme (and `https:x` on an http page is `https://x/`: the parser knows).
            absolute = href.startswith("//", scheme.end())
            return _resolve("" if absolute else self.full, href, self.max_length)
        if self.joins_as_strings:
            joined = self._joined_as_strings(href)
            if joined is not None:
                return joined if len(joined) <= self.max_length else None
        if href.startswith("/"):
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
            return url if _is_plain_normal(url) else None
        match = _PLAIN_REFERENCE.fullmatch(href)
        if match is None:
            return None
        path, query = match.group(1), match.group(2) or ""
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
        return context + path + query


# A path and query of characters that stay as they are in both WHATWG's serialization and the
# normal form: unreserved, sub-delims and `:@/` (and `?` in the query), but not `'` in the query,
# which WHATWG escapes there; then maybe a fragment, which is dropped. A query alone (`?x`) is
# left to the parser.
_PLAIN_REFERENCE = re.compile(
    r"([\w\-.~!$&'()*+,;=:@/]+)(\?[\w\-.~!$&()*+,;=:@/?]*)?(?:#.*)?", re.ASCII
)
_PLAIN_NORMAL_URL = re.compile(
    r"(https?)://([a-z0-9.\-]+)(?::([1-9][0-9]{0,4}))?(/[\w\-.~!$&'()*+,;=:@/]*)(\?[\w\-.~!$&()*+,;=:@/?]*)?",
    re.ASCII,
)
# The last label of a host WHATWG reads as an IPv4 address, and such an address in its canonical
# form (four decimal parts, each 0 to 255, without leading zeros).
_NUMBER_LABEL = re.compile(r"(?:[0-9]+|0x[0-9a-f]*)\.?")
_IPV4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
)


def _query_start(url: str) -> int:
    at = url.find("?")
    return len(url) if at < 0 else at


def _is_plain_normal(url: str) -> bool:
    """Whether `url` is in normal form in a way a string test can tell: lowercase http(s), a
    host the parser keeps as it is, a port that is not the default, a plain path without dot
    segments."""
    match = _PLAIN_NORMAL_URL.fullmatch(url)
    if match is None or "/." in match.group(4) or not _is_plain_host(match.group(2)):
        return False
    port = match.group(3)
    return port is None or (int(port) <= 65535 and int(port) != _DEFAULT_PORTS[match.group(1)])


def _is_plain_host(host: str) -> bool:
    """Whether the parser keeps a lowercase host of letters, digits, dots and hyphens as it is:
    it is no IDN (`xn--`, which the parser checks) and, if it ends in a number, a canonical IPv4
    address (else it is read as one, `1.2.3` is `1.2.0.3`, or refused: `example.0x`)."""
    if "xn--" in host:
        return False
    last = host[host.rfind(".", 0, len(host) - 1) + 1 :]
    return _NUMBER_LABEL.fullmatch(last) is None or _IPV4.fullmatch(host) is not None


@functools.lru_cache(maxsize=65_536)
def _plain_absolute(href: str) -> str | None:
    """Return an absolute href without its fragment if that is in normal form, else None.
    (Remembered: the same absolute links appear on page after page of a site.)"""
    url = href.split("#", 1)[0]
    return url if _is_plain_normal(url) else None


@functools.lru_cache(maxsize=65_536)
def _resolve(context: str, href: str, max_length: int) -> str | None:
    """Return the normal form of what `href` names against `context` (a base, or "" for none)."""
    parsed = _parsed(href, context)
    return None if parsed is None else _normal_form(parsed, max_length)


def _parsed(href: str, base: str) -> str | None:
    """Return the WHATWG serialization of `href` parsed against `base` ("" for none), or None
    when the standard says it is no URL."""
    if not href.isascii():
        href = _scalar_values(href)
    try:
        return ada_url.join_url(base, href) if base else ada_url.URL(href).href
    except ValueError:
        return None


def _scalar_values(text: str) -> str:
    """Return `text` with each lone surrogate replaced by U+FFFD, as a browser's DOM gives it to
    the URL parser (an HTML parser never makes one, but a caller may)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _normal_form(href: str, max_length: int) -> str | None:
    """Return a WHATWG serialization in the crawler's normal form, or None if not http(s).

    The parser has lowercased the scheme and host, dropped the default port, resolved dot
    segments (escaped ones too) and escaped non-ASCII as UTF-8; what is left is RFC 3986's part.
    A serialization splits by string search: `?` and `#` are escaped before the query, `@` and
    `/` in the userinfo.
    """
    scheme_end = href.find(":")
    if href[:scheme_end] not in CRAWLABLE_SCHEMES:
        return None
    href = href.split("#", 1)[0]
    path_start = href.index("/", scheme_end + 3)
    authority = href[:path_start]
    if "@" in authority:
        userinfo, _, host = authority[scheme_end + 3 :].rpartition("@")
        authority = f"{href[: scheme_end + 3]}{_escapes(userinfo, _USERINFO)}@{host}"
    path, mark, query = href[path_start:].partition("?")
    text = f"{authority}{_escapes(path, _PATH)}{mark}{_escapes(query, _QUERY)}"
    return text if len(text) <= max_length else None


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


def origin_of(url: str) -> str:
    """Return `scheme://host[:port]` of a normalized URL: the unit of politeness and robots.

    Normalized URLs always have a path starting right after the authority, so two searches do.
    """
    return url[: url.index("/", url.index("://") + 3)]
