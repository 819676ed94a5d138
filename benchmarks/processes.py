"""Measure the `processes` strategy: fetching and parsing on every core, the crawl decided on one.

A. CPU-bound: the default mock site (1,000 pages of ~4 KB) at zero latency, with
   `--analysis-cost 8` (about 20 ms of CPU per page), every other option at its default:
   `--processes 2` against `--processes 1`, `async` beside them. Goal: >= 1.8x (2.0x is the
   physical limit on 2 cores).
B. I/O-bound past one core: 20,000 pages at 100 ms latency, concurrency 1,000 (1,000 per host),
   no analysis: `--processes 2` against `--strategy async`. Goal: >= 1.5x. Little's law allows
   10,000 pages/s, so what binds is CPU: one core for `async`, and for `processes` the two cores
   it shares with the mock server.
C. CPU per page of the whole crawl (the crawl process and its fetchers) at B, against bare aiohttp
   GETs of the same URLs at the same concurrency (the floor of benchmarks/versus_scrapy.py).

Each crawl is `python -m crawler crawl URL -o OUT --quiet` plus the flags above, one whole process
timed from spawn to exit, its CPU (user + sys) from `os.wait4`, which counts the fetchers only
because the crawl waits for them: to check that, the process tree's CPU is also read from /proc
every 100 ms, per process, and summed (the fetchers' share is reported). The mock server runs in
its own process (one, the default), warmed by a first crawl that renders every page; its CPU over
each crawl is read from /proc (its own rusage, as the kernel counts it), and so is how busy the
whole machine was. Medians of `--repeat` runs, the strategies taking turns within each repeat.

With `--py-spy PROGRAM` (py-spy, installed anywhere, e.g. in a throwaway virtualenv), one more
crawl at B under `py-spy record --subprocesses` says where the processes' time goes: the share of
samples in a few functions, per side. py-spy samples wall-clock time, so on a saturated machine a
process waiting for a core counts in the frame it waits in: shares, not CPU seconds.

Run: `.venv/bin/python benchmarks/processes.py [--repeat 3] [--only cpu,io] [--py-spy PROGRAM]`;
writes results/processes.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import CHILD_ENVIRONMENT, command_line, git_revision, machine, spread, write_results
from versus_scrapy import FLOOR_SCRIPT

from crawler.compare.measure import machine_ticks, processes_cpu_s
from mock_server import MockServerProcess, load_settings

TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_SECONDS = 0.1
ANALYSIS_COST = 8
IO_PAGES, IO_LATENCY, IO_CONCURRENCY = 20_000, "100ms", 1_000
CPU_VARIANTS = {
    "processes 2": ["--processes", "2"],
    "processes 1": ["--processes", "1"],
    "async": ["--strategy", "async"],
}
IO_VARIANTS = {
    "processes 2": ["--processes", "2"],
    "async": ["--strategy", "async"],
}
GOALS = {"cpu": 1.8, "io": 1.5}


# --- one crawl, measured ---------------------------------------------------------------------


def tree(root: int) -> set[int]:
    """Return `root` and its descendants, from /proc/PID/task/TID/children."""
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/children") as children:
                    todo += [int(child) for child in children.read().split()]
            except OSError:
                continue
    return found


def own_cpu_and_role(pid: int, root: int) -> tuple[float, str] | None:
    """Return the CPU seconds `pid` has used itself, and what it is in the crawl's tree."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            command = cmdline.read()
    except OSError:
        return None
    if pid == root:
        role = "crawl process"
    elif b"resource_tracker" in command:
        role = "resource tracker"
    elif b"spawn_main" in command:
        role = "fetchers"
    else:
        role = "other"
    return (int(fields[11]) + int(fields[12])) / TICKS, role


def measured_crawl(command: list[str], server_pids: list[int], log: Path) -> dict[str, Any]:
    """Run one crawl to its end; return wall, CPU from wait4 and from /proc, the server's CPU."""
    server_before, machine_before = processes_cpu_s(server_pids), machine_ticks()
    seen: dict[int, tuple[float, str]] = {}
    with log.open("wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
            env=CHILD_ENVIRONMENT,
        )  # fmt: skip
        while True:
            waited, status, usage = os.wait4(process.pid, os.WNOHANG)
            if waited:
                break
            for pid in tree(process.pid):
                sample = own_cpu_and_role(pid, process.pid)
                if sample is not None:
                    # A process that has exited and waits to be reaped has no command line any
                    # more: it keeps the role it was first seen in.
                    role = seen[pid][1] if pid in seen and sample[1] == "other" else sample[1]
                    seen[pid] = (sample[0], role)
            time.sleep(SAMPLE_SECONDS)
        wall = time.perf_counter() - started
    busy, total = (
        after - before for after, before in zip(machine_ticks(), machine_before, strict=True)
    )
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {log.read_text()[-2000:]}")
    by_role: dict[str, float] = {}
    for cpu, role in seen.values():
        by_role[role] = by_role.get(role, 0.0) + cpu
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "proc_cpu_s": sum(by_role.values()),
        "proc_cpu_by_role_s": by_role,
        "processes_seen": len(seen),
        "server_cpu_s": processes_cpu_s(server_pids) - server_before,
        "machine_busy": busy / total if total else None,
    }


