"""Measure how many pages per second one mock-server worker serves at zero latency.

The mock server must never be what limits a crawl measurement, so this drives it with wrk (a C
load generator, Debian package `wrk`) from another process, cycling through every page of a
1,000-page site of about 4 KB pages, and writes `results/server_throughput.{json,md}`.

Run: `.venv/bin/python benchmarks/server_throughput.py [--workers 1] [--repeat 5] [--seconds 5]`
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import machine

from mock_server import MockServerProcess, Site, load_settings

RESULTS = Path(__file__).parent / "results"
_LUA = """
paths = {%s}
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
"""


def run_wrk(url: str, script: Path, seconds: int, connections: int) -> tuple[float, float]:
    """Return (requests/s, mean bytes per response) from one wrk run."""
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    transfer = re.search(r"([\d.]+)([KMG]?B) read", output)
    scale = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}[transfer.group(2)]  # type: ignore[union-attr]
    return rate, float(transfer.group(1)) * scale / requests  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    arguments = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("server_throughput: wrk is not installed (Debian: apt-get install wrk)")
    settings = load_settings(
        overrides={"pages": 1000, "page_size": "4KB", "workers": arguments.workers}
    )
    with MockServerProcess(settings) as server, tempfile.TemporaryDirectory() as scratch:
        site = Site(settings.site, server.origins)
        paths = ", ".join(f'"{site.page_path(page)}"' for page in range(settings.site.pages))
        script = Path(scratch) / "pages.lua"
        script.write_text(_LUA % paths)
        run_wrk(
            server.base_url, script, 2, arguments.connections
        )  # warm-up: render every page once
        runs = [
            run_wrk(server.base_url, script, arguments.seconds, arguments.connections)
            for _ in range(arguments.repeat)
        ]
    rates = [rate for rate, _ in runs]
    result = {
        "benchmark": "server_throughput",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "workers": arguments.workers,
        "connections": arguments.connections,
        "seconds_per_run": arguments.seconds,
        "pages_per_s": {
            "median": statistics.median(rates),
            "min": min(rates),
            "max": max(rates),
            "runs": rates,
        },
        "mean_response_bytes": round(statistics.mean(size for _, size in runs)),
        "goal_pages_per_s": 5000,
    }
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"server_throughput_w{arguments.workers}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    stem.with_suffix(".md").write_text(_markdown(result, " ".join(sys.argv[1:])))
    print(json.dumps(result["pages_per_s"]))


def _markdown(result: dict[str, object], arguments: str) -> str:
    rates = result["pages_per_s"]
    assert isinstance(rates, dict)
    return (
        f"# Mock server throughput ({result['workers']} worker)\n\n"
        f"- Command: `.venv/bin/python benchmarks/server_throughput.py {arguments}`\n"
        f"- Date: {result['date']}; machine: {machine_line(result['machine'])}\n"
        f"- Load: wrk, 1 thread, {result['connections']} connections, cycling through 1,000 pages "
        f"of {result['mean_response_bytes']} bytes (with headers), zero latency\n\n"
        f"| median pages/s | min | max | goal |\n|---|---|---|---|\n"
        f"| {rates['median']:,.0f} | {rates['min']:,.0f} | {rates['max']:,.0f} | >= 5,000 |\n\n"
        "wrk and the server share the machine's 2 cores, so the server has at most one core; "
        "the number is the rate at which one worker process answers, bound by its one core.\n"
    )


def machine_line(facts: dict[str, Any]) -> str:
    """Return the machine facts as a reader wants them."""
    return f"{facts['cores']} cores, {facts['cpu']}, Python {facts['python']}, {facts['platform']}"


if __name__ == "__main__":
    main()
