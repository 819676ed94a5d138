"""Measure one crawl end to end: a fresh `crawler crawl` process against a running mock server.

Wall time is taken around the process; CPU is what `wait4` reports for it and every descendant it
waited for (the pool workers included); peak memory is the largest sum of the tree's resident
sets, sampled from /proc every 20 ms. A run that exits non-zero or times out is a failed run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crawler.compare.plan import RunSpec

SAMPLE_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class Measurement:
    """What one run measured (or why it failed)."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    summary: dict[str, Any]
    failure: str | None = None


def measure(spec: RunSpec, base_url: str, timeout: float) -> Measurement:
    """Run `crawler crawl` for `spec` against `base_url` and measure it."""
    with tempfile.TemporaryDirectory(prefix="crawler-compare-") as scratch:
        stats_path = Path(scratch) / "stats.json"
        command = [
            sys.executable, "-m", "crawler", "crawl", base_url,
            "--strategy", spec.strategy,
            "--concurrency", str(spec.concurrency),
            "--per-host", str(spec.concurrency),
            "--max-pages", str(spec.pages),
            "--analysis-cost", str(spec.analysis_cost),
            "--ignore-robots", "--quiet", "--output", "",
            "--stats-json", str(stats_path),
        ]  # fmt: skip
        started = time.perf_counter()
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        peak_rss, status, usage = _wait_sampling(process.pid, started + timeout)
        wall = time.perf_counter() - started
        stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
        if process.stderr:
            process.stderr.close()
        if status is None:
            return Measurement(wall, 0.0, peak_rss, {}, f"timed out after {timeout:g} s")
        process.returncode = os.waitstatus_to_exitcode(status)
        cpu = usage.ru_utime + usage.ru_stime if usage is not None else 0.0
        if process.returncode != 0 or not stats_path.exists():
            last = stderr.strip().splitlines()[-1] if stderr.strip() else "no output"
            return Measurement(wall, cpu, peak_rss, {}, f"exit {process.returncode}: {last}"[:300])
        return Measurement(wall, cpu, peak_rss, json.loads(stats_path.read_text()))


def _wait_sampling(pid: int, deadline: float) -> tuple[float, int | None, Any]:
    """Wait for `pid`, sampling its tree's memory; kill its session at the deadline."""
    peak = 0.0
    while True:
        waited, status, usage = os.wait4(pid, os.WNOHANG)
        if waited == pid:
            return peak, status, usage
        peak = max(peak, tree_rss_mb(pid))
        if time.perf_counter() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.wait4(pid, 0)
            return peak, None, None
        time.sleep(SAMPLE_SECONDS)


def tree_rss_mb(root: int) -> float:
    """Return the resident memory of `root` and all its descendants, in MiB."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status", encoding="ascii", errors="replace") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields.get("PPid", "0").strip())
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return sum(rss.get(pid, 0) for pid in tree) / 1024