def crawl(server: MockServerProcess, flags: list[str], scratch: Path) -> dict[str, Any]:
    """One crawl of the server at `flags`; its measures, pages, pages/s and CPU per page."""
    output = scratch / "crawl.jsonl"
    output.unlink(missing_ok=True)
    command = [sys.executable, "-m", "crawler", "crawl", server.base_url, "-o", str(output)]
    command += ["--quiet", *flags]
    run = measured_crawl(command, server.pids, scratch / "crawl.log")
    with output.open("rb") as lines:
        run["pages"] = sum(1 for _ in lines)
    run["pages_per_s"] = run["pages"] / run["wall_s"]
    run["cpu_us_per_page"] = run["cpu_s"] / run["pages"] * 1e6
    run["server_cpu_us_per_page"] = run["server_cpu_s"] / run["pages"] * 1e6
    run["cores_used"] = run["cpu_s"] / run["wall_s"]
    run["server_cores_used"] = run["server_cpu_s"] / run["wall_s"]
    return run


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("wall_s", "pages_per_s", "cpu_s", "proc_cpu_s", "cpu_us_per_page", "cores_used")
    keys += ("server_cpu_s", "server_cpu_us_per_page", "server_cores_used", "machine_busy")
    summary: dict[str, Any] = {key: spread([run[key] for run in runs]) for key in keys}
    summary["pages"] = spread([run["pages"] for run in runs])
    roles = {role for run in runs for role in run["proc_cpu_by_role_s"]}
    summary["cpu_us_per_page_by_role"] = {
        role: spread(
            [run["proc_cpu_by_role_s"].get(role, 0.0) / run["pages"] * 1e6 for run in runs]
        )
        for role in sorted(roles)
    }
    summary["proc_over_wait4"] = spread([run["proc_cpu_s"] / run["cpu_s"] for run in runs])
    return summary


