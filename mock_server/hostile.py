"""Hostile resources: responses built to break a crawler, each behind a link fault.

A page carrying one of these faults links to `/hostile/{page}/{name}`, and that URL answers with
the attack: a gzip bomb, an endless or dripping body, a 10 MB line, 100,000 nested elements, bytes
that are not the charset they claim, links no crawler should follow, redirects to other schemes,
contradictory headers, a Content-Type that lies. `huge_robots` makes every host's robots.txt 10 MB.
A well-behaved crawler turns each into one error record (or a harmless page) and goes on.

Everything is generated from the page number, so the site stays deterministic; the one expensive
body (the bomb) is built once per process.
"""

from __future__ import annotations

import functools
import random
import zlib
from dataclasses import dataclass

from yarl import URL

from mock_server.faults import FaultKind

# What the gzip bomb inflates to: 512 MiB of zeros, from 500 KB. Deflate cannot pack zeros
# tighter than about 1:1000, and building it takes a second, so it stops there.
BOMB_BYTES = 1 << 29
ENDLESS_CHUNK = b"<p>" + b"and on " * 9361 + b"</p>\n"  # 64 KiB, sent until the client leaves
DRIP_BODY = b"<!doctype html><title>Drip</title>" + b"." * 200  # one byte a second
HUGE_LINE_BYTES = 10 * 1000 * 1000
NESTING = 100_000
LONG_URL_BYTES = 100_000
ROBOTS_PADDING_BYTES = 10 * 1000 * 1000


@dataclass(frozen=True, slots=True)
class Hostile:
    """One hostile resource: the fault that links to it, and its name under `/hostile/{page}/`."""

    kind: FaultKind
    name: str


RESOURCES: tuple[Hostile, ...] = (
    Hostile(FaultKind.GZIP_BOMB, "bomb.html"),
    Hostile(FaultKind.ENDLESS_BODY, "endless.html"),
    Hostile(FaultKind.SLOW_BODY, "drip.html"),
    Hostile(FaultKind.HUGE_LINE, "one-line.html"),
    Hostile(FaultKind.DEEP_NESTING, "nested.html"),
    Hostile(FaultKind.BAD_BYTES, "bad-bytes.html"),
    Hostile(FaultKind.HOSTILE_LINKS, "links.html"),
    Hostile(FaultKind.BAD_REDIRECTS, "to-file"),
    Hostile(FaultKind.BAD_REDIRECTS, "to-data"),
    Hostile(FaultKind.BAD_REDIRECTS, "to-other-port"),
    Hostile(FaultKind.BAD_REDIRECTS, "no-location"),
    Hostile(FaultKind.BAD_HEADERS, "two-lengths.html"),
    Hostile(FaultKind.BAD_HEADERS, "two-types.html"),
    Hostile(FaultKind.LYING_TYPE, "binary.html"),
    Hostile(FaultKind.LYING_TYPE, "page.png"),
)
NAMES = tuple(resource.name for resource in RESOURCES)


def hostile_links(kind: FaultKind, origin: str, page: int) -> list[str]:
    """Return the URLs of the hostile resources a page carrying `kind` links to."""
    return [
        f"{origin}/hostile/{page}/{resource.name}"
        for resource in RESOURCES
        if resource.kind is kind
    ]


def other_port_origin(origin: str) -> str:
    """Return an origin on this machine that is not the site's: the same host, another port."""
    url = URL(origin)
    port = url.port or 80
    return f"http://{url.host}:{port + 1000 if port < 64000 else port - 1000}"


@functools.cache
def gzip_bomb() -> bytes:
    """Return a gzip stream of `BOMB_BYTES` zeros (built in slices: it never exists inflated)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    parts = [compressor.compress(zeros) for _ in range(BOMB_BYTES >> 20)]
    parts.append(compressor.flush())
    return b"".join(parts)


def huge_line(page: int) -> bytes:
    """Return a 10 MB page with no line break, its one link at the very end."""
    head = f"<!doctype html><html><head><title>One line ({page})</title></head><body>".encode()
    word = b"<span>word</span> "
    padding = word * ((HUGE_LINE_BYTES - len(head)) // len(word))
    return head + padding + b'<a href="/">home</a></body></html>'


def deep_nesting(page: int) -> bytes:
    """Return a page whose one link sits inside 100,000 nested elements."""
    return (
        f"<!doctype html><html><head><title>Nested ({page})</title></head><body>".encode()
        + b"<div>" * NESTING
        + b'<a href="/">home</a>'
        + b"</div>" * NESTING
        + b"</body></html>"
    )


def bad_bytes(page: int) -> bytes:
    """Return a page that claims UTF-8 but holds invalid sequences and NUL bytes, with its one
    link after them."""
    return (
        b"<!doctype html><html><head><meta charset=utf-8><title>Bad \xff\xfe bytes \xc3\x28 ("
        + str(page).encode()
        + b")</title></head><body><p>NUL \x00 here, \xed\xa0\x80 a lone surrogate, \xf8\x88\x80"
        + b" an overlong sequence.</p>\x00\x00<p><a href='/'>home</a></p></body></html>"
    )


def hostile_hrefs(origin: str, page: int) -> list[str]:
    """Return the hrefs of the links page: none but the bad-escapes one may be requested."""
    other = other_port_origin(origin)
    host = URL(origin).host
    return [
        "/" + "a" * LONG_URL_BYTES,
        "http://bücher.example/katalog",
        "http://xn--bcher-kva.example/katalog",
        f"/hostile/{page}/bad%zz%escape%",
        "javascript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "ftp://127.0.0.1/pub/",
        f"{other}/",
        f"http://localhost:{URL(origin).port}/",
        f"//{host}.evil.example/",
        "http://[::1]:1/",
        "http://user:password@evil.example/",
        "\x00javascript:alert(1)",
    ]


def links_page(origin: str, page: int) -> bytes:
    """Return the page of links no crawler should follow (but one, which is in scope)."""
    anchors = "".join(
        f'<a href="{href.replace(chr(34), "%22")}">link {index}</a>\n'
        for index, href in enumerate(hostile_hrefs(origin, page))
    )
    return (
        f"<!doctype html><html><head><title>Hostile links ({page})</title></head>"
        f"<body>{anchors}</body></html>"
    ).encode()


def binary_body(page: int) -> bytes:
    """Return 20 KB of binary (a PNG signature, then noise) to serve as text/html."""
    noise = random.Random(f"binary:{page}").randbytes(20_000)
    return b"\x89PNG\r\n\x1a\n" + noise


def huge_robots(rules: str) -> bytes:
    """Return robots.txt of 10 MB: the rules, then comments, then a `Disallow: /` that a crawler
    reading only the first 500 KiB (RFC 9309 lets it stop there) never sees."""
    line = b"# " + b"padding " * 12 + b"\n"
    padding = line * (ROBOTS_PADDING_BYTES // len(line))
    return rules.encode() + padding + b"User-agent: *\nDisallow: /\n"


def raw_two_lengths(page: int) -> bytes:
    """Return a whole HTTP response with two Content-Length headers that disagree."""
    body = f"<!doctype html><title>Two lengths ({page})</title><p>which one?</p>".encode()
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
        + f"Content-Length: {len(body)}\r\nContent-Length: {len(body) + 50}\r\n".encode()
        + b"Connection: close\r\n\r\n"
        + body
    )
