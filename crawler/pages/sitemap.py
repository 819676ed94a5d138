"""Sitemaps read safely: XML (`urlset` and `sitemapindex`), plain text, either gzip-compressed.

A sitemap comes from a server the crawl does not trust, so it is read as a hostile file:

- **No DTD at all.** A sitemap needs none (sitemaps.org's schema is XSD), and every XML bomb needs
  one: entity expansion (billion laughs), external entities (a file or URL pulled into the
  document), parameter entities. Forbidding the DOCTYPE, as defusedxml's `forbid_dtd` does, ends
  all of them at their first line, before a byte is expanded.
- **Bounded at every step.** The compressed body is already capped by `--max-bytes`; it is
  inflated in slices, never past the protocol's 50 MB of uncompressed data (a gzip bomb of 50 KB
  stops there); the XML is fed to expat in slices and reading stops at the protocol's 50,000
  URLs; a `<loc>` longer than a URL the crawl would follow is dropped as it is read, so a 10 MB
  line costs no more than its bytes.
- **What was read before a fault is kept.** A file cut at a limit or broken part way gives the
  URLs before the fault, and its record names the fault (`too_large`, `parse`), as a browser
  shows what arrived of a page.

The result is a `PageAnalysis` (the links are the URLs listed, `sitemaps` the sitemaps an index
names, `lastmods` each URL's `<lastmod>`), so a sitemap is analysed wherever pages are: inline, on a
parser thread, in a process pool, in a fleet's worker.
"""

from __future__ import annotations

import datetime as dt
import re
import zlib
from functools import partial
from xml.parsers import expat

from crawler.core.messages import PageAnalysis
from crawler.core.records import ErrorKind
from crawler.core.urls import LinkResolver
from crawler.pages.page_options import PageOptions

# sitemaps.org: "no more than 50,000 URLs and must be no larger than 50MB (52,428,800 bytes)".
MAX_SITEMAP_URLS = 50_000
MAX_SITEMAP_BYTES = 52_428_800
_SLICE = 1 << 16  # bytes inflated or parsed at a time
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_LASTMOD = 64  # characters of a <lastmod> kept: a date needs 35 at most
_BOM = "\ufeff"


class _Refused(Exception):
    """The document uses what a sitemap never needs (a DTD, an entity): read no further."""


class _Full(Exception):
    """The protocol's limit of URLs is reached: read no further."""


def sitemap_job(
    options: PageOptions, body: bytes, url: str, content_type: str | None
) -> partial[PageAnalysis]:
    """Return the analysis of one sitemap, as a call to run here or elsewhere (it pickles)."""
    return partial(analyze_sitemap, body, url, content_type, options)


def analyze_sitemap(
    body: bytes, url: str, content_type: str | None, options: PageOptions
) -> PageAnalysis:
    """Return the URLs and sitemaps a sitemap lists, with their `<lastmod>`, and any fault."""
    reader = _SitemapReader(url, options)
    data, error = _inflated(body)
    try:
        if _looks_like_xml(data):
            reader.read_xml(data)
        else:
            reader.read_text(data)
    except _Full:
        error = ErrorKind.TOO_LARGE
    except _Refused:
        error = ErrorKind.PARSE
    except expat.ExpatError:
        error = error or ErrorKind.PARSE  # a file cut at a limit ends mid-element: the cut says why
    return reader.analysis(error or reader.error)


def _inflated(body: bytes) -> tuple[bytes, ErrorKind | None]:
    """Return the body with any gzip compression undone (up to the protocol's 50 MB), and the
    fault met: a body past 50 MB, or a gzip stream that is broken or cut (a response that
    arrived whole, holding a file that is not)."""
    if not body.startswith(_GZIP_MAGIC):
        if len(body) > MAX_SITEMAP_BYTES:
            return body[:MAX_SITEMAP_BYTES], ErrorKind.TOO_LARGE
        return body, None
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out: list[bytes] = []
    size = 0
    view = memoryview(body)
    try:
        for start in range(0, len(body), _SLICE):
            pending = bytes(view[start : start + _SLICE])
            while pending:
                chunk = inflater.decompress(pending, MAX_SITEMAP_BYTES + 1 - size)
                size += len(chunk)
                out.append(chunk)
                if size > MAX_SITEMAP_BYTES:
                    return b"".join(out)[:MAX_SITEMAP_BYTES], ErrorKind.TOO_LARGE
                pending = inflater.unconsumed_tail
            if inflater.eof:
                break
    except zlib.error:
        return b"".join(out), ErrorKind.PARSE
    if not inflater.eof:
        return b"".join(out), ErrorKind.PARSE  # the stream ends early: the file is cut
    return b"".join(out), None


def _looks_like_xml(data: bytes) -> bool:
    head = data[:512].lstrip()
    return head.startswith((b"<", b"\xef\xbb\xbf<")) or head[:2] in (b"\xff\xfe", b"\xfe\xff")


