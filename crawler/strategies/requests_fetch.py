"""One GET with requests, as the core asks for it: no redirects followed, body capped, errors named.

requests only bounds each socket operation, so the total `--timeout` is enforced while streaming
the body. Failures get the same names as under aiohttp, so records agree across strategies.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter

from crawler.core.messages import FetchFailure, FetchRequest, FetchResponse, should_read_body
from crawler.core.records import ErrorKind
from crawler.settings import CrawlSettings
from crawler.strategies.responses import (
    CappedBody,
    failure_from,
    is_local_exhaustion,
    response_from,
)

READ_CHUNK = 64 * 1024


class TotalTimeout(Exception):
    """The whole request took longer than `--timeout`."""


def new_session(settings: CrawlSettings, pool_size: int = 1) -> requests.Session:
    """Return a session that never retries or redirects on its own, with the crawl's User-Agent."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = settings.user_agent
    session.trust_env = False
    return session


def fetch(
    session: requests.Session,
    request: FetchRequest,
    settings: CrawlSettings,
    on_response: Callable[[Any], None] | None = None,
) -> FetchResponse | FetchFailure:
    """Perform one request; never raises but for KeyboardInterrupt and SystemExit.

    `on_response`, if given, is given the urllib3 response once headers arrive, so another
    thread can shut it down to end a stop's grace period.
    """
    started = time.perf_counter()
    deadline = started + settings.timeout
    status: int | None = None
    try:
        with session.get(
            request.url,
            allow_redirects=False,
            stream=True,
            timeout=(settings.connect_timeout, settings.timeout),
        ) as response:
            status = response.status_code
            if on_response is not None:
                on_response(response.raw)
            content_type = response.headers.get("Content-Type")
            body, too_large = b"", False
            if should_read_body(request, status, content_type):
                body, too_large = _read_capped(response, request.max_bytes, deadline)
            return response_from(status, response.headers, body, too_large, started)
    except Exception as error:
        return failure_from(classify(error), error, status, started)


def _read_capped(response: requests.Response, limit: int, deadline: float) -> tuple[bytes, bool]:
    """Read a (decompressed) body up to `limit` bytes by `deadline`; say whether there was more."""
    capped = CappedBody(limit)
    # read1 returns what one receive brings (decompressed), where iter_content would wait for a
    # whole chunk: a body sent a byte a second must not outlive the deadline by hours.
    while chunk := response.raw.read1(READ_CHUNK, decode_content=True):
        if time.perf_counter() > deadline:
            raise TotalTimeout
        if capped.add(chunk):
            break
    return capped.body(), capped.too_large


_RESET_SIGNS = ("ConnectionResetError", "Connection reset", "RemoteDisconnected")
_TRUNCATION_SIGNS = ("IncompleteRead", "InvalidChunkLength", "Response ended prematurely")


def classify(error: BaseException) -> ErrorKind:
    """Name a requests/urllib3 failure in the crawler's own terms.

    requests wraps the socket's own error in its message, so that is where a reset shows.
    """
    text = repr(error)
    if is_local_exhaustion(error):
        return ErrorKind.LOCAL
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
