"""Requests and their outcomes as JSON, for the broker: plain data, never pickles.

What crosses Redis is read by every worker and coordinator that can reach it, so it is data that
decodes into the core's own messages and nothing else (a pickle from a shared server would run
whatever code it held). A page's body never travels: the worker parsed it, and the core reads the
body of robots.txt alone.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

from crawler.core.messages import (
    FetchFailure,
    FetchRequest,
    FetchResponse,
    PageAnalysis,
    RequestKind,
)
from crawler.core.records import ErrorKind
from crawler.http.options import HttpOptions
from crawler.pages.extract import ExtractRule
from crawler.pages.page_options import PageOptions

Outcome = FetchResponse | FetchFailure


class Undecodable(ValueError):
    """A message that is not one this crawler writes."""


def encode_request(request: FetchRequest) -> str:
    """Return `request` as JSON text."""
    return json.dumps(
        [
            request.url,
            request.kind.value,
            request.job,
            request.attempt,
            request.max_bytes,
            request.depth,
            request.parent,
        ]
    )


def decode_request(text: str | bytes) -> FetchRequest:
    """Return the request `text` holds."""
    try:
        url, kind, job, attempt, max_bytes, depth, parent = json.loads(text)
        return FetchRequest(
            str(url),
            RequestKind(kind),
            int(job),
            int(attempt),
            int(max_bytes),
            int(depth),
            None if parent is None else str(parent),
        )
    except (ValueError, TypeError) as error:
        raise Undecodable(f"not a request: {error}") from None


def encode_outcome(request: FetchRequest, outcome: Outcome) -> str:
    """Return `outcome` as JSON text, with the body only if the core reads it (robots.txt)."""
    if isinstance(outcome, FetchFailure):
        return json.dumps(
            {"f": [outcome.error.value, outcome.elapsed, outcome.status, outcome.detail]}
        )
    fields: dict[str, Any] = {
        "status": outcome.status,
        "elapsed": outcome.elapsed,
        "content_type": outcome.content_type,
        "location": outcome.location,
        "retry_after": outcome.retry_after,
        "body_bytes": outcome.body_bytes,
        "too_large": outcome.too_large,
    }
    if request.kind is RequestKind.ROBOTS and outcome.body:
        fields["body"] = base64.b64encode(outcome.body).decode("ascii")
    if outcome.page is not None:
        page = dataclasses.asdict(outcome.page)
        page["error"] = outcome.page.error.value if outcome.page.error else None
        fields["page"] = page
    return json.dumps({"r": fields})


def decode_outcome(text: str | bytes) -> Outcome:
    """Return the outcome `text` holds."""
    try:
        message = json.loads(text)
        if "f" in message:
            error, elapsed, status, detail = message["f"]
            return FetchFailure(ErrorKind(error), float(elapsed), status, str(detail))
        fields = dict(message["r"])
        if "body" in fields:
            fields["body"] = base64.b64decode(fields["body"])
        page = fields.pop("page", None)
        if page is not None:
            page["links"] = tuple((str(url), bool(nofollow)) for url, nofollow in page["links"])
            page["error"] = ErrorKind(page["error"]) if page["error"] else None
            page["sitemaps"] = tuple(str(url) for url in page.get("sitemaps", ()))
            if page.get("lastmods") is not None:
                page["lastmods"] = tuple(page["lastmods"])
            if page.get("data") is not None:
                page["data"] = tuple((str(name), tuple(values)) for name, values in page["data"])
            fields["page"] = PageAnalysis(**page)
        return FetchResponse(**fields)
    except (ValueError, TypeError, KeyError) as error:
        raise Undecodable(f"not an outcome: {error}") from None


def encode_options(http: HttpOptions, page: PageOptions, lease: float, resumable: bool) -> str:
    """Return what a worker needs to know of a crawl, as JSON text."""
    return json.dumps(
        {
            "http": dataclasses.asdict(http),
            "page": dataclasses.asdict(page),
            "lease": lease,
            "resumable": resumable,
        }
    )


@dataclasses.dataclass(frozen=True, slots=True)
class CrawlOptions:
    """What a worker is told of a crawl it serves."""

    http: HttpOptions
    page: PageOptions
    lease: float  # seconds a request may be held unrenewed
    resumable: bool  # kept in a state file: a crashed coordinator may come back (--resume)


def _http_options(fields: dict[str, Any]) -> HttpOptions:
    """Return the HTTP options a message holds (JSON made the proxy routes lists: tuples again)."""
    routes = tuple((str(scheme), str(url)) for scheme, url in fields.get("proxies", ()))
    return HttpOptions(**{**fields, "proxies": routes})


def _page_options(fields: dict[str, Any]) -> PageOptions:
    """Return the page options a message holds (the extraction rules came as JSON objects)."""
    rules = tuple(ExtractRule(**rule) for rule in fields.get("extract", ()))
    return PageOptions(**{**fields, "extract": rules})


def decode_options(text: str | bytes) -> CrawlOptions:
    """Return the crawl options `text` holds."""
    try:
        message = json.loads(text)
        return CrawlOptions(
            _http_options(message["http"]),
            _page_options(message["page"]),
            float(message["lease"]),
            bool(message["resumable"]),
        )
    except (ValueError, TypeError, KeyError) as error:
        raise Undecodable(f"not a crawl's options: {error}") from None


__all__ = [
    "CrawlOptions",
    "Undecodable",
    "decode_options",
    "decode_outcome",
    "decode_request",
    "encode_options",
    "encode_outcome",
    "encode_request",
]
