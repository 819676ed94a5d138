"""A raw-socket HTTP server of awkward but real responses, for the differential test.

Every case is the exact bytes a server sends (or a script of writes and pauses), so both HTTP
clients meet the same wire, and the crawler must make the same record of it whichever fetched.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import brotli
import zstandard

PAGE = b"<html><head><title>Awkward</title></head><body><p><a href='/'>home</a></p></body></html>"
BIG = b"<html><body>" + b"<p>zero</p>" * 300_000 + b"</body></html>"  # 3.3 MB, compresses well


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-15)
    return compressor.compress(data) + compressor.flush()


def response(
    status: str = "200 OK", headers: tuple[str, ...] = (), body: bytes = PAGE, length: bool = True
) -> bytes:
    """Return a whole response: status line, headers (Content-Length added), blank line, body."""
    lines = [f"HTTP/1.1 {status}", "Content-Type: text/html", "Connection: close", *headers]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def encoded(name: str, body: bytes) -> bytes:
    return response(headers=(f"Content-Encoding: {name}",), body=body)


@dataclass(frozen=True)
class Drip:
    """Send `data` one byte every `every` seconds."""

    data: bytes
    every: float


Script = bytes | list[bytes | float | Drip]
CASES: dict[str, Script] = {
    # Content-Encoding
    "gzip": encoded("gzip", gzip.compress(PAGE)),
    "deflate-zlib": encoded("deflate", zlib.compress(PAGE)),
    "deflate-raw": encoded("deflate", raw_deflate(PAGE)),
    "br": encoded("br", brotli.compress(PAGE)),
    "zstd": encoded("zstd", zstandard.ZstdCompressor().compress(PAGE)),
    "gzip-gzip": encoded("gzip, gzip", gzip.compress(gzip.compress(PAGE))),
    "deflate-then-gzip": encoded("deflate, gzip", gzip.compress(zlib.compress(PAGE))),
    "upper-case": encoded("GZIP", gzip.compress(PAGE)),
    "identity": encoded("identity", PAGE),
    "unknown-encoding": encoded("snappy", PAGE),
    "corrupt-gzip": encoded("gzip", b"\x1f\x8b\x08\x00garbage-that-is-not-deflate" * 4),
    "gzip-bomb": encoded("gzip", gzip.compress(BIG)),
    "br-bomb": encoded("br", brotli.compress(BIG)),
    "zstd-bomb": encoded("zstd", zstandard.ZstdCompressor().compress(BIG)),
    "deflate-bomb": encoded("deflate", zlib.compress(BIG)),
    # Framing
    "length-short": response(headers=("Content-Length: 10",), body=PAGE * 5000, length=False),
    "bad-chunk-size": response(
        headers=("Transfer-Encoding: chunked",), body=b"zz\r\nhello\r\n0\r\n\r\n", length=False
    ),
    "negative-chunk-size": response(
        headers=("Transfer-Encoding: chunked",), body=b"-5\r\nhello\r\n0\r\n\r\n", length=False
    ),
    "hex-prefix-chunk-size": response(
        headers=("Transfer-Encoding: chunked",), body=b"0x5\r\nhello\r\n0\r\n\r\n", length=False
    ),
    "huge-chunk-size": response(
        headers=("Transfer-Encoding: chunked",),
        body=b"1" + b"0" * 20 + b"\r\nhello\r\n0\r\n\r\n",
        length=False,
    ),
    "chunk-extension": response(
        headers=("Transfer-Encoding: chunked",),
        body=b"5 ;name=value\r\n<html\r\n1\r\n>\r\n0\r\n\r\n",
        length=False,
    ),
    "cut-in-chunk-size": response(
        headers=("Transfer-Encoding: chunked",), body=b"5\r\nhello\r\n1", length=False
    ),
    "chunked-and-length": response(
        headers=("Transfer-Encoding: chunked", "Content-Length: 5"),
        body=b"5\r\nhello\r\n0\r\n\r\n",
        length=False,
    ),
    "204-with-body": response("204 No Content", body=PAGE, length=True),
    "garbage-status": b"HTTQ/9 two hundred\r\n\r\n" + PAGE,
    "many-headers": response(headers=tuple(f"X-H{i}: {i}" for i in range(150))),
    # Status codes
    "early-hints": b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
    + response(),
    "status-199": b"HTTP/1.1 199 Odd\r\nX-Interim: yes\r\n\r\n" + response(),
    "status-199-alone": b"HTTP/1.1 199 Odd\r\nX-Interim: yes\r\n\r\n",
    "status-199-with-content": response("199 Odd"),
    # Location
    "location-utf8": response("302 Found", headers=("Location: /caf\u00e9",), body=b"").replace(
        b"caf\xe9", "café".encode()
    ),
    "location-ff": response("302 Found", headers=("Location: /x\xff.html",), body=b""),
    "location-control": response("302 Found", headers=("Location: /a\x01b",), body=b""),
    # The body of a redirect or an error decides nothing: however it arrives, the status does.
    "503-corrupt-gzip": response(
        "503 Service Unavailable",
        headers=("Content-Encoding: gzip",),
        body=b"\x1f\x8b\x08\x00garbage-that-is-not-deflate",
    ),
    "404-cut-body": response(
        "404 Not Found", headers=("Content-Length: 1000",), body=b"short", length=False
    ),
    "302-cut-body": response(
        "302 Found",
        headers=("Location: /identity", "Content-Length: 1000"),
        body=b"x",
        length=False,
    ),
    # Cookies
    "cookie-flood": response(
        headers=tuple(f"Set-Cookie: c{i}={'v' * 3000}; Path=/" for i in range(90))
    ),
}


def head_only(length: int) -> bytes:
    """Return a 200's status line and headers announcing `length` bytes of body, and no body."""
    return response(headers=(f"Content-Length: {length}",), body=b"", length=False)