def scenario(
    site: dict[str, Any], variants: dict[str, list[str]], common: list[str], repeat: int,
    scratch: Path, floor_concurrency: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Crawl one site with every variant, `repeat` times in turns, after a warm-up crawl."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    floors: list[dict[str, Any]] = []
    with MockServerProcess(load_settings(overrides=site)) as server:
        crawl(server, [*common, "--strategy", "async"], scratch)  # the server renders every page
        for index in range(repeat):
            for name, flags in variants.items():
                runs[name].append(crawl(server, [*common, *flags], scratch))
                print(index, name, json.dumps(runs[name][-1]), flush=True)
            if floor_concurrency:
                floors.append(floor(server, scratch, floor_concurrency))
                print(index, "floor", json.dumps(floors[-1]), flush=True)
    summary = {name: summarize(variant_runs) for name, variant_runs in runs.items()}
    first, *others = variants
    for name in others:
        summary[first][f"ratio_to_{name}"] = spread(
            [
                a["pages_per_s"] / b["pages_per_s"]
                for a, b in zip(runs[first], runs[name], strict=True)
            ]
        )
    result: dict[str, Any] = {"site": site, "common_flags": common, "summary": summary}
    if floors:
        result["floor"] = {
            "fetch_cpu_us_per_page": spread([f["fetch_cpu_s"] / f["urls"] * 1e6 for f in floors]),
            "process_cpu_us_per_page": spread([f["cpu_s"] / f["urls"] * 1e6 for f in floors]),
            "pages_per_s": spread([f["urls"] / f["fetch_wall_s"] for f in floors]),
            "urls": spread([f["urls"] for f in floors]),
        }
        for name in variants:
            summary[name]["cpu_over_floor"] = spread(
                [
                    run["cpu_us_per_page"] / (f["cpu_s"] / f["urls"] * 1e6)
                    for run, f in zip(runs[name], floors, strict=True)
                ]
            )
    result["runs"], result["floor_runs"] = runs, floors
    return result


def floor(server: MockServerProcess, scratch: Path, concurrency: int) -> dict[str, Any]:
    """Bare aiohttp GETs of the URLs the last crawl recorded, at `concurrency`, in a process of
    its own: the timed part (fetch CPU) and the whole process (CPU from wait4)."""
    urls = [json.loads(line)["url"] for line in (scratch / "crawl.jsonl").read_text().splitlines()]
    job = scratch / "floor-urls.json"
    job.write_text(json.dumps(urls))
    output = scratch / "floor.json"
    command = [sys.executable, "-c", FLOOR_SCRIPT, str(job), str(concurrency)]
    with output.open("wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=sink, env=CHILD_ENVIRONMENT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError("the bare aiohttp floor failed")
    result: dict[str, Any] = json.loads(output.read_text())
    return {**result, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime}


# --- where the time goes --------------------------------------------------------------------

# Functions whose share of samples (inclusive) says where a side's time goes.
PROFILED = {
    "fetchers": {
        "the GET (aiohttp, crawler/http)": "fetch (crawler/http/aiohttp_client.py)",
        "the page analysis": "analyze_page (crawler/pages/parse.py)",
        "of it, the fingerprint": "fingerprint (crawler/pages/fingerprint.py)",
        "messages out (pickle + socket write)": "write_frame (crawler/strategies/frames.py)",
        "messages in (read + unpickle)": "read_frame (crawler/strategies/frames.py)",
    },
    "crawl process": {
        "the core: a request completed": "CrawlCore.complete (crawler/core/engine.py)",
        "the core: the next request": "CrawlCore.next_request (crawler/core/engine.py)",
        "records written": "AsyncJsonlSink.add (crawler/output/jsonl.py)",
        "messages in (read + unpickle)": "read_frame (crawler/strategies/frames.py)",
        "messages out (pickle + socket write)": "write_frame (crawler/strategies/frames.py)",
    },
}


def profile(py_spy: str, site: dict[str, Any], flags: list[str], scratch: Path) -> dict[str, Any]:
    """One crawl under py-spy (every process of it); the share of samples in PROFILED's
    functions, per side, and in the event loop's own frame (C code: waiting or uvloop work)."""
    raw = scratch / "py-spy.txt"
    with MockServerProcess(load_settings(overrides=site)) as server:
        crawl(server, flags, scratch)  # warm the server
        command = [py_spy, "record", "--subprocesses", "--nonblocking", "--rate", "200"]
        command += ["--format", "raw", "--output", str(raw), "--", sys.executable, "-m"]
        command += ["crawler", "crawl", server.base_url, "-o", str(scratch / "crawl.jsonl")]
        subprocess.run([*command, "--quiet", *flags], check=True, capture_output=True)
    samples = {"fetchers": 0, "crawl process": 0}
    hits = {side: dict.fromkeys(names, 0) for side, names in PROFILED.items()}
    loop_frame = dict.fromkeys(samples, 0)
    for line in raw.read_text().splitlines():
        stack, count = line.rsplit(" ", 1)
        if "resource_tracker" in stack:
            continue
        side = "fetchers" if "spawn_main" in stack else "crawl process"
        samples[side] += int(count)
        frames = {frame.rsplit(":", 1)[0] + ")" for frame in stack.split(";") if ":" in frame}
        for name, function in PROFILED[side].items():
            hits[side][name] += int(count) if function in frames else 0
        if stack.rsplit(";", 1)[-1].startswith("Runner.run (asyncio/runners.py"):
            loop_frame[side] += int(count)
    return {
        "command": " ".join([*command[:6], "--format raw -o FILE -- python -m crawler crawl URL"])
        + " -o OUT --quiet "
        + " ".join(flags),
        "samples": samples,
        "shares": {
            side: {name: hit / max(samples[side], 1) for name, hit in side_hits.items()}
            for side, side_hits in hits.items()
        },
        "event_loop_frame_share": {
            side: hit / max(samples[side], 1) for side, hit in loop_frame.items()
        },
    }


# --- the whole -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="cpu,io", help="scenarios to run: cpu, io or both")
    parser.add_argument("--py-spy", help="py-spy program: profile one crawl at B")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the Markdown from the JSON results"
    )
    arguments = parser.parse_args()
    results_path = Path(__file__).parent / "results" / "processes.json"
    if arguments.report_only:
        result = json.loads(results_path.read_text())
        write_results("processes", result, markdown(result))
        return
    only = set(arguments.only.split(","))
    result: dict[str, Any] = {
        "benchmark": "processes",
        "command": command_line(),
        "revision": git_revision(),
        "machine": machine(),
        "goals": GOALS,
    }
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        if "cpu" in only:
            result["cpu"] = scenario(
                {},
                CPU_VARIANTS,
                ["--analysis-cost", str(ANALYSIS_COST)],
                arguments.repeat,
                scratch,
            )
        if "io" in only:
            result["io"] = scenario(
                {"pages": IO_PAGES, "latency": IO_LATENCY},
                IO_VARIANTS,
                ["--concurrency", str(IO_CONCURRENCY), "--per-host", str(IO_CONCURRENCY)],
                arguments.repeat,
                scratch,
                floor_concurrency=IO_CONCURRENCY,
            )
        if arguments.py_spy:
            result["profile"] = profile(
                arguments.py_spy,
                {"pages": IO_PAGES, "latency": IO_LATENCY},
                ["--concurrency", str(IO_CONCURRENCY), "--per-host", str(IO_CONCURRENCY)]
                + IO_VARIANTS["processes 2"],
                scratch,
            )
    write_results("processes", result, markdown(result))


# --- the report ------------------------------------------------------------------------------


def cell(values: dict[str, float], digits: int = 0, suffix: str = "") -> str:
    median, low, high = (f"{values[key]:,.{digits}f}" for key in ("median", "min", "max"))
    return f"{median}{suffix}" if low == high else f"{median}{suffix} ({low}-{high})"


def table(summary: dict[str, Any]) -> str:
    rows = [
        "| crawl | pages | wall s | pages/s | cores used (crawl) | CPU us/page (crawl) "
        "| of it: crawl process / fetchers | /proc sum / wait4 | server cores used | server CPU us/page | machine busy |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in summary.items():
        roles = row["cpu_us_per_page_by_role"]
        split = " / ".join(
            cell(roles[role]) for role in ("crawl process", "fetchers") if role in roles
        )
        rows.append(
            f"| `{name}` | {cell(row['pages'])} | {cell(row['wall_s'], 2)} "
            f"| {cell(row['pages_per_s'])} | {cell(row['cores_used'], 2)} "
            f"| {cell(row['cpu_us_per_page'])} | {split if 'fetchers' in roles else '—'} "
            f"| {cell(row['proc_over_wait4'], 3)} | {cell(row['server_cores_used'], 2)} "
            f"| {cell(row['server_cpu_us_per_page'])} | {cell(row['machine_busy'], 2)} |"
        )
    return "\n".join(rows)


def verdict(measured: float, goal: float) -> str:
    return f"{measured:.2f}x, goal {goal}x: " + ("met" if measured >= goal else "**not met**")


def markdown(result: dict[str, Any]) -> str:
    facts = result["machine"]
    parts = [
        "# The `processes` strategy: fetching and parsing on every core",
        "",
        f"- Command: `{result['command']}` (revision {result['revision']})",
        f"- Machine: {facts['cores']} cores, {facts['cpu']}, Python {facts['python']}, {facts['date']}",
        "- Each crawl: `python -m crawler crawl URL -o OUT --quiet` plus the flags named, every other"
        " option at its default (robots.txt read, records written, uvloop), one whole process from"
        " spawn to exit; CPU is user + sys from `os.wait4`, the fetchers included. The mock server"
        " (one process) is warmed by a first crawl; its CPU over each crawl is read from /proc.",
        "- *Crawl process / fetchers*: each process's own CPU read from /proc every 100 ms while the"
        " crawl runs; */proc sum / wait4* is their sum over what wait4 reported (a little under 1:"
        " the last 100 ms of each process are not sampled). *Machine busy*: the share of all cores"
        " busy over the crawl, whoever used them (/proc/stat).",
        "- Medians of the repeats, min-max in brackets; the ratios are taken within each repeat.",
    ]
    if "note" in result:
        parts.append(f"- Note: {result['note']}.")
    if "cpu" in result:
        parts += cpu_section(result["cpu"], result["goals"]["cpu"], facts["cores"])
    if "io" in result:
        parts += io_section(result["io"], result["goals"]["io"], facts["cores"])
    if "profile" in result:
        parts += profile_section(result["profile"])
    return "\n".join(parts) + "\n"


def cpu_section(cpu: dict[str, Any], goal: float, cores: int) -> list[str]:
    summary = cpu["summary"]
    ratio = summary["processes 2"]["ratio_to_processes 1"]["median"]
    two = summary["processes 2"]
    busy, server = two["machine_busy"]["median"], two["server_cores_used"]["median"]
    return [
        "",
        f"## A. CPU-bound: the default site (1,000 pages), zero latency, `--analysis-cost {ANALYSIS_COST}`",
        "",
        table(summary),
        "",
        f"`--processes 2` against `--processes 1`: {verdict(ratio, goal)}"
        f" (against `async`: {summary['processes 2']['ratio_to_async']['median']:.2f}x).",
        "",
        f"What binds: all {cores} cores. With two fetchers the crawl uses"
        f" {two['cores_used']['median']:.2f} cores and the machine is {busy:.0%} busy; the mock"
        f" server takes {server:.2f} of a core (it serves a page in"
        f" {two['server_cpu_us_per_page']['median']:,.0f} us), the crawl process"
        f" {two['cpu_us_per_page_by_role']['crawl process']['median']:,.0f} us a page, and the rest"
        " is the fetchers' analysis. One fetcher is one core's worth of analysis, as `async` is.",
    ]


def io_section(io: dict[str, Any], goal: float, cores: int) -> list[str]:
    summary, floor_cpu = io["summary"], io["floor"]
    two, alone = summary["processes 2"], summary["async"]
    ratio = two["ratio_to_async"]["median"]
    server_us = two["server_cpu_us_per_page"]["median"]
    two_us, alone_us = two["cpu_us_per_page"]["median"], alone["cpu_us_per_page"]["median"]
    ceiling = cores / (two_us + server_us) * 1e6
    zero_overhead = cores / (alone_us + server_us) * 1e6
    return [
        "",
        f"## B. I/O-bound past one core: {IO_PAGES:,} pages, {IO_LATENCY} latency, concurrency"
        f" {IO_CONCURRENCY:,} ({IO_CONCURRENCY:,} per host), no analysis",
        "",
        f"Little's law allows {IO_CONCURRENCY / 0.1:,.0f} pages/s; CPU allows far less.",
        "",
        table(summary),
        "",
        f"`--processes 2` against `async`: {verdict(ratio, goal)}.",
        "",
        f"What binds: `async` is bound by one core ({alone['cores_used']['median']:.2f} cores used,"
        f" {alone_us:,.0f} us a page). `processes` by all {cores} cores, which it shares with the"
        f" mock server (machine {two['machine_busy']['median']:.0%} busy): a page costs the crawl"
        f" {two_us:,.0f} us ({two['cpu_us_per_page_by_role']['crawl process']['median']:,.0f} in the"
        f" crawl process, {two['cpu_us_per_page_by_role']['fetchers']['median']:,.0f} in the"
        f" fetchers) and the server {server_us:,.0f} us, so {cores} cores could give at most"
        f" {ceiling:,.0f} pages/s. Even with no cost for the messages between processes (a page at"
        f" `async`'s {alone_us:,.0f} us), the server's share would cap the ratio at"
        f" {zero_overhead / (1e6 / alone_us):.2f}x on this machine.",
        "",
        "## C. CPU per page of the whole crawl, against bare aiohttp",
        "",
        "| | CPU us per page | / bare aiohttp (whole process) |",
        "|---|---|---|",
        f"| `crawler crawl --processes 2` (crawl process + fetchers) | {cell(two['cpu_us_per_page'])} | {cell(two['cpu_over_floor'], 2, 'x')} |",
        f"| `crawler crawl --strategy async` | {cell(alone['cpu_us_per_page'])} | {cell(alone['cpu_over_floor'], 2, 'x')} |",
        f"| bare aiohttp GETs of the same URLs, concurrency {IO_CONCURRENCY:,}, whole process (the floor) | {cell(floor_cpu['process_cpu_us_per_page'])} | 1x |",
        f"| the same, the GETs alone (no interpreter start-up) | {cell(floor_cpu['fetch_cpu_us_per_page'])} | |",
        "",
        f"wait4 counts the fetchers: the per-process sum read from /proc is"
        f" {two['proc_over_wait4']['median']:.3f} of what wait4 reported for `--processes 2`"
        f" ({alone['proc_over_wait4']['median']:.3f} for `async`, which has no children).",
    ]


def profile_section(profile: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## Where the time of `--processes 2` goes at B (py-spy)",
        "",
        f"`{profile['command']}`: the share of each side's samples spent in (inclusive) each part."
        " Wall-clock samples: on a saturated machine a process waiting for a core counts in the"
        " frame it waits in, and time in the event loop's own C code (uvloop: waiting, socket"
        " calls) shows as the loop's frame.",
        "",
        "| side | samples | part | share |",
        "|---|---|---|---|",
    ]
    for side, shares in profile["shares"].items():
        for name, share in shares.items():
            lines.append(f"| {side} | {profile['samples'][side]:,} | {name} | {share:.1%} |")
        loop = profile["event_loop_frame_share"][side]
        lines.append(
            f"| {side} | {profile['samples'][side]:,} | the event loop's own frame | {loop:.1%} |"
        )
    return lines


if __name__ == "__main__":
    main()
