"""One GET with requests, as the core asks for it: no redirects followed, body capped, errors named.

requests only bounds each socket operation, so the total `--timeout` is enforced by the deadline
watchdog (`deadlines`), which shuts the request's socket down when it passes, whatever the request
is waiting for. Failures get the same names as under aiohttp, so records agree across strategies.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections.abc import Callable
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
import urllib3.connection
from requests.adapters import HTTPAdapter

from crawler.core.messages import (
    FetchFailure,
    FetchRequest,
    FetchResponse,
    body_is_incidental,
    should_read_body,
)
from crawler.core.records import ErrorKind
from crawler.http.deadlines import WATCHDOG, CutReason, InFlight
from crawler.http.decoding import ACCEPT_ENCODING
from crawler.http.exchange import Capture, Exchange, request_of, response_fields
from crawler.http.options import HttpOptions
from crawler.http.proxies import proxy_for
from crawler.http.responses import (
    CappedBody,
    failure_from,
    head_from,
    is_local_exhaustion,
    response_from,
)

READ_CHUNK = 64 * 1024


class TotalTimeout(Exception):
    """The whole request took longer than `--timeout`."""


class RequestCut(Exception):
    """The request's socket was shut down under it: its deadline passed, or the crawl stopped."""


_CUT_KINDS = {CutReason.DEADLINE: ErrorKind.TIMEOUT, CutReason.STOPPED: ErrorKind.INTERRUPTED}


class BadChunkSize(http.client.HTTPException):
    """A chunk-size line that is not 1*HEXDIG (RFC 9112 §7.1)."""


# A chunk size: hex digits, at most 16 of them (a 64-bit length, as llhttp allows), then
# optional spaces (which aiohttp's parser also tolerates) before any chunk extension.
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\n]*)?\r?\n")


class _StrictResponse(http.client.HTTPResponse):
    """http.client's response, made to read HTTP as aiohttp's parser (llhttp) does.

    - Every informational (1xx) response before the final one is skipped. http.client skips
      `100 Continue` only, and returned `103 Early Hints` as if it were the page. RFC 9110 §15.2:
      a client must accept any number of 1xx responses before the final one. (101 switches
      protocols, which a GET without Upgrade never asks for: it stays a final status.)
    - A chunk size is hex digits only. http.client passes it to `int(line, 16)`, which takes
      `-5`, `0x5` and `5_0`, and reports one it refuses as a body cut short (IncompleteRead(0)),
      when the server's framing is what is broken.
    """

    def _read_status(self) -> tuple[str, int, str]:
        while True:
            version, status, reason = super()._read_status()  # type: ignore[misc]
            if 100 < status < 200 and status != 101:
                http.client._read_headers(self.fp)  # type: ignore[attr-defined]
                continue
            return version, status, reason

    def _read_next_chunk_size(self) -> int:
        longest = http.client._MAXLINE  # type: ignore[attr-defined]
        line = self.fp.readline(longest + 1)
        if len(line) <= longest and not line.endswith(b"\n"):
            raise http.client.IncompleteRead(b"")  # the connection closed: a truncation
        match = _CHUNK_SIZE.fullmatch(line)
        if match is None:
            self._close_conn()  # type: ignore[attr-defined]
            raise BadChunkSize(line[:40])
        return int(match.group(1), 16)


# The request each thread is performing, so its connection can hand over the socket it uses.
_performing = threading.local()


class _Connection(urllib3.connection.HTTPConnection):
    response_class = _StrictResponse

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        # The request is on the wire: from here until its last byte, its deadline can cut it.
        request: InFlight | None = getattr(_performing, "request", None)
        if request is not None:
            request.attach(self.sock)
        return super().getresponse(*args, **kwargs)


class _ConnectionPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _Connection


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            **self.poolmanager.pool_classes_by_scheme,
            "http": _ConnectionPool,
        }
        self.poolmanager.key_fn_by_scheme = dict(self.poolmanager.key_fn_by_scheme)


class _BytesSession(requests.Session):
    """A session that leaves redirects to the core entirely.

    Even with `allow_redirects=False`, requests reads the Location header to prepare the next
    hop, and fails on bytes it cannot decode; the crawl reads Location itself (`location`).
    """

    def get_redirect_target(self, resp: requests.Response) -> None:
        return None


def new_session(options: HttpOptions, pool_size: int = 1) -> requests.Session:
    """Return a session that never retries, redirects, decompresses or keeps a cookie."""
    session = _BytesSession()
    adapter = _Adapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = options.user_agent
    session.headers["Accept-Encoding"] = ACCEPT_ENCODING
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # cookies: none kept
    session.trust_env = False
    return session


