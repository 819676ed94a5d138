"""The one way a crawl ends early on its own: a file it must write refuses.

A crawl goes on through any page, server or network failure (those become records), but not
through a full disk or an unwritable state file: going on would fetch pages whose records cannot
be kept. `CrawlAborted` carries one line for the user (which file, and why); the strategies stop at
once when they meet it, and the CLI prints it and exits non-zero.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


class CrawlAborted(Exception):
    """The crawl cannot go on without losing records; the message is one line for the user."""


class OutputClosed(CrawlAborted):
    """The reader of the records went away (`crawler crawl -o - | head -1`): nothing is wrong,
    nobody wants more. The crawl stops quietly, as `yes | head -1` does."""


def cannot_write(path: str | Path, error: BaseException) -> CrawlAborted:
    """Return the error for a file that refused a write, naming the file and the cause."""
    if isinstance(error, OSError) and error.errno == errno.EPIPE:
        return OutputClosed(f"{path}: its reader has gone")
    if isinstance(error, OSError) and error.errno is not None:
        cause = os.strerror(error.errno)
    else:
        cause = str(error) or type(error).__name__
    return CrawlAborted(f"cannot write {path}: {cause}")
