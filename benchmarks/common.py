"""Shared helpers of the benchmark scripts: machine facts and results files."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crawler.compare.drive import machine_facts

RESULTS = Path(__file__).parent / "results"
# What a measured child process runs with: this environment, but with bytecode cached, as after
# the first run of any installed command (a shell that sets PYTHONDONTWRITEBYTECODE would make
# every Python start-up compile its modules again).
CHILD_ENVIRONMENT = {
    name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"
}


def machine() -> dict[str, Any]:
    """Return the facts a measurement depends on (the same `crawler compare` records), dated."""
    return {**machine_facts(), "date": datetime.now(UTC).isoformat(timespec="seconds")}


def spread(values: list[float]) -> dict[str, float]:
    """Return median, min and max of repeated measurements."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def command_line() -> str:
    """Return the command that ran this benchmark, as a user would type it."""
    script = Path(sys.argv[0]).as_posix()
    return " ".join([".venv/bin/python", script, *sys.argv[1:]])


def write_results(name: str, result: dict[str, Any], markdown: str) -> Path:
    """Write `results/NAME.json` and `results/NAME.md`; return the JSON path."""
    RESULTS.mkdir(exist_ok=True)
    json_path = RESULTS / f"{name}.json"
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown)
    return json_path


def git_revision() -> str:
    """Return the commit the measurement ran on."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