def fetch(
    session: requests.Session,
    request: FetchRequest,
    options: HttpOptions,
    on_start: Callable[[InFlight], None] | None = None,
    capture: Capture | None = None,
) -> FetchResponse | FetchFailure:
    """Perform one request; never raises but for KeyboardInterrupt and SystemExit.

    `on_start`, if given, is given the request in flight before it is sent, so another thread
    can cut it at the end of a stop's grace period (`InFlight.cut`). With `capture` (an archived
    crawl), every body is read, to `max_bytes`, and the exchange is handed to it before the
    response is returned.
    """
    started, started_at = time.perf_counter(), time.time()
    in_flight = InFlight(time.monotonic() + options.timeout)
    WATCHDOG.watch(in_flight)
    if on_start is not None:
        on_start(in_flight)
    _performing.request = in_flight
    status: int | None = None
    try:
        proxy = proxy_for(options.proxies, request.url)
        with session.get(
            request.url,
            allow_redirects=False,
            stream=True,
            timeout=(options.connect_timeout, options.timeout),
            proxies={urlsplit(request.url).scheme: proxy} if proxy else None,
        ) as response:
            status = response.status_code
            head = head_from(status, _raw_fields(response))
            if "transfer-encoding" in head.headers and "content-length" in head.headers:
                # RFC 9112 §6.3: a sign of request smuggling, to be handled as an error (as
                # aiohttp's parser does).
                raise http.client.HTTPException("both Transfer-Encoding and Content-Length")
            incidental = body_is_incidental(request, status)
            capped = CappedBody(request.max_bytes)
            ip = _peer_address(response) if capture is not None else None
            content_type = head.headers.get("content-type")
            if capture is not None or should_read_body(request, status, content_type):
                try:
                    _read_capped(response, capped, in_flight.deadline)
                except Exception:
                    if not incidental:
                        raise
                    capped.cut = True
            in_flight.finish()
            if in_flight.cut_by is not None and not incidental:
                raise RequestCut(in_flight.cut_by)  # what was read may end where the cut was
            if capture is not None:
                capture(_exchange(request.url, started_at, response, capped, ip))
            return response_from(
                head, capped.body(), capped.too_large, request.max_bytes, started, incidental
            )
    except Exception as error:
        in_flight.finish()
        kind = _CUT_KINDS[in_flight.cut_by] if in_flight.cut_by else classify(error)
        return failure_from(kind, error, status, started)
    finally:
        in_flight.finish()  # also when a stop's GraceExpired passes through
        _performing.request = None


def _raw_fields(response: requests.Response) -> list[tuple[bytes, bytes]]:
    """Return the header fields as received: http.client decoded them as Latin-1, which encodes
    back to the very bytes."""
    message = response.raw._original_response.msg  # type: ignore[union-attr]
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in message.items()]


def _exchange(
    url: str, started_at: float, response: requests.Response, capped: CappedBody, ip: str | None
) -> Exchange:
    """Return what crossed the wire for `response`, for the archive."""
    line, sent = request_of(url, response.request.headers.items())
    version = getattr(response.raw, "version", 11)
    return Exchange(
        url=url,
        started_at=started_at,
        request_line=line,
        request_fields=sent,
        protocol="HTTP/1.0" if version == 10 else "HTTP/1.1",
        status_line=f"{response.status_code} {response.reason or ''}".rstrip(),
        response_fields=response_fields(_raw_fields(response)),
        body=capped.body(),
        truncated="length" if capped.too_large else "disconnect" if capped.cut else None,
        ip=ip,
    )


def _peer_address(response: requests.Response) -> str | None:
    """Return the address the response came from, while its connection is still held."""
    try:
        peer = response.raw._connection.sock.getpeername()  # type: ignore[union-attr]
    except (AttributeError, OSError):
        return None
    return str(peer[0]) if peer else None


def _read_capped(response: requests.Response, capped: CappedBody, deadline: float) -> None:
    """Read a body as sent (still coded) into `capped`, up to its limit, by `deadline` (what
    arrived before a failure stays in `capped`)."""
    # read1 returns what one receive brings, where iter_content would wait for a
    # whole chunk: a body sent a byte a second must not outlive the deadline by hours.
    while chunk := response.raw.read1(READ_CHUNK, decode_content=False):
        if time.monotonic() > deadline:
            raise TotalTimeout
        if capped.add(chunk):
            break


_RESET_SIGNS = ("ConnectionResetError", "Connection reset", "RemoteDisconnected")
_TRUNCATION_SIGNS = ("IncompleteRead", "InvalidChunkLength", "Response ended prematurely")


def classify(error: BaseException) -> ErrorKind:
    """Name a requests/urllib3 failure in the crawler's own terms.

    requests wraps the socket's own error in its message, so that is where a reset shows.
    """
    text = repr(error)
    if is_local_exhaustion(error):
        return ErrorKind.LOCAL
    # A status line, header block or chunk size that is not HTTP: the server's framing is broken,
    # and trying again would read the same bytes (aiohttp's parser says the same). A body cut
    # short (IncompleteRead) is a truncation instead, and a connection closed where a status
    # line should start (RemoteDisconnected) a reset, as under aiohttp.
    broken = _caused_by_any(error, (http.client.HTTPException,)) and not _caused_by_any(
        error, (http.client.IncompleteRead, http.client.RemoteDisconnected)
    )
    if broken:
        return ErrorKind.PROTOCOL
    reset = any(sign in text for sign in _RESET_SIGNS)
    if isinstance(error, TotalTimeout | requests.Timeout | urllib3.exceptions.TimeoutError):
        return ErrorKind.TIMEOUT
    if isinstance(
        error, requests.exceptions.ChunkedEncodingError | urllib3.exceptions.ProtocolError
    ):
        truncated = any(sign in text for sign in _TRUNCATION_SIGNS)
        return ErrorKind.TRUNCATED if truncated and not reset else ErrorKind.RESET
    if isinstance(error, requests.exceptions.ConnectionError):
        return ErrorKind.RESET if reset else ErrorKind.CONNECT
    if isinstance(
        error,
        requests.exceptions.ContentDecodingError
        | requests.exceptions.InvalidURL
        | requests.exceptions.InvalidHeader
        | ValueError,
    ):
        return ErrorKind.PROTOCOL
    return ErrorKind.OTHER


def _caused_by_any(
    error: BaseException, kinds: tuple[type[BaseException], ...]
) -> BaseException | None:
    """Return the first exception of `kinds` among `error`, its causes and the errors it wraps
    in its arguments (urllib3 wraps http.client's errors there), or None."""
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kinds):
            return current
        pending.extend(arg for arg in current.args if isinstance(arg, BaseException))
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return None
