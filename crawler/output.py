"""Where records go: JSON Lines, one record a line, written in whole lines only.

Records are buffered and written in blocks, so a crawl pays one write per few hundred records rather
than one per page; every block ends on a line boundary, so an interrupted crawl leaves a valid file.
A durable crawl passes `before_write`, which commits its state file before each block goes out.
The async strategies write through aiofiles (the event loop never blocks on the disk), the others
through a plain file.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiofiles

from crawler.core.records import Record
from mock_server.settings import SettingsError

STDOUT = "-"
FLUSH_LINES = 256
FLUSH_SECONDS = 1.0  # a slow crawl still shows its records within a second


def prepare_output(path: str, append: bool = False) -> None:
    """Check that `path` can be written (creating or emptying it) before the crawl starts."""
    if path in ("", STDOUT):
        return
    target = Path(path)
    try:
        with target.open("a" if append else "w", encoding="utf-8"):
            pass
    except OSError as error:
        raise SettingsError("output", f"cannot write {path}: {error.strerror}") from None


class _Lines:
    """Records waiting to be written, and when a block of them is due.

    `before_write`, if given, runs as each block is taken: a durable crawl commits its state
    there. It is synchronous, so no record is added between it and the take.
    """

    def __init__(self, before_write: Callable[[], None] | None = None) -> None:
        self.lines: list[str] = []
        self.flushed_at = time.monotonic()
        self._before_write = before_write

    def add(self, records: list[Record]) -> bool:
        """Queue records; say whether a block is due (enough lines, or a second passed)."""
        self.lines.extend(record.to_json() + "\n" for record in records)
        due = len(self.lines) >= FLUSH_LINES or time.monotonic() - self.flushed_at >= FLUSH_SECONDS
        return bool(self.lines) and due

    def take(self) -> str:
        """Return the queued lines as one block, and start a new one."""
        block, self.lines = "".join(self.lines), []
        self.flushed_at = time.monotonic()
        if self._before_write is not None:
            self._before_write()
        return block


class JsonlSink:
    """A buffered JSON Lines writer for blocking strategies (file, stdout, or nowhere)."""

    def __init__(self, path: str, before_write: Callable[[], None] | None = None) -> None:
        self.path = path
        self._pending = _Lines(before_write)
        self._file: Any = None
        if path == STDOUT:
            self._file = sys.stdout
        elif path:
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def add(self, records: list[Record]) -> None:
        """Queue records; write a block once one is due."""
        if self._pending.add(records):
            self.flush()

    def flush(self) -> None:
        """Write every queued record."""
        block = self._pending.take()
        if block and self._file is not None:
            self._file.write(block)
            self._file.flush()

    def close(self) -> None:
        """Write what is left and close the file."""
        self.flush()
        if self._file is not None and self._file is not sys.stdout:
            os.fsync(self._file.fileno())
            self._file.close()
        self._file = None


class AsyncJsonlSink:
    """A buffered JSON Lines writer for the event loop: the disk writes run in aiofiles' threads."""

    def __init__(self, path: str, before_write: Callable[[], None] | None = None) -> None:
        self.path = path
        self._pending = _Lines(before_write)
        self._file: Any = None

    async def open(self) -> None:
        """Open the output file for appending."""
        if self.path == STDOUT:
            self._file = aiofiles.stdout
        elif self.path:
            self._file = await aiofiles.open(self.path, "a", encoding="utf-8")

    def add(self, records: list[Record]) -> bool:
        """Queue records; return True when a block is due to be flushed."""
        return self._pending.add(records)

    async def flush(self) -> None:
        """Write every queued record."""
        block = self._pending.take()
        if block and self._file is not None:
            await self._file.write(block)
            await self._file.flush()

    async def close(self) -> None:
        """Write what is left and close the file."""
        await self.flush()
        if self._file is not None and self._file is not aiofiles.stdout:
            await self._file.close()
        self._file = None
