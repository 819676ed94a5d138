"""`Exchange`: one request and its response as they crossed the wire, for the archive to keep.

A client that is given a `Capture` builds one for each response it read to the end (or to
`--max-bytes`), robots.txt and redirects included, and hands it over before the response reaches
the core. It is plain data (it crosses from a fetching process to the crawl's), and holds the body
as received: still content-coded, de-chunked, cut at the crawl's limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

# Fields that describe one hop, not the message: `Transfer-Encoding` because the body is kept
# de-chunked (a replay would try to de-chunk it again), the proxy's fields because they are the
# proxy's (and hold its credentials).
_HOP_FIELDS = frozenset({"transfer-encoding", "proxy-authorization", "proxy-connection"})


@dataclass(frozen=True, slots=True)
class Exchange:
    """A request and its response, with what the archive says about them."""

    url: str
    started_at: float  # wall-clock seconds when the request began (the records' WARC-Date)
    request_line: str  # "GET /path?query"
    request_fields: tuple[tuple[str, str], ...]
    protocol: str  # "HTTP/1.1"
    status_line: str  # "200 OK"
    response_fields: tuple[tuple[str, str], ...]  # as received, in order, but the hop's fields
    body: bytes
    # Why the body is not whole (WARC-Truncated): "length" past --max-bytes, "disconnect" when
    # the connection failed under a body kept anyway (a redirect's, an error's); None if whole.
    truncated: str | None
    ip: str | None  # the address the response came from (a proxy's, through one)


Capture = Callable[[Exchange], None]


def request_of(
    url: str, sent: Iterable[tuple[str, str]]
) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Return the request line and fields of a GET of `url` as a server received it: origin
    form, `Host` first, then the fields the client sent (but the hop's)."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.netloc.rpartition("@")[2]
    fields = [("Host", host)]
    fields += [
        (name, value)
        for name, value in sent
        if name.lower() != "host" and name.lower() not in _HOP_FIELDS
    ]
    return f"GET {target}", tuple(fields)


def response_fields(raw: Iterable[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    """Return a response's header fields as received (Latin-1, which maps back to the very
    bytes), but the hop's."""
    fields = []
    for name, value in raw:
        text = name.decode("latin-1")
        if text.lower() not in _HOP_FIELDS:
            fields.append((text, value.decode("latin-1").strip()))
    return tuple(fields)


__all__ = ["Capture", "Exchange", "request_of", "response_fields"]