# Servers that keep every single read short and the request long: only a deadline on the whole
# request ends them. Each one takes far longer than the timeout they are crawled with.
SLOW_CASES: dict[str, Script] = {
    "drip-status-line": [Drip(response(), 0.25)],
    "drip-headers": [b"HTTP/1.1 200 OK\r\n", Drip(response()[len(b"HTTP/1.1 200 OK\r\n") :], 0.25)],
    "drip-body": [head_only(500), Drip(b"x" * 500, 0.25)],
    "silent-after-headers": [head_only(9), 8.0],
    # A 404 whose body never ends: still a 404, with what arrived of its body.
    "drip-404-body": [
        response("404 Not Found", headers=("Content-Length: 500",), body=b"", length=False),
        Drip(b"x" * 500, 0.25),
    ],
    "silent-before-status": [8.0, response()],
}


@asynccontextmanager
async def serve_awkward(
    cases: dict[str, Script],
    cookies_seen: list[bytes] | None = None,
    robots: Script | None = None,
    on_request: Callable[[str], None] | None = None,
) -> AsyncIterator[str]:
    """Serve each case at /<name>, and at / a page linking to all of them; yield the base URL.

    Every Cookie header a request carries is appended to `cookies_seen`; `robots`, if given,
    is what /robots.txt sends instead of rules allowing everything; `on_request` is given the
    path of every request as it arrives.
    """
    links = "".join(f'<a href="/{name}">{name}</a> ' for name in cases)
    index = response(body=f"<html><title>index</title><body>{links}</body></html>".encode())
    if robots is None:
        robots = response(headers=("Content-Type: text/plain",), body=b"User-agent: *\nAllow: /\n")
    seen_cookies = cookies_seen if cookies_seen is not None else []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        path = head.split(b" ", 2)[1].decode("latin-1")
        if on_request is not None:
            on_request(path)
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"cookie:"):
                seen_cookies.append(line)
        name = path.lstrip("/")
        script: Script
        if path == "/":
            script = index
        elif path == "/robots.txt":
            script = robots
        elif name in cases:
            script = cases[name]
        else:
            script = response("404 Not Found", body=b"not here")
        try:
            for part in [script] if isinstance(script, bytes) else script:
                if isinstance(part, bytes):
                    writer.write(part)
                    await writer.drain()
                elif isinstance(part, Drip):
                    for byte in part.data:
                        writer.write(bytes([byte]))
                        await writer.drain()
                        await asyncio.sleep(part.every)
                else:
                    await asyncio.sleep(part)
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client went away, or the server is closing: the script ends here
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, limit=1 << 20)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.close()
        await server.wait_closed()
