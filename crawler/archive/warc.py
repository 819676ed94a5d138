"""`WarcArchive`: every exchange of the crawl as WARC/1.1 records, written as it completes.

For each exchange a client hands over (`crawler.http.exchange`), a `response` record (the status
line and header fields as received, the payload still content-coded, `WARC-Payload-Digest`,
`WARC-IP-Address`, `WARC-Truncated` if the body was cut at `--max-bytes`) and the `request` record
concurrent to it; a payload already archived whole in this crawl is a `revisit` instead (profile
identical-payload-digest, naming the first capture), and every file starts with a `warcinfo`
record naming the crawler and its settings. warcio builds and serializes the records; each is
then compressed as a gzip member of its own (by ISA-L, Intel's deflate, which writes the same
gzip format five times faster than zlib), the layout every WARC reader expects.

An exchange is written where the client hands it over, before its response reaches the core, under
a lock (the `threads` strategy's clients hand them over at once). A thread of its own was tried and
measured: in a default crawl of 5,000 mock pages on two cores, handing each page to it added about
650 µs of CPU per page, where writing inline adds 338 (benchmarks/results/warc.md), the switching
between it and the event loop costing more than the writing. Inline, nothing waits to be
written: a body is held only while its records are built, and a disk slower than the network
slows the crawl instead of filling memory. So a record in the output, or in the state file,
always has its exchange in the archive, and a write the disk refuses part-way is cut back, so the
file only ever holds whole records.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import threading
from datetime import UTC, datetime
from typing import Any

from isal import isal_zlib

from command_kit.errors import ResourceError
from crawler.archive.archive_options import ArchiveOptions
from crawler.archive.files import cut_torn_tail, existing, numbered, responses_in, serial_of
from crawler.http.exchange import Exchange
from crawler.output.aborts import CrawlAborted, cannot_write

# ISA-L's default level: on HTML it compresses as zlib's level 6 does within 3%, at five times the
# speed (benchmarks/results/warc.md), and like zlib it releases the GIL while it works.
COMPRESSION_LEVEL = 2


class WarcArchive:
    """The crawl's archive: its files, and the payloads it holds."""

    def __init__(self, options: ArchiveOptions, resume: bool = False) -> None:
        from warcio.recordbuilder import RecordBuilder
        from warcio.warcwriter import WARCWriter

        self.options = options
        self.resume = resume
        self._records = RecordBuilder(warc_version="1.1")
        self._serializer = WARCWriter(io.BytesIO(), gzip=False, warc_version="1.1")
        # The first whole capture of each payload: what a revisit refers to.
        self._archived: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()
        self._failure: CrawlAborted | None = None
        self._file: io.FileIO | None = None
        self._name = ""
        self._serial = 0
        self.files: list[str] = []
        self.counts = {"response": 0, "revisit": 0, "request": 0, "warcinfo": 0}
        self.bytes = 0
        self.cut_bytes = 0  # of a torn last record, cut when a crawl resumed

    def open(self) -> None:
        """Open the archive (a resumed crawl's as it was left, its torn last record cut; a new
        crawl's emptied of an earlier crawl's files)."""
        rotating = self.options.max_size is not None
        found = existing(self.options.path, rotating)
        try:
            if self.resume and found:
                self.cut_bytes = cut_torn_tail(found[-1])
                for digest, uri, date in responses_in(found):
                    self._archived.setdefault(digest, (uri, date))
                self._serial = serial_of(found[-1]) if rotating else 0
                self.files = list(found)
                self._open_file(found[-1])
            else:
                for stale in found:
                    os.remove(stale)
                self._open_file(self._name_of(0), new=True)
        except OSError as error:
            name = self._name or self.options.path
            raise ResourceError("warc", f"cannot write {name}: {error.strerror}") from None

    def add(self, exchange: Exchange) -> None:
        """Write an exchange's records; from any thread. Never raises: once a write has failed
        (a full disk), exchanges are dropped, and `drain` reports it."""
        with self._lock:
            if self._failure is not None:
                return
            try:
                self._write(exchange)
            except OSError as error:
                self._failure = cannot_write(self._name, error)

    @property
    def failed(self) -> bool:
        """Say whether a write was refused (and exchanges dropped since)."""
        return self._failure is not None

    def drain(self) -> None:
        """Raise CrawlAborted if an exchange could not be written: the crawl calls it before each
        block of records, which must not go out without their exchanges."""
        with self._lock:
            if self._failure is not None:
                raise self._failure

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            if self._file is not None:
                try:
                    self._file.close()
                except OSError as error:
                    self._failure = self._failure or cannot_write(self._name, error)
                self._file = None

    def summary(self) -> dict[str, Any]:
        """Return the summary's `warc` entry: the files, and the records written to them."""
        entry: dict[str, Any] = {"files": self.files, "records": dict(self.counts)}
        entry["bytes"] = self.bytes
        if self.cut_bytes:
            entry["torn_bytes_cut"] = self.cut_bytes
        return entry

    def _name_of(self, serial: int) -> str:
        if self.options.max_size is None:
            return self.options.path
        return numbered(self.options.path, serial)

    def _open_file(self, name: str, new: bool = False) -> None:
        """Open `name` to append to (a new file, emptied, starts with its warcinfo record)."""
        # Unbuffered: each exchange is one write of whole members, straight to the system.
        self._file = io.FileIO(name, "w" if new else "a")
        self._name = name
        if name not in self.files:
            self.files.append(name)
        if new or self._file.tell() == 0:
            info = self._records.create_warcinfo_record(os.path.basename(name), self.options.info)
            self._put([self._member(info)])
            self.counts["warcinfo"] += 1

    def _write(self, exchange: Exchange) -> None:
        """Write one exchange's records, and start the next file if this one is full."""
        from warcio.statusandheaders import StatusAndHeaders
        from warcio.timeutils import datetime_to_iso_date

        date = datetime_to_iso_date(
            datetime.fromtimestamp(exchange.started_at, UTC).replace(tzinfo=None), use_micros=True
        )
        digest = "sha1:" + base64.b32encode(hashlib.sha1(exchange.body).digest()).decode()
        head = StatusAndHeaders(
            exchange.status_line, list(exchange.response_fields), protocol=exchange.protocol
        )
        fields = {"WARC-Date": date}
        if exchange.ip:
            fields["WARC-IP-Address"] = exchange.ip
        earlier = self._archived.get(digest) if exchange.body and not exchange.truncated else None
        if earlier is not None:
            response = self._records.create_revisit_record(
                exchange.url, digest, earlier[0], earlier[1], head, fields
            )
        else:
            fields["WARC-Payload-Digest"] = digest
            if exchange.truncated:
                fields["WARC-Truncated"] = exchange.truncated
            response = self._records.create_warc_record(
                exchange.url,
                "response",
                payload=io.BytesIO(exchange.body),
                length=len(exchange.body),
                http_headers=head,
                warc_headers_dict=fields,
            )
        request = self._records.create_warc_record(
            exchange.url,
            "request",
            http_headers=StatusAndHeaders(
                f"{exchange.request_line} {exchange.protocol}",
                list(exchange.request_fields),
                is_http_request=True,
            ),
            warc_headers_dict={
                "WARC-Date": date,
                "WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID"),
            },
        )
        self._put([self._member(response), self._member(request)])
        if earlier is None and exchange.body and not exchange.truncated:
            self._archived[digest] = (exchange.url, date)  # once it is in the file
        self.counts["revisit" if earlier is not None else "response"] += 1
        self.counts["request"] += 1
        limit = self.options.max_size
        if limit is not None and self._file is not None and self._file.tell() >= limit:
            self._file.close()
            self._serial += 1
            self._open_file(self._name_of(self._serial), new=True)

    def _member(self, record: Any) -> bytes:
        """Return one record as a gzip member of its own."""
        buffer = io.BytesIO()
        self._serializer.out = buffer
        self._serializer.write_record(record)
        return isal_zlib.compress(
            buffer.getvalue(), COMPRESSION_LEVEL, wbits=isal_zlib.MAX_WBITS | 16
        )

    def _put(self, members: list[bytes]) -> None:
        """Write whole members, straight to the system; a write the disk refuses part-way is cut
        back to where it began, so the file only ever holds whole records."""
        assert self._file is not None
        data = memoryview(b"".join(members))
        start = self._file.tell()
        try:
            done = 0
            while done < len(data):
                done += self._file.write(data[done:]) or 0
        except OSError:
            with contextlib.suppress(OSError):
                self._file.truncate(start)
                self._file.seek(start)
            raise
        self.bytes += len(data)


__all__ = ["WarcArchive"]
