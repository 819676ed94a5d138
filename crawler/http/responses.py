"""What both HTTP clients do alike: turn what happened into the core's `FetchResponse` or
`FetchFailure`."""

from __future__ import annotations

import errno
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from crawler.core.messages import FetchFailure, FetchResponse
from crawler.core.records import ErrorKind
from crawler.core.retry import parse_retry_after
from crawler.http.decoding import BadEncoding, decode_body
from crawler.http.location import location_from_bytes


@dataclass(frozen=True, slots=True)
class Head:
    """A response's status and headers as both clients see them alike: names lower-cased, a
    repeated field's values joined with commas (RFC 9110 §5.3), the Location kept as raw bytes."""

    status: int
    headers: Mapping[str, str]
    raw_location: bytes | None


def head_from(status: int, fields: Iterable[tuple[bytes, bytes]]) -> Head:
    """Return the head of a response from its raw header fields, in the order they came."""
    joined: dict[str, list[str]] = {}
    raw_location = None
    for name, value in fields:
        key = name.decode("latin-1").lower()
        joined.setdefault(key, []).append(value.decode("latin-1").strip())
        if key == "location" and raw_location is None:
            raw_location = value.strip()
    return Head(status, {key: ", ".join(values) for key, values in joined.items()}, raw_location)


def response_from(
    head: Head,
    raw_body: bytes,
    raw_too_large: bool,
    max_bytes: int,
    started: float,
    incidental: bool = False,
) -> FetchResponse | FetchFailure:
    """Return the response as the core sees it, its body decoded (see `decoding`), its Location
    read from raw bytes and its Retry-After against this machine's clock.

    `raw_body` is the body as it came off the wire, cut after `max_bytes + 1` bytes
    (`raw_too_large` then). An `incidental` body (see `body_is_incidental`) that cannot be
    decoded is counted as it arrived, and the response stays what its status says.
    """
    status, headers, raw_location = head.status, head.headers, head.raw_location
    body, too_large = raw_body, raw_too_large
    if raw_body:
        try:
            decoded = decode_body(
                raw_body, headers.get("content-encoding"), max_bytes, complete=not raw_too_large
            )
        except BadEncoding as error:
            if not incidental:
                return failure_from(ErrorKind.BAD_ENCODING, error, status, started)
            body_bytes = len(raw_body)
            body = b""
        else:
            body, too_large = decoded.body, decoded.too_large or raw_too_large
            body_bytes = len(body)
    else:
        body_bytes = 0
    return FetchResponse(
        status=status,
        elapsed=time.perf_counter() - started,
        content_type=first_value(headers.get("content-type")),
        location=location_from_bytes(raw_location) if raw_location is not None else None,
        retry_after=parse_retry_after(headers.get("retry-after"), time.time()),
        body=body,
        body_bytes=body_bytes,
        too_large=too_large,
    )


def first_value(header: str | None) -> str | None:
    """Return the first of a header's comma-joined values (a repeated Content-Type)."""
    return header.split(",", 1)[0].strip() if header else header


def failure_from(
    kind: ErrorKind, error: BaseException, status: int | None, started: float
) -> FetchFailure:
    """Return the failure as the core sees it, with a short description of the client's error."""
    detail = f"{type(error).__name__}: {error}"[:200]
    if kind is ErrorKind.PROTOCOL:
        # Whether a client had parsed the status line before the broken part arrived depends on
        # how the bytes were split into packets: a broken response has no status to record.
        status = None
    return FetchFailure(kind, time.perf_counter() - started, status, detail)


class CappedBody:
    """A body's chunks, kept up to `limit` bytes (counted after decompression)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.too_large = False
        self.cut = False  # the connection failed under it, and what arrived was kept
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
