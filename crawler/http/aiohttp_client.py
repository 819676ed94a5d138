"""One GET with aiohttp, as the core asks for it: no redirects followed, body capped, errors named.

Whatever goes wrong comes back as a `FetchFailure` whose kind does not depend on aiohttp: the same
failure gets the same name under requests, so records agree across strategies.
"""

from __future__ import annotations

import asyncio
import errno
import math
import time
from collections.abc import Callable
from types import SimpleNamespace

import aiohttp

from crawler.core.messages import (
    FetchFailure,
    FetchRequest,
    FetchResponse,
    body_is_incidental,
    should_read_body,
)
from crawler.core.records import ErrorKind
from crawler.http.decoding import ACCEPT_ENCODING
from crawler.http.exchange import Capture, Exchange, request_of, response_fields
from crawler.http.options import HttpOptions
from crawler.http.proxies import Routes, credentials, proxy_for, without_credentials
from crawler.http.responses import (
    CappedBody,
    failure_from,
    head_from,
    is_local_exhaustion,
    response_from,
)

READ_CHUNK = 64 * 1024


def exact_timeout(options: HttpOptions) -> aiohttp.ClientTimeout:
    """Return the crawl's timeouts as aiohttp deadlines that fire when they say.

    aiohttp rounds a deadline of `ceil_threshold` (5 s by default) or more up to the next whole
    second of the loop's clock, to batch timers: `--timeout 5s` would cut a request at 5 to 6 s,
    late by a different amount each time, where the blocking client's watchdog cuts it at 5 s.
    A threshold of infinity is never reached, so no deadline (total or connect) is rounded.
    """
    return aiohttp.ClientTimeout(
        total=options.timeout, sock_connect=options.connect_timeout, ceil_threshold=math.inf
    )


def new_session(options: HttpOptions) -> aiohttp.ClientSession:
    """Return a session sized for the crawl: one pool, no cookies, the crawl's timeouts."""
    connector = aiohttp.TCPConnector(
        limit=options.max_connections, limit_per_host=0, ttl_dns_cache=300
    )
    reporting = aiohttp.TraceConfig()
    reporting.on_request_headers_sent.append(_report_sent)
    return aiohttp.ClientSession(
        connector=connector,
        trace_configs=[reporting],
        cookie_jar=aiohttp.DummyCookieJar(),
        headers={"User-Agent": options.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
        auto_decompress=False,  # `decoding` undoes Content-Encoding, for both clients alike
        timeout=exact_timeout(options),
    )


async def _report_sent(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceRequestHeadersSentParams,
) -> None:
    """Call the request's `on_sent`, if it has one: its head is now written to the socket."""
    if context.trace_request_ctx is not None:
        context.trace_request_ctx["on_sent"]()


async def fetch(
    session: aiohttp.ClientSession,
    request: FetchRequest,
    on_sent: Callable[[], None] | None = None,
    proxies: Routes = (),
    capture: Capture | None = None,
) -> FetchResponse | FetchFailure:
    """Perform one request, through the proxy `proxies` route it to (if any); never raises but
    for cancellation.

    With `capture` (an archived crawl), every body is read, to `max_bytes`, and the exchange is
    handed to it before the response is returned.

    `on_sent` is called when the request's head has been written, after any wait for a
    connection: a delay counted from then is the spacing the server sees, where one counted from
    the call would shrink by however long a new connection took to open.
    """
    started, started_at = time.perf_counter(), time.time()
    status: int | None = None
    reporting = None if on_sent is None else {"on_sent": on_sent}
    proxy = proxy_for(proxies, request.url)
    login = credentials(proxy) if proxy else None
    try:
        async with session.get(
            request.url,
            allow_redirects=False,
            trace_request_ctx=reporting,
            proxy=without_credentials(proxy) if proxy else None,
            proxy_auth=aiohttp.BasicAuth(*login) if login else None,
        ) as response:
            status = response.status
            head = head_from(status, response.raw_headers)
            capped = CappedBody(request.max_bytes)
            incidental = body_is_incidental(request, status)
            content_type = head.headers.get("content-type")
            ip = _peer_address(response) if capture is not None else None  # before it is released
            if capture is not None or should_read_body(request, status, content_type):
                await _read_capped(response.content, capped, best_effort=incidental)
            body = capped.body()
            if capture is not None:
                capture(_exchange(request.url, started_at, response, body, capped, ip))
            return response_from(
                head, body, capped.too_large, request.max_bytes, started, incidental
            )
    except asyncio.CancelledError:
        raise
    except Exception as error:
        return failure_from(classify(error), error, status, started)


async def _read_capped(
    content: aiohttp.StreamReader, capped: CappedBody, best_effort: bool = False
) -> None:
    """Read a body as sent (still coded) into `capped`, up to its limit.

    `best_effort`: a body cut short or too slow ends the read with what arrived (the body of a
    redirect or an error, which decides nothing), instead of failing the request.
    """
    try:
        async for chunk in content.iter_chunked(READ_CHUNK):
            if capped.add(chunk):
                break
    except (TimeoutError, aiohttp.ClientError):
        if not best_effort:
            raise
        capped.cut = True


def _exchange(
    url: str,
    started_at: float,
    response: aiohttp.ClientResponse,
    body: bytes,
    capped: CappedBody,
    ip: str | None,
) -> Exchange:
    """Return what crossed the wire for `response`, for the archive."""
    line, sent = request_of(url, response.request_info.headers.items())
    version = response.version
    protocol = f"HTTP/{version.major}.{version.minor}" if version else "HTTP/1.1"
    return Exchange(
        url=url,
        started_at=started_at,
        request_line=line,
        request_fields=sent,
        protocol=protocol,
        status_line=f"{response.status} {response.reason or ''}".rstrip(),
        response_fields=response_fields(response.raw_headers),
        body=body,
        truncated="length" if capped.too_large else "disconnect" if capped.cut else None,
        ip=ip,
    )


def _peer_address(response: aiohttp.ClientResponse) -> str | None:
    """Return the address the response came from.

    A small body arrives with the head, and aiohttp has then already released the connection:
    the response's stream still knows the protocol that read it, and so its transport.
    """
    connection = response.connection
    protocol = connection.protocol if connection is not None else None
    protocol = protocol or getattr(response.content, "_protocol", None)
    transport = getattr(protocol, "transport", None)
    peer = transport.get_extra_info("peername") if transport is not None else None
    return str(peer[0]) if peer else None


def classify(error: BaseException) -> ErrorKind:
    """Name an aiohttp failure in the crawler's own terms."""
    if is_local_exhaustion(error):
        return ErrorKind.LOCAL
    if isinstance(error, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return ErrorKind.TIMEOUT
    if isinstance(error, aiohttp.ClientPayloadError):
        reset = _caused_by(error, ConnectionResetError) or "ConnectionResetError" in str(error)
        return ErrorKind.RESET if reset else ErrorKind.TRUNCATED
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return ErrorKind.RESET
    if isinstance(error, aiohttp.ClientConnectorError):
        return ErrorKind.CONNECT
    if isinstance(error, aiohttp.ClientOSError):
        return (
            ErrorKind.RESET if error.errno in (errno.ECONNRESET, errno.EPIPE) else ErrorKind.CONNECT
        )
    if isinstance(error, aiohttp.ClientResponseError | aiohttp.InvalidURL | ValueError):
        return ErrorKind.PROTOCOL
    return ErrorKind.OTHER


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
