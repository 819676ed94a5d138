"""Every file a crawl will write, checked before any of them is created or emptied.

A crawl writes several files (`--output`, `--stats-json`, `--state`, `--log-file`), and opening
one truncates or creates it. Were they checked one by one as they are opened, a typo in the last
would be found after the first was emptied: the records of an earlier crawl lost to a mistyped
directory. So all of them are checked first, without touching any, and the first that cannot be
written is reported naming its setting; two settings naming one file are refused too, since each
would overwrite the other.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from pathlib import Path

from command_kit.errors import ResourceError
from crawler.output.jsonl import STDOUT


def check_writable(files: Sequence[tuple[str, str | None]]) -> None:
    """Raise ResourceError for the first `(setting, path)` whose file could not be written.

    A path of None, `''` or `-` (stdout) writes no file. Nothing is created, opened or emptied.
    """
    claimed: dict[str, str] = {}
    for setting, path in files:
        if path in (None, "", STDOUT):
            continue
        problem = _why_unwritable(Path(path))
        if problem is not None:
            raise ResourceError(setting, f"cannot write {path}: {problem}")
        key = os.path.realpath(path)
        if key in claimed and _is_regular_or_missing(path):
            other = claimed[key]
            raise ResourceError(
                setting, f"{path} is already written by {{{other}}}", mentions=(other,)
            )
        claimed.setdefault(key, setting)


def _why_unwritable(path: Path) -> str | None:
    """Say why `path` could not be opened for writing, or None if it could."""
    if path.exists():
        if path.is_dir():
            return os.strerror(errno.EISDIR)
        return None if os.access(path, os.W_OK) else os.strerror(errno.EACCES)
    folder = path.parent
    if not folder.exists():
        return os.strerror(errno.ENOENT)
    if not folder.is_dir():
        return os.strerror(errno.ENOTDIR)
    if not os.access(folder, os.W_OK | os.X_OK):
        return os.strerror(errno.EACCES)
    return None


def _is_regular_or_missing(path: str) -> bool:
    """Say whether `path` is a regular file or none yet: a device such as /dev/null may take
    several outputs at once."""
    return not os.path.exists(path) or os.path.isfile(path)


__all__ = ["check_writable"]
