"""Measure how long the `crawler` command takes to start, beside the interpreter's own floor.

Each command is a fresh process, run `--repeat` times, alternated so that a busy moment of the
machine falls on every command alike; the median wall time is reported. `python -c pass` is the
floor no command can beat, and `python -c "import aiohttp"` shows what a start-up that imported the
HTTP stack would cost. Also lists the imports of `crawler --help` that take longest, from
`python -X importtime`.

Run: `.venv/bin/python benchmarks/startup.py [--repeat 20]`; writes results/startup.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import CHILD_ENVIRONMENT, command_line, git_revision, machine, spread, write_results

CRAWLER = str(Path(sys.executable).with_name("crawler"))
COMMANDS = {
    "crawler --help": [CRAWLER, "--help"],
    "crawler crawl --help": [CRAWLER, "crawl", "--help"],
    "python -c pass": [sys.executable, "-c", "pass"],
    'python -c "import aiohttp"': [sys.executable, "-c", "import aiohttp"],
}
GOAL_MS = 150.0  # `crawler --help`, median
TOP_IMPORTS = 10


def wall_seconds(command: list[str]) -> float:
    """Run `command` once, its output discarded; return its wall time in seconds."""
    started = time.perf_counter()
    subprocess.run(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=CHILD_ENVIRONMENT,
        check=True,
    )
    return time.perf_counter() - started


def import_times(command: list[str]) -> dict[str, float]:
    """Return each module's cumulative import time in ms, from one `python -X importtime` run."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *command],
        capture_output=True,
        text=True,
        env=CHILD_ENVIRONMENT,
        check=True,
    )
    times = {}
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "cumulative" not in line:
            _own, cumulative, name = line.removeprefix("import time:").split("|")
            times[name.strip()] = int(cumulative) / 1000
    return times


def slowest_imports(command: list[str], count: int, runs: int) -> list[dict[str, Any]]:
    """Return the `count` imports with the largest median cumulative time over `runs` runs."""
    samples = [import_times(command) for _ in range(runs)]
    medians = {name: statistics.median(run[name] for run in samples) for name in samples[0]}
    slowest = sorted(medians.items(), key=lambda item: item[1], reverse=True)[:count]
    return [{"module": name, "cumulative_ms": round(ms, 1)} for name, ms in slowest]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    arguments = parser.parse_args()
    for command in COMMANDS.values():
        wall_seconds(command)  # warm-up: the files in the page cache, the .pyc files written
    load_before = os.getloadavg()[0]
    runs: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(arguments.repeat):
        for name, command in COMMANDS.items():
            runs[name].append(wall_seconds(command) * 1000)
    load = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    result = {
        "benchmark": "startup",
        "command": command_line(),
        "revision": git_revision(),
        "machine": machine(),
        "repeat": arguments.repeat,
        "load_average_1min": load,  # before and after: other work on the machine slows every run
        "wall_ms": {
            name: {key: round(value, 1) for key, value in spread(values).items()}
            for name, values in runs.items()
        },
        "goal_ms": {"crawler --help": GOAL_MS},
        "slowest_imports_of_crawler_help": slowest_imports([CRAWLER, "--help"], TOP_IMPORTS, 5),
    }
    write_results("startup", result, markdown(result))
    print(markdown(result))


def markdown(result: dict[str, Any]) -> str:
    wall, load = result["wall_ms"], result["load_average_1min"]
    floor = wall["python -c pass"]["median"]
    rows = "\n".join(
        f"| `{name}` | {entry['median']:.0f} | {entry['min']:.0f}-{entry['max']:.0f}"
        f" | {entry['median'] - floor:.0f} |"
        for name, entry in wall.items()
    )
    imports = "\n".join(
        f"| `{entry['module']}` | {entry['cumulative_ms']:.1f} |"
        for entry in result["slowest_imports_of_crawler_help"]
    )
    help_ms = wall["crawler --help"]["median"]
    met = "met" if help_ms <= GOAL_MS else "missed"
    facts = result["machine"]
    return f"""# Start-up of the `crawler` command

- Command: `{result["command"]}` (revision {result["revision"]})
- Machine: {facts["cores"]} cores, {facts["cpu"]}, Python {facts["python"]}, {facts["date"]}
- Each command a fresh process, alternated, {result["repeat"]} runs each after one warm-up (which
  writes the bytecode cache, as the first run of an installed command does); wall time from start
  to exit, medians.
- Load average (1 min): {load[0]} before the runs, {load[1]} after; other work on the machine
  lengthens every command alike.

| command | median ms | min-max ms | above the floor, ms |
|---|---|---|---|
{rows}

`crawler --help`: **{help_ms:.0f} ms** (goal at most {GOAL_MS:.0f} ms: {met}). It imports click, the
settings and the strategies' registry (which loads the crawl core), not the HTTP clients, the mock
server, rich, the charts or the state file: those load when a command needs them
(`tests/test_imports.py` checks it). Bound by one core: start-up is one process importing modules.

Slowest imports of `crawler --help` (`python -X importtime`, cumulative: a module's own time plus
its imports', median of 5 runs):

| module | cumulative ms |
|---|---|
{imports}
"""


if __name__ == "__main__":
    main()
