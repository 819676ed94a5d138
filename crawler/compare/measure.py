"""Measure one crawl end to end: a fresh `crawler crawl` process against a running mock server.

Wall time is taken around the process; CPU is what `wait4` reports for it and every descendant it
waited for (the pool workers included); peak memory is the largest sum of the tree's resident
sets, sampled from /proc every 20 ms. The mock server's CPU over the same time is read from /proc
too, since on a small machine it competes with the crawl for the same cores. A run that exits
non-zero or times out is a failed run; a run interrupted (Ctrl-C) is killed with its whole process
group, reaped, and not a run at all.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from crawler.compare.plan import RunSpec, split_strategy

SAMPLE_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class Measurement:
    """What one run measured (or why it failed)."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    summary: dict[str, Any]
    failure: str | None = None
    server_cpu_s: float | None = None
    machine_busy: float | None = None  # share of all the machine's cores busy, whoever used them


def measure(
    spec: RunSpec, base_url: str, timeout: float, server_pids: Sequence[int] = ()
) -> Measurement:
    """Run `crawler crawl` for `spec` against `base_url` and measure it (and the server's CPU)."""
    server_before, machine_before = processes_cpu_s(server_pids), machine_ticks()
    measurement = _measure_crawl(spec, base_url, timeout)
    busy, total = (
        after - before for after, before in zip(machine_ticks(), machine_before, strict=True)
    )
    return replace(
        measurement,
        server_cpu_s=round(processes_cpu_s(server_pids) - server_before, 4)
        if server_pids
        else None,
        machine_busy=round(busy / total, 3) if total > 0 else None,
    )


def machine_ticks() -> tuple[int, int]:
    """Return the ticks all cores have been busy, and all ticks, from /proc/stat.

    Busy is whatever ran, this comparison or not: on a shared machine, a core another program
    holds is a core the crawl could not have had.
    """
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(value) for value in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def _measure_crawl(spec: RunSpec, base_url: str, timeout: float) -> Measurement:
    """Run `crawler crawl` for `spec` in a session of its own, and measure it."""
    with tempfile.TemporaryDirectory(prefix="crawler-compare-") as scratch:
        stats_path = Path(scratch) / "stats.json"
        strategy, limit_flags = split_strategy(spec.strategy)
        command = [
            sys.executable, "-m", "crawler", "crawl", base_url,
            "--strategy", strategy, *limit_flags,
            "--concurrency", str(spec.concurrency),
            "--per-host", str(spec.concurrency),
            "--max-pages", str(spec.pages),
            "--analysis-cost", str(spec.analysis_cost),
            "--ignore-robots", "--quiet", "--output", "",
            "--stats-json", str(stats_path),
        ]  # fmt: skip
        started = time.perf_counter()
        # A session of its own: a Ctrl-C at the terminal reaches `compare`, which ends the crawl
        # and its pool workers together by their process group.
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        try:
            peak_rss, status, usage = _wait_sampling(process.pid, started + timeout)
        except BaseException:
            _kill_group(process.pid)
            if process.stderr:
                process.stderr.close()
            raise
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
            _kill_group(pid)
            return peak, None, None
        time.sleep(SAMPLE_SECONDS)


def _kill_group(pid: int) -> None:
    """Kill the process group `pid` leads (the crawl and its workers) and reap the crawl."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def processes_cpu_s(pids: Sequence[int]) -> float:
    """Return the CPU seconds (user + system) the processes `pids` have used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
                # Fields after the command name, which may hold spaces, closed by the last ')'.
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


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
