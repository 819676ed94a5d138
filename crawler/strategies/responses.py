"""What both HTTP clients do alike: turn what happened into the core's `FetchResponse` or
`FetchFailure`."""

from __future__ import annotations

import errno
import time
from collections.abc import Mapping

from crawler.core.messages import FetchFailure, FetchResponse
from crawler.core.records import ErrorKind
from crawler.core.retry import parse_retry_after


def response_from(
    status: int, headers: Mapping[str, str], body: bytes, too_large: bool, started: float
) -> FetchResponse:
    """Return the response as the core sees it (Retry-After read against this machine's clock)."""
    return FetchResponse(
        status=status,
        elapsed=time.perf_counter() - started,
        content_type=first_value(headers.get("Content-Type")),
        location=headers.get("Location"),
        retry_after=parse_retry_after(headers.get("Retry-After"), time.time()),
        body=body,
        body_bytes=len(body),
        too_large=too_large,
    )


def first_value(header: str | None) -> str | None:
    """Return the first of repeated header values: aiohttp gives the first, requests joins them
    with commas, and a record must not depend on the client."""
    return header.split(",", 1)[0].strip() if header else header


def failure_from(
    kind: ErrorKind, error: BaseException, status: int | None, started: float
) -> FetchFailure:
    """Return the failure as the core sees it, with a short description of the client's error."""
    detail = f"{type(error).__name__}: {error}"[:200]
    return FetchFailure(kind, time.perf_counter() - started, status, detail)


class CappedBody:
    """A body's chunks, kept up to `limit` bytes (counted after decompression)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.too_large = False
        self._chunks: list[bytes] = []

    def add(self, chunk: bytes) -> bool:
        """Keep a chunk; return True once the limit is passed and reading should stop."""
        self.size += len(chunk)
        if self.size > self.limit:
            self._chunks.append(chunk[: len(chunk) - (self.size - self.limit)])
            self.too_large = True
            return True
        self._chunks.append(chunk)
        return False

    def body(self) -> bytes:
        """Return what was kept."""
        return b"".join(self._chunks)


# Errors that say this machine, not the server, ran out of something.
_LOCAL_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def is_local_exhaustion(error: BaseException) -> bool:
    """Say whether a client error comes from a local resource running out (EMFILE and kin),
    anywhere in its chain of causes, or in the message a client wrapped it in."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _LOCAL_ERRNOS:
            return True
        seen = seen.__cause__ or seen.__context__
    return "Too many open files" in repr(error)
