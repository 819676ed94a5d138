"""The files of one archive: their names, a torn last record cut, and what they already hold.

`--warc crawl.warc.gz` alone is one file. With `--warc-max-size`, a record that takes a file past
the size starts the next, numbered as Heritrix and browsertrix number theirs:
`crawl-00000.warc.gz`, `crawl-00001.warc.gz`, ... Each record is a gzip member of its own, so a
file is valid up to the end of its last complete member, and a crawl killed mid-write leaves at
most one torn member at the end of its last file: `cut_torn_tail` finds where the last complete
member ends and cuts the file there, as the JSON Lines output cuts a torn line.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

from crawler.archive.archive_options import SUFFIX

READ_CHUNK = 1 << 20


def numbered(path: str, serial: int) -> str:
    """Return the name of a rotated archive's file number `serial`."""
    return f"{path[: -len(SUFFIX)]}-{serial:05d}{SUFFIX}"


def existing(path: str, rotating: bool) -> list[str]:
    """Return the archive's files already on disk, in order."""
    if not rotating:
        return [path] if os.path.exists(path) else []
    stem = Path(path[: -len(SUFFIX)])
    pattern = re.compile(re.escape(stem.name) + r"-(\d{5})" + re.escape(SUFFIX))
    found = []
    folder = stem.parent
    if folder.is_dir():
        for entry in folder.iterdir():
            match = pattern.fullmatch(entry.name)
            if match:
                found.append((int(match.group(1)), str(folder / entry.name)))
    return [name for _, name in sorted(found)]


def serial_of(path: str) -> int:
    """Return the number of a rotated archive's file."""
    return int(path[-len(SUFFIX) - 5 : -len(SUFFIX)])


def whole_members_end(path: str) -> int:
    """Return the offset where the file's last complete gzip member ends (0 if none is)."""
    end = 0  # just past the last complete member
    start_of_pending = 0
    member = None
    with open(path, "rb") as file:
        pending = b""
        while True:
            if not pending:
                pending = file.read(READ_CHUNK)
                if not pending:
                    return end
            if member is None:
                member = zlib.decompressobj(zlib.MAX_WBITS | 16)
            data = pending
            try:
                while data and not member.eof:
                    member.decompress(data, READ_CHUNK)  # a megabyte out at a time, discarded
                    data = member.unconsumed_tail
            except zlib.error:
                return end  # not gzip from here on
            if member.eof:
                start_of_pending += len(pending) - len(member.unused_data)
                end = start_of_pending
                pending, member = member.unused_data, None
            else:
                start_of_pending += len(pending)
                pending = b""


def cut_torn_tail(path: str) -> int:
    """Cut whatever follows the last complete record of `path`; return how many bytes went."""
    size = os.path.getsize(path)
    end = whole_members_end(path)
    if end < size:
        with open(path, "r+b") as file:
            file.truncate(end)
    return size - end


def responses_in(paths: list[str]) -> Iterator[tuple[str, str, str]]:
    """Yield (payload digest, URL, date) of every whole response record in `paths`: what a
    resumed crawl may write revisits against."""
    from warcio.archiveiterator import ArchiveIterator

    for path in paths:
        with open(path, "rb") as file:
            for record in ArchiveIterator(file):
                headers = record.rec_headers
                if record.rec_type != "response" or headers.get_header("WARC-Truncated"):
                    continue
                digest = headers.get_header("WARC-Payload-Digest")
                if digest:
                    yield (
                        digest,
                        headers.get_header("WARC-Target-URI"),
                        headers.get_header("WARC-Date"),
                    )


__all__ = ["cut_torn_tail", "existing", "numbered", "responses_in", "serial_of"]
