"""`crawler export`: a crawl's records, rebuilt from its state file."""

from __future__ import annotations

import sys
from pathlib import Path

from crawler.output.aborts import OutputClosed
from crawler.output.jsonl import STDOUT, prepare_output
from crawler.state.store import StateStore


def export_records(state: Path, output: str) -> int:
    """Write every record in `state` to `output` in crawl order; return how many.

    Raises `OutputClosed` when the reader of stdout goes away (`crawler export x.db | head`).
    """
    lines = StateStore.lines_of(state)
    first = next(lines, None)  # a file that is not a state file is refused before any output
    prepare_output(output)
    count = 0
    file = sys.stdout if output == STDOUT else open(output, "w", encoding="utf-8")  # noqa: SIM115
    try:
        if first is not None:
            file.write(first + "\n")
            count = 1
        for line in lines:
            file.write(line + "\n")
            count += 1
        file.flush()
    except BrokenPipeError:
        raise OutputClosed("stdout: its reader has gone") from None
    finally:
        if file is not sys.stdout:
            file.close()
    return count
