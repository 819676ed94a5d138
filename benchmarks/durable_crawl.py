"""What `--state` costs, and whether a durable crawl stays flat and bounded at a million pages.

Two measurements, each `crawler crawl` in its own process against a mock server in its own, at
zero latency (the crawler's own costs are all there is to see):

1. **Overhead.** The same crawl with and without `--state`, alternated and repeated; the ratio of
   the median wall times is the cost of durability (goal: under 15%).
2. **Scale.** A crawl of a 1,000,000-page site, with `--state` (goal: peak RSS under 500 MB, time
   per page as flat in the last 10% of pages as in the first 10%), and without it (memory per URL).
   The crawler's resident memory and record count are sampled every second.

    .venv/bin/python benchmarks/durable_crawl.py overhead --pages 20000 --repeat 3
    .venv/bin/python benchmarks/durable_crawl.py scale --pages 1000000
    .venv/bin/python benchmarks/durable_crawl.py scale --pages 1000000 --no-state
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent.parent))

from benchmarks.common import command_line, git_revision, machine, write_results
from mock_server import MockServerProcess, load_settings

SAMPLE_SECONDS = 1.0
REVISION = git_revision()  # read at start: a long run must not report a later commit


def crawl_command(seed: str, workdir: Path, state: bool, strategy: str) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "crawler",
        "crawl",
        seed,
        "--quiet",
        "--strategy",
        strategy,
        "--analysis-cost",
        "0",
        "--max-depth",
        "100",
        "--concurrency",
        "32",
        "--output",
        str(workdir / "out.jsonl"),
        "--stats-json",
        str(workdir / "stats.json"),
    ]
    if state:
        command += ["--state", str(workdir / "crawl.db"), "--resume"]
    return command


def memory_kib(pid: int) -> tuple[int, int]:
    """Return a process's resident set size now and its peak so far, in KiB (0 once gone)."""
    values = {"VmRSS:": 0, "VmHWM:": 0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key = line.split(maxsplit=1)[0] if line else ""
            if key in values:
                values[key] = int(line.split()[1])
    except OSError:
        pass
    return values["VmRSS:"], values["VmHWM:"]


class LineCounter:
    """Counts the lines of a growing file, reading only what was appended since last time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.lines = 0

    def count(self) -> int:
        try:
            with self.path.open("rb") as file:
                file.seek(self.offset)
                while chunk := file.read(1 << 20):
                    self.lines += chunk.count(b"\n")
                    self.offset += len(chunk)
        except FileNotFoundError:
            pass
        return self.lines


def run_crawl(seed: str, state: bool, strategy: str, sample: bool) -> dict[str, Any]:
    """Run one crawl to the end; return its wall time, peak RSS, summary and samples."""
    with tempfile.TemporaryDirectory(prefix="durable-") as folder:
        workdir = Path(folder)
        started = time.monotonic()
        process = subprocess.Popen(crawl_command(seed, workdir, state, strategy))
        counter = LineCounter(workdir / "out.jsonl")
        samples: list[tuple[float, int, int]] = []
        peak = 0
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            resident, high_water = memory_kib(process.pid)
            peak = max(peak, high_water)
            if sample:
                samples.append((round(time.monotonic() - started, 2), counter.count(), resident))
            time.sleep(SAMPLE_SECONDS if sample else 0.05)
        wall = time.monotonic() - started
        peak = max(peak, usage.ru_maxrss)  # the kernel's own peak, read as the process is reaped
        process.returncode = os.waitstatus_to_exitcode(status)
        samples.append((round(wall, 2), counter.count(), 0))
        summary = json.loads((workdir / "stats.json").read_text())
        state_bytes = sum(path.stat().st_size for path in workdir.glob("crawl.db*"))
    return {
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(peak / 1024, 1),
        "pages": summary["pages"],
        "cpu_s": summary["cpu_s"],
        "state_file_mb": round(state_bytes / 1e6, 1),
        "samples": samples,
    }


def overhead(args: argparse.Namespace) -> None:
    settings = load_settings(overrides={"pages": args.pages, "latency": "0ms"})
    runs: dict[str, list[dict[str, Any]]] = {"memory": [], "state": []}
    with MockServerProcess(settings) as server:
        run_crawl(server.base_url, False, args.strategy, sample=False)  # warm-up
        for _ in range(args.repeat):
            for mode in ("memory", "state"):
                result = run_crawl(server.base_url, mode == "state", args.strategy, sample=False)
                result.pop("samples")
                runs[mode].append(result)
                print(mode, result, file=sys.stderr)
    medians = {
        mode: {
            "wall_s": statistics.median(run["wall_s"] for run in results),
            "cpu_us_per_page": statistics.median(
                run["cpu_s"] / run["pages"] * 1e6 for run in results
            ),
        }
        for mode, results in runs.items()
    }
    ratio = medians["state"]["wall_s"] / medians["memory"]["wall_s"]
    result = {
        "benchmark": "durable_crawl overhead",
        "command": command_line(),
        "revision": REVISION,
        "machine": machine(),
        "pages": args.pages,
        "strategy": args.strategy,
        "runs": runs,
        "medians": medians,
        "wall_ratio_state_to_memory": round(ratio, 3),
        "goal": "state costs under 15% of wall time at zero latency",
        "met": ratio < 1.15,
    }
    markdown = (
        f"# Cost of --state ({args.pages:,} pages, {args.strategy}, zero latency)\n\n"
        f"`{command_line()}` at {REVISION}; median of {args.repeat} alternated runs.\n\n"
        "| | wall s | CPU us/page |\n|---|---|---|\n"
        + "".join(
            f"| {mode} | {values['wall_s']:.2f} | {values['cpu_us_per_page']:.0f} |\n"
            for mode, values in medians.items()
        )
        + f"\nWall time with --state: **{ratio:.3f}x** the in-memory crawl"
        f" (goal under 1.15: {'met' if ratio < 1.15 else 'not met'}).\n"
    )
    write_results("durable_overhead", result, markdown)
    print(markdown)


def flatness(samples: list[tuple[float, int, int]], pages: int) -> dict[str, float]:
    """Return the seconds per 1,000 pages over the first and the last tenth of the crawl."""

    def time_at(count: float) -> float:
        for (t0, n0, _), (t1, n1, _) in itertools.pairwise(samples):
            if n0 <= count <= n1 and n1 > n0:
                return t0 + (t1 - t0) * (count - n0) / (n1 - n0)
        return samples[-1][0]

    tenth = pages / 10
    first = (time_at(tenth) - time_at(0.01 * pages)) / (tenth - 0.01 * pages) * 1000
    last = (time_at(pages) - time_at(pages - tenth)) / tenth * 1000
    return {
        "first_tenth_s_per_1000": round(first, 3),
        "last_tenth_s_per_1000": round(last, 3),
        "ratio": round(last / first, 3),
    }


def scale(args: argparse.Namespace) -> None:
    settings = load_settings(overrides={"pages": args.pages, "latency": "0ms"})
    with MockServerProcess(settings) as server:
        result = run_crawl(server.base_url, not args.no_state, args.strategy, sample=True)
    samples = result["samples"]
    pages = result["pages"]
    mode = "memory" if args.no_state else "state"
    baseline_mb = samples[1][2] / 1024 if len(samples) > 2 else 0.0
    summary = {
        "benchmark": f"durable_crawl scale ({mode})",
        "command": command_line(),
        "revision": REVISION,
        "machine": machine(),
        "strategy": args.strategy,
        "site_pages": args.pages,
        "pages": pages,
        "wall_s": result["wall_s"],
        "pages_per_s": round(pages / result["wall_s"], 1),
        "cpu_s": result["cpu_s"],
        "peak_rss_mb": result["peak_rss_mb"],
        "rss_after_1s_mb": round(baseline_mb, 1),
        "bytes_per_url": round((result["peak_rss_mb"] - baseline_mb) * 1024 * 1024 / pages, 1),
        "state_file_mb": result["state_file_mb"],
        "time_per_page": flatness(samples, pages),
        "samples": samples,
    }
    name = f"durable_scale_{mode}"
    flat = summary["time_per_page"]
    markdown = (
        f"# A {args.pages:,}-page crawl, {'with --state' if mode == 'state' else 'in memory'}\n\n"
        f"`{command_line()}` at {REVISION}; {args.strategy} strategy, zero latency,"
        " analysis off.\n\n"
        f"- pages: {pages:,} in {result['wall_s']:.0f} s ({summary['pages_per_s']:.0f} pages/s)\n"
        f"- peak RSS: **{result['peak_rss_mb']:.0f} MB** (after 1 s: {baseline_mb:.0f} MB;"
        f" {summary['bytes_per_url']:.0f} bytes per URL above that)\n"
        f"- state file: {result['state_file_mb']:.0f} MB\n"
        f"- seconds per 1,000 pages: {flat['first_tenth_s_per_1000']:.3f} over the first 10%,"
        f" {flat['last_tenth_s_per_1000']:.3f} over the last 10% (ratio {flat['ratio']:.2f})\n"
    )
    write_results(name, summary, markdown)
    print(markdown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["overhead", "scale"])
    parser.add_argument("--pages", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--strategy", default="async")
    parser.add_argument("--no-state", action="store_true")
    args = parser.parse_args()
    if args.pages is None:
        args.pages = 20_000 if args.part == "overhead" else 1_000_000
    overhead(args) if args.part == "overhead" else scale(args)


if __name__ == "__main__":
    main()