class _SitemapReader:
    """What one sitemap lists, gathered as expat (or the text reader) goes."""

    def __init__(self, url: str, options: PageOptions) -> None:
        self._resolver = LinkResolver(url, options.max_url_length)
        self._max_length = options.max_url_length
        self._since = options.sitemap_since
        self.pages: dict[str, str | None] = {}  # URL -> lastmod, in document order
        self.sitemaps: dict[str, None] = {}
        self.entries = 0  # <loc>s read (kept or not)
        self.error: ErrorKind | None = None
        # The XML reader's place: the root element, the entry (url or sitemap) it is in, and
        # the text of the child it is reading, kept only while short enough to be used.
        self._root: str | None = None
        self._depth = 0
        self._entry: str | None = None
        self._field: str | None = None
        self._text: list[str] = []
        self._text_size = 0
        self._loc: str | None = None
        self._lastmod: str | None = None

    # -- XML ---------------------------------------------------------------------------------

    def read_xml(self, data: bytes) -> None:
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.StartDoctypeDeclHandler = self._refuse
        parser.EntityDeclHandler = self._refuse
        parser.ExternalEntityRefHandler = self._refuse_entity
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._characters
        parser.buffer_text = True
        view = memoryview(data)
        for start in range(0, len(data), _SLICE):
            parser.Parse(bytes(view[start : start + _SLICE]), False)
        parser.Parse(b"", True)
        if self._root is None:
            self.error = ErrorKind.PARSE

    @staticmethod
    def _refuse(*_: object) -> None:
        raise _Refused

    @staticmethod
    def _refuse_entity(*_: object) -> int:
        raise _Refused

    def _start(self, name: str, _attributes: dict[str, str]) -> None:
        self._depth += 1
        local = name.rpartition(" ")[2]
        if self._depth == 1:
            if local not in ("urlset", "sitemapindex"):
                raise _Refused  # an HTML page, a feed: not a sitemap
            self._root = local
        elif self._depth == 2:
            if local in ("url", "sitemap"):
                self._entry = local
                self._loc = self._lastmod = None
        elif self._depth == 3 and self._entry is not None and local in ("loc", "lastmod"):
            # Only an entry's own children: an <image:loc> inside <image:image> is not its URL.
            self._field = local
            self._text, self._text_size = [], 0

    def _characters(self, text: str) -> None:
        if self._field is None:
            return
        self._text_size += len(text)
        if self._text_size <= self._max_length + 256:  # room for the spaces around a <loc>
            self._text.append(text)

    def _end(self, name: str) -> None:
        self._depth -= 1
        if self._field is not None and self._depth == 2:
            long = self._text_size > self._max_length + 256
            text = "" if long else "".join(self._text).strip()
            if self._field == "loc":
                self._loc = text
            else:
                self._lastmod = text[:_MAX_LASTMOD] or None
            self._field = None
        elif self._depth == 1 and self._entry is not None:
            if self._loc is not None:
                self._take(self._loc, self._lastmod, as_sitemap=self._root == "sitemapindex")
            self._entry = None

    # -- Text --------------------------------------------------------------------------------

    def read_text(self, data: bytes) -> None:
        """Read a text sitemap: one URL per line, UTF-8 (sitemaps.org)."""
        text = data.decode("utf-8", errors="replace").removeprefix(_BOM)
        for line in text.splitlines():
            line = line.strip()
            if line:
                self._take(line, None, as_sitemap=False)

    # -- Both --------------------------------------------------------------------------------

    def _take(self, loc: str, lastmod: str | None, as_sitemap: bool) -> None:
        if self.entries >= MAX_SITEMAP_URLS:
            raise _Full
        self.entries += 1
        if not loc or len(loc) > self._max_length:
            return
        if self._since is not None and lastmod is not None:
            when = lastmod_time(lastmod)
            if when is not None and when < self._since:
                return  # unchanged since the date asked for
        url = self._resolver.resolve(loc)
        if url is None:
            return
        if as_sitemap:
            self.sitemaps[url] = None
        elif url not in self.pages:
            self.pages[url] = lastmod

    def analysis(self, error: ErrorKind | None) -> PageAnalysis:
        return PageAnalysis(
            title=None,
            links=tuple((url, False) for url in self.pages),
            link_count=self.entries,
            error=error,
            sitemaps=tuple(self.sitemaps),
            lastmods=tuple(self.pages.values()),
        )


# W3C Datetime (what sitemaps.org asks for): YYYY, YYYY-MM, YYYY-MM-DD, or a date with a time
# to the minute, second or fraction, and a zone (Z or +hh:mm).
_W3C_DATE = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")


def lastmod_time(text: str) -> float | None:
    """Return a `<lastmod>` as POSIX seconds (a time without a zone read as UTC), or None if it
    is not a W3C datetime: such an entry is taken as if it had no date."""
    text = text.strip()
    try:
        if _W3C_DATE.fullmatch(text):
            parts = [int(part) for part in text.split("-")] + [1, 1]
            when = dt.datetime(parts[0], parts[1], parts[2], tzinfo=dt.UTC)
        else:
            when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def as_since(value: object) -> float:
    """Return `--sitemap-since` as POSIX seconds: a W3C date or datetime (UTC without a zone),
    or a TOML date or datetime from a config file. Raises ValueError with a sentence for
    anything else."""
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)  # already read (a settings object copied)
    when = lastmod_time(str(value))
    if when is None:
        raise ValueError(f"{value!r} is not a date: write one as 2026-12-01 or 2026-12-01T08:00Z")
    return when


def shown_since(seconds: float) -> str:
    """Return `--sitemap-since` as `--help` and errors show it: an ISO datetime in UTC."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")
