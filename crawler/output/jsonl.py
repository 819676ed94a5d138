"""Where records go: JSON Lines, one record a line, written in whole lines only.

Records are buffered and written in blocks, so a crawl pays one write per few hundred records rather
than one per page. Every block ends on a line boundary, and a block the disk refuses part-way (a
full disk) is cut back to where it began, so the file only ever holds whole records. A durable crawl
passes `before_write`, which commits its state file before each block goes out: the output is always
a prefix of what the state file holds, and a block whose commit failed is never written.

The blocking strategies write from their own threads; the async ones hand each block to a thread of
the loop's default executor, so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from command_kit.errors import ResourceError
from crawler.core.records import Record
from crawler.output.aborts import CrawlAborted, cannot_write

STDOUT = "-"
# Exit status when the reader of the records went away: a shell's status for death by SIGPIPE.
EXIT_OUTPUT_CLOSED = 128 + signal.SIGPIPE
FLUSH_LINES = 256
FLUSH_SECONDS = 1.0  # a slow crawl still shows its records within a second


def silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush at exit meets no closed pipe
    (Python's own advice for SIGPIPE, in the `signal` module's documentation)."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def prepare_output(path: str, append: bool = False, setting: str = "output") -> None:
    """Check that `path` can be written (creating or emptying it) before the crawl starts;
    `setting` is the one an error names."""
    if path in ("", STDOUT):
        return
    target = Path(path)
    try:
        with target.open("a" if append else "w", encoding="utf-8"):
            pass
    except OSError as error:
        raise ResourceError(setting, f"cannot write {path}: {error.strerror}") from None


def is_regular_file(path: str) -> bool:
    """Say whether `path` is (or would be created as) a regular file, not a device or a pipe."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return True
    except OSError:
        return False


class _Lines:
    """Records waiting to be written, and when a block of them is due; with `on_records`, the
    records themselves too, to hand on once their block is written."""

    def __init__(
        self,
        before_write: Callable[[], None] | None = None,
        on_records: Callable[[list[Record]], None] | None = None,
    ) -> None:
        self.lines: list[str] = []
        self.records: list[Record] = []
        self.flushed_at = time.monotonic()
        self._before_write = before_write
        self.on_records = on_records

    def add(self, records: list[Record]) -> bool:
        """Queue records; say whether a block is due (enough lines, or a second passed)."""
        self.lines.extend(record.to_json() + "\n" for record in records)
        if self.on_records is not None:
            self.records.extend(records)
        due = len(self.lines) >= FLUSH_LINES or time.monotonic() - self.flushed_at >= FLUSH_SECONDS
        return bool(self.lines) and due

    def written(self, records: list[Record]) -> None:
        """Hand on the records of a block just written."""
        if self.on_records is not None and records:
            self.on_records(records)

    def take(self) -> tuple[bytes, list[Record]]:
        """Return the queued lines as one block (and, with `on_records`, their records), and
        start a new one.

        `before_write` runs first: if it fails (a state commit refused), the lines stay queued and
        the exception propagates, so no record the state file lacks is ever handed out. It is
        synchronous, so no record is added between it and the take.
        """
        if self._before_write is not None:
            self._before_write()
        block, self.lines = "".join(self.lines), []
        records, self.records = self.records, []
        self.flushed_at = time.monotonic()
        return block.encode("utf-8"), records


class _BlockFile:
    """The output file (or stdout, or nothing), written a block of whole lines at a time."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file: BinaryIO | None = None
        self._regular = False
        # A stdout without bytes underneath (a test runner's capture) is written as text.
        self._text_stdout = path == STDOUT and not hasattr(sys.stdout, "buffer")
        if path == STDOUT and not self._text_stdout:
            self._file = sys.stdout.buffer
        elif path:
            self._regular = is_regular_file(path)
            try:
                self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - closed by close()
            except OSError as error:
                raise cannot_write(path, error) from None
        self.name = "stdout" if path == STDOUT else path

    def write(self, block: bytes) -> None:
        """Write one block; on failure, cut the file back to where the block began and raise."""
        if not block:
            return
        if self._text_stdout:
            sys.stdout.write(block.decode("utf-8"))
            sys.stdout.flush()
            return
        file = self._file
        if file is None:
            return
        start = file.tell() if self._regular else 0
        try:
            view = memoryview(block)
            while view:
                written = file.write(view)
                if written is None:  # a non-blocking stdout that is full: wait and go on
                    time.sleep(0.01)
                    continue
                view = view[written:]
            file.flush()
        except OSError as error:
            if self._regular:
                with contextlib.suppress(OSError):
                    file.truncate(start)  # whole lines only: the torn block goes
            raise cannot_write(self.name, error) from None

    def close(self) -> None:
        """Make the file durable (regular files only: devices and pipes cannot be synced)."""
        file, self._file = self._file, None
        if file is None or self.path == STDOUT:
            return
        try:
            if self._regular:
                os.fsync(file.fileno())
        except OSError as error:
            raise cannot_write(self.name, error) from None
        finally:
            file.close()


class JsonlSink:
    """A buffered JSON Lines writer for the blocking strategies.

    After a failure (`CrawlAborted`) it writes nothing more: the caller stops the crawl.
    """

    def __init__(
        self,
        path: str,
        before_write: Callable[[], None] | None = None,
        on_records: Callable[[list[Record]], None] | None = None,
    ) -> None:
        self.path = path
        self._pending = _Lines(before_write, on_records)
        self._file = _BlockFile(path)
        self.failure: CrawlAborted | None = None

    def add(self, records: list[Record]) -> None:
        """Queue records; write a block once one is due."""
        if self._pending.add(records):
            self.flush()

    def flush(self) -> None:
        """Write every queued record."""
        if self.failure is not None:
            raise self.failure
        try:
            block, records = self._pending.take()
            self._file.write(block)
            self._pending.written(records)
        except CrawlAborted as error:
            self.failure = error
            raise

    def close(self) -> None:
        """Write what is left and close the file; after a failure, only close it."""
        try:
            if self.failure is None:
                self.flush()
        finally:
            self._file.close()


class AsyncJsonlSink:
    """A buffered JSON Lines writer for the event loop: each block is written in a thread."""

    def __init__(
        self,
        path: str,
        before_write: Callable[[], None] | None = None,
        on_records: Callable[[list[Record]], None] | None = None,
    ) -> None:
        self.path = path
        self._pending = _Lines(before_write, on_records)
        self._file: _BlockFile | None = None
        self.failure: CrawlAborted | None = None

    async def open(self) -> None:
        """Open the output file for appending."""
        self._file = _BlockFile(self.path)

    def add(self, records: list[Record]) -> bool:
        """Queue records; return True when a block is due to be flushed."""
        return self._pending.add(records)

    async def flush(self) -> None:
        """Write every queued record (blocks are written one at a time, in order)."""
        if self.failure is not None:
            raise self.failure
        try:
            block, records = self._pending.take()
            if block and self._file is not None:
                await asyncio.get_running_loop().run_in_executor(None, self._file.write, block)
            self._pending.written(records)
        except CrawlAborted as error:
            self.failure = error
            raise

    async def close(self) -> None:
        """Write what is left and close the file; after a failure, only close it."""
        try:
            if self.failure is None:
                await self.flush()
        finally:
            if self._file is not None:
                file, self._file = self._file, None
                await asyncio.get_running_loop().run_in_executor(None, file.close)
