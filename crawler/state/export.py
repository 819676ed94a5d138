"""`crawler export`: a crawl's records, rebuilt from its state file."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from crawl_basics.errors import SettingsError
from crawler.output import STDOUT, prepare_output
from crawler.state.store import SCHEMA_VERSION, StateStore


def export_records(state: Path, output: str) -> int:
    """Write every record in `state` to `output` in crawl order; return how many."""
    meta = StateStore.read_meta(state)
    if meta.get("schema") != SCHEMA_VERSION:
        raise SettingsError("state", f"{state} is not a crawl state file")
    prepare_output(output)
    # Read-only: exporting while the crawl runs (or after it crashed) changes nothing.
    db = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    count = 0
    try:
        file = sys.stdout if output == STDOUT else open(output, "w", encoding="utf-8")  # noqa: SIM115
        try:
            for (line,) in db.execute("SELECT line FROM records ORDER BY number"):
                file.write(line + "\n")
                count += 1
        finally:
            if file is not sys.stdout:
                file.close()
    finally:
        db.close()
    return count
