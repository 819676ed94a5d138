"""The outcome record of every URL a crawl attempts, and the stable names of what can go wrong."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, fields
from typing import Any


class ErrorKind(enum.StrEnum):
    """What went wrong with a URL: stable strings, the same whichever strategy fetched it."""

    TIMEOUT = "timeout"
    CONNECT = "connect"
    RESET = "reset"
    TRUNCATED = "truncated"
    TOO_LARGE = "too_large"
    NOT_HTML = "not_html"
    HTTP_4XX = "http_4xx"
    HTTP_429 = "http_429"
    HTTP_5XX = "http_5xx"
    REDIRECT_LOOP = "redirect_loop"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    OUT_OF_SCOPE_REDIRECT = "out_of_scope_redirect"
    BAD_REDIRECT = "bad_redirect"
    ROBOTS = "robots"
    ROBOTS_UNAVAILABLE = "robots_unavailable"
    PARSE = "parse"
    CALLBACK = "callback"  # the page callback (`on_page`) raised, or gave what it may not
    PROTOCOL = "protocol"
    BAD_ENCODING = "bad_encoding"  # an unknown Content-Encoding, or a body that does not decode
    INTERRUPTED = "interrupted"
    LOCAL = "local"  # this machine ran out of something (open files): never the server's fault
    OTHER = "other"


# Failures worth another attempt: the next one may well succeed.
RETRYABLE: frozenset[ErrorKind] = frozenset(
    {
        ErrorKind.TIMEOUT,
        ErrorKind.CONNECT,
        ErrorKind.RESET,
        ErrorKind.TRUNCATED,
        ErrorKind.LOCAL,
    }
)


@dataclass(frozen=True, slots=True)
class Record:
    """One line of the crawl's JSON Lines output: what happened to one URL."""

    url: str
    final_url: str | None
    status: int | None
    depth: int
    parent: str | None
    title: str | None
    links: int
    bytes: int
    elapsed_ms: float
    attempts: int
    error: ErrorKind | None
    content_type: str | None = None
    simhash: str | None = None  # 16 hex digits, see crawler/pages/fingerprint.py
    words: int | None = None
    # The page's outgoing links (resolved, in document order), kept only with --record-links.
    outlinks: tuple[str, ...] | None = None
    # A page's --extract fields, each with its values in document order; only with --extract.
    data: tuple[tuple[str, tuple[str, ...]], ...] | None = None
    # "sitemap" for a sitemap's record (a page's has none); a page listed by a sitemap keeps
    # the entry's <lastmod> as the server wrote it. Both only with --sitemaps.
    kind: str | None = None
    lastmod: str | None = None
    # The page callback's fields (`on_page`), as one JSON object's text: `extra` in the line.
    extra_json: str | None = None

    @property
    def extra(self) -> dict[str, Any] | None:
        """Return the page callback's fields, or None if it gave none."""
        return json.loads(self.extra_json) if self.extra_json is not None else None

    def to_json(self) -> str:
        """Return the record as one line of JSON (`outlinks`, `data`, `kind` and `lastmod` only
        when they have a value, so a crawl without them writes the records it always did)."""
        # Built by hand: dataclasses.asdict deep-copies every field, a third of this call's cost.
        fields: dict[str, Any] = {name: getattr(self, name) for name in _FIELD_NAMES}
        if self.kind is not None:
            fields["kind"] = self.kind
        if self.lastmod is not None:
            fields["lastmod"] = self.lastmod
        if self.outlinks is not None:
            fields["outlinks"] = self.outlinks
        if self.data is not None:
            fields["data"] = dict(self.data)
        line = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
        if self.extra_json is not None:  # already JSON: spliced in, not parsed and dumped again
            line = f'{line[:-1]},"extra":{self.extra_json}}}'
        return line

    @classmethod
    def from_json(cls, line: str) -> Record:
        """Read a record back from its JSON line."""
        data: dict[str, Any] = json.loads(line)
        error = data.get("error")
        data["error"] = ErrorKind(error) if error else None
        if data.get("outlinks") is not None:
            data["outlinks"] = tuple(data["outlinks"])
        if data.get("data") is not None:
            data["data"] = tuple((name, tuple(values)) for name, values in data["data"].items())
        if "extra" in data:
            extra = data.pop("extra")
            data["extra_json"] = json.dumps(extra, ensure_ascii=False, separators=(",", ":"))
        return cls(**data)


_FIELD_NAMES = tuple(
    field.name
    for field in fields(Record)
    if field.name not in ("outlinks", "data", "kind", "lastmod", "extra_json")
)

# What a crawl reports as broken at its end, as wget's spider does: links that lead nowhere a
# reader could follow. Refusals the crawl chose (robots, scope) and local trouble are not.
BROKEN: frozenset[ErrorKind] = frozenset(
    {
        ErrorKind.HTTP_4XX,
        ErrorKind.HTTP_429,
        ErrorKind.HTTP_5XX,
        ErrorKind.TIMEOUT,
        ErrorKind.CONNECT,
        ErrorKind.RESET,
        ErrorKind.TRUNCATED,
        ErrorKind.PROTOCOL,
        ErrorKind.BAD_REDIRECT,
        ErrorKind.REDIRECT_LOOP,
        ErrorKind.TOO_MANY_REDIRECTS,
    }
)
