"""One crawl per state file and per output file: an exclusive lock held for the crawl's life.

Two crawls resuming one state file would fetch the same URLs twice and interleave their records in
one output. Each crawl therefore takes an `flock` on its state file and its output before touching
either. The lock is the kernel's: it goes with the process, however the process dies, so a crawl
killed with SIGKILL never leaves a stale lock behind. (flock is independent of the POSIX record
locks SQLite takes on the same file, so the two never interfere.)

A refused crawl is told who holds the lock, read from /proc/locks where the system has it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from command_kit.errors import ResourceError
from crawler.output.jsonl import STDOUT, is_regular_file

PROC_LOCKS = Path("/proc/locks")


@contextlib.contextmanager
def exclusive(path: str | Path, setting: str) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the life of the block.

    Raises ResourceError naming the holder when another process has it. Devices, pipes and
    stdout are not locked: nothing can be mixed up in a stream no one reads back.
    """
    name = str(path)
    if name in ("", STDOUT) or not is_regular_file(name):
        yield
        return
    try:
        fd = os.open(name, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise ResourceError(setting, f"cannot write {name}: {error.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ResourceError(
                setting, f"{name} is in use by another crawl ({holder_of(fd)})"
            ) from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def holder_of(fd: int) -> str:
    """Describe the process holding an flock on the file open as `fd` ("pid 123: crawler ...")."""
    info = os.fstat(fd)
    device = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    try:
        lines = PROC_LOCKS.read_text().splitlines()
    except OSError:
        return "another process"
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 2922 fe:00:2146827 0 EOF"
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == device:
            pid = fields[4]
            return f"pid {pid}{_command_of(pid)}"
    return "another process"


def _command_of(pid: str) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    command = " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    return f": {command[:120]}" if command else ""
