"""Bring a resumed crawl's JSON Lines output back in line with its state file.

Records reach the output only after the state file has committed them, so after a crash the output
holds a prefix of the state's records, perhaps with a torn last line. Resuming cuts the torn line
and appends the records the output is missing; an output that is not such a prefix (another crawl's
file, an edited one) is refused rather than mixed up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import BinaryIO

from command_kit.errors import ResourceError
from crawler.output.jsonl import STDOUT
from crawler.state.store import StateStore

CHUNK = 1 << 20


def reconcile_output(path: str, store: StateStore) -> int:
    """Repair `path` and append the records it lacks; return how many were appended."""
    if path in ("", STDOUT):
        return 0  # nothing to repair: `crawler export` rebuilds a full file from the state
    target = Path(path)
    try:
        with target.open("a+b") as file:
            written, end = _complete_lines(file)
            file.truncate(end)  # a line torn by the crash; its record is appended again below
    except OSError as error:
        raise ResourceError("output", f"cannot write {path}: {error.strerror}") from None
    if written > store.records or (written and _last_url(target, end) != store.record_url(written)):
        raise ResourceError(
            "output",
            f"{path} does not hold the records of the crawl in {store.path}; choose another"
            " --output, or rebuild it with `crawler export`",
        )
    appended = 0
    with target.open("a", encoding="utf-8") as file:
        for _, _, line in store.record_lines(after=written):
            file.write(line + "\n")
            appended += 1
    return appended


def _complete_lines(file: BinaryIO) -> tuple[int, int]:
    """Return how many whole lines the file holds, and the offset just after the last one."""
    file.seek(0)
    lines, end, offset = 0, 0, 0
    while chunk := file.read(CHUNK):
        count = chunk.count(b"\n")
        if count:
            lines += count
            end = offset + chunk.rindex(b"\n") + 1
        offset += len(chunk)
    return lines, end


def _last_url(target: Path, end: int) -> str | None:
    """Return the URL of the last whole line before offset `end`, or None if it is not a record."""
    with target.open("rb") as file:
        start = max(0, end - CHUNK)
        file.seek(start)
        tail = file.read(end - start)
    last = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    try:
        url = json.loads(last)["url"]
    except (ValueError, KeyError, TypeError):
        return None
    return url if isinstance(url, str) else None
