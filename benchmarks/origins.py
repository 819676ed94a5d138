"""Measure a crawl's CPU per page as one site spreads over 1 to 10,000 origins.

A broad crawl keeps things per origin that a deep one keeps once: a politeness slot, a robots.txt
gate (and its request), connections (each a TCP handshake, then an idle keep-alive socket), a place
in the dispatch heap. The mock server puts the origins on distinct loopback addresses sharing one
port (`--hosts-on addresses`: 127.0.0.1, 127.0.0.2, ...), each its own listening socket, so the
crawler meets them as the distinct origins of a broad crawl, not as ports of one host.

Each crawl is `python -m crawler crawl URL --config C -o OUT --stats-json S --quiet` at the default
settings (async, uvloop, concurrency 32, 16 per host), C's `[crawl]` table allowing every origin
of the site, against a mock server in its own process at zero latency whose pages a first crawl
has cached. The crawl runs under a small launcher that reads the kernel's account of it (CPU:
user + system, every thread, start-up included; peak RSS, its own since the launcher is small, see
tests/crawling.py); the warm-up crawl alone also samples its open file descriptors and the
server's, every 100 ms (sampling slows what it samples).

Goal: CPU per page at 10,000 origins within 1.5x of one origin. Then a cProfile of the crawl at
the first and last origin counts, in this process, says where any difference goes.

Run: `.venv/bin/python benchmarks/origins.py [--repeat 3] [--origins 1,10,100,1000,10000]
[--pages 10000] [--no-profile] [--name origins]`; writes results/NAME.{json,md}.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

from common import CHILD_ENVIRONMENT, command_line, git_revision, machine, spread, write_results
from defaults import component_of

from crawler.compare.measure import processes_cpu_s
from mock_server import MockServerProcess, load_settings

# Runs a command; writes its rusage, wall time and the peak descriptor counts as JSON to argv[1],
# sampling its open descriptors and the server's (pids in argv[3]) every argv[2] seconds (0: never).
# Listing 10,000 descriptors takes milliseconds, and the kernel's lock on the process's file
# table: sampled every 20 ms, three such processes slowed the crawl of 10,000 origins from 12 s
# to 20 s and raised its CPU per page by a third, so only the warm-up crawl is sampled.
LAUNCHER = textwrap.dedent(
    """
    import json, os, subprocess, sys, time

    def descriptors(pid):
        try:
            return len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            return 0

    interval = float(sys.argv[2])
    servers = [int(pid) for pid in sys.argv[3].split(",") if pid]
    started = time.perf_counter()
    process = subprocess.Popen(sys.argv[4:], stdout=subprocess.DEVNULL)
    peak_fds, server_peak_fds, next_sample = 0, 0, 0.0
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if interval and time.perf_counter() >= next_sample:
            peak_fds = max(peak_fds, descriptors(process.pid))
            server_peak_fds = max([server_peak_fds, *map(descriptors, servers)])
            next_sample = time.perf_counter() + interval
        time.sleep(0.01)
    json.dump(
        {
            "status": os.waitstatus_to_exitcode(status),
            "wall_s": time.perf_counter() - started,
            "user_s": usage.ru_utime,
            "system_s": usage.ru_stime,
            "peak_rss_mb": usage.ru_maxrss / 1024,
            "peak_fds": peak_fds,
            "server_peak_fds": server_peak_fds,
        },
        open(sys.argv[1], "w"),
    )
    """
)


def crawl_config(path: Path, origins: list[str]) -> Path:
    """Write a config whose [crawl] table allows every origin of the site (the seed's is in)."""
    hosts = [origin.removeprefix("http://") for origin in origins[1:]]
    path.write_text("[crawl]\nallow_domains = " + json.dumps(hosts) + "\n")
    return path


def crawl(
    server: MockServerProcess,
    config: Path,
    scratch: Path,
    *flags: str,
    sample_every: float = 0.0,
) -> dict[str, Any]:
    """Run one default crawl (plus `flags`) of the server as a process of its own; return what
    it cost, with peak open descriptors if `sample_every` (seconds) is set."""
    output, stats_json, report = scratch / "out.jsonl", scratch / "stats.json", scratch / "run"
    output.unlink(missing_ok=True)
    command = [sys.executable, "-m", "crawler", "crawl", server.base_url, "--config", str(config)]
    command += ["-o", str(output), "--stats-json", str(stats_json), "--quiet", *flags]
    pids = ",".join(str(pid) for pid in server.pids)
    server_cpu_before = processes_cpu_s(server.pids)
    subprocess.run(
        [sys.executable, "-c", LAUNCHER, str(report), str(sample_every), pids, *command],
        check=True,
        env=CHILD_ENVIRONMENT,
    )
    run: dict[str, Any] = json.loads(report.read_text())
    run["server_cpu_s"] = processes_cpu_s(server.pids) - server_cpu_before
    if run.pop("status") != 0:
        raise RuntimeError(f"the crawl of {server.base_url} failed")
    stats = json.loads(stats_json.read_text())
    with output.open("rb") as lines:
        run["pages"] = sum(1 for _ in lines)
    run["requests"] = stats["requests"]
    run["errors"] = sum(stats.get("errors", {}).values())
    run["cpu_s"] = run["user_s"] + run["system_s"]
    run["cpu_us_per_page"] = run["cpu_s"] / run["pages"] * 1e6
    run["cpu_us_per_request"] = run["cpu_s"] / run["requests"] * 1e6
    run["pages_per_s"] = run["pages"] / run["wall_s"]
    return run


def reset(server: MockServerProcess) -> None:
    request = urllib.request.Request(server.origins[0] + "/_stats", method="DELETE")
    urllib.request.urlopen(request, timeout=30).close()


def measure(
    origins: int, pages: int, repeat: int, workers: int, scratch: Path, *flags: str
) -> dict[str, Any]:
    """Crawl a site of `pages` pages on `origins` loopback origins `repeat` times (with `flags`),
    after a warm-up crawl that also samples the open descriptors."""
    settings = load_settings(
        overrides={"pages": pages, "hosts": origins, "hosts_on": "addresses", "workers": workers}
    )
    runs = []
    with MockServerProcess(settings) as server:
        config = crawl_config(scratch / "crawl.toml", server.origins)
        # The server renders and caches every page once; the descriptors are counted meanwhile.
        warm = crawl(server, config, scratch, *flags, sample_every=0.1)
        for _ in range(repeat):
            reset(server)
            time.sleep(1.0)  # the last crawl's connections are closed and the server is idle
            runs.append(crawl(server, config, scratch, *flags))
            print(f"  {origins:>6} origins {' '.join(flags)}: {json.dumps(runs[-1])}", flush=True)
    keys = (
        "cpu_us_per_page",
        "cpu_us_per_request",
        "pages_per_s",
        "wall_s",
        "cpu_s",
        "server_cpu_s",
        "peak_rss_mb",
    )
    return {
        "origins": origins,
        "flags": list(flags),
        "pages": runs[0]["pages"],
        "requests": runs[0]["requests"],
        "errors": max(run["errors"] for run in runs),
        "peak_fds": warm["peak_fds"],
        "server_peak_fds": warm["server_peak_fds"],
        **{key: spread([run[key] for run in runs]) for key in keys},
        "warm_up": warm,
        "runs": runs,
    }


def profile(origins: int, pages: int, workers: int) -> dict[str, Any]:
    """Profile one default crawl in this process; return µs per page by component and the
    functions whose own time grew most per page, as cProfile counts them.

    Built-in functions (C code: lexbor's, numpy's, socket calls) are counted with the component
    of the Python function that called them, in proportion to its calls, as defaults.py does.
    """
    from crawler.core.engine import CrawlCore
    from crawler.settings import load_crawl_settings
    from crawler.strategies.async_ import AsyncStrategy
    from crawler.strategies.context import RunContext

    settings = load_settings(
        overrides={"pages": pages, "hosts": origins, "hosts_on": "addresses", "workers": workers}
    )
    with MockServerProcess(settings) as server, tempfile.TemporaryDirectory() as scratch:
        hosts = [origin.removeprefix("http://") for origin in server.origins[1:]]
        crawl_settings = load_crawl_settings(
            overrides={
                "seeds": [server.base_url],
                "allow_domains": hosts,
                "output": str(Path(scratch) / "profiled.jsonl"),
                "quiet": True,
            }
        )
        core = CrawlCore(crawl_settings.policy)
        profiler = cProfile.Profile()
        profiler.enable()
        AsyncStrategy().run(
            core, crawl_settings, RunContext(crawl_settings.output, handle_signals=False)
        )
        profiler.disable()
        crawled = core.stats.records
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    shares: dict[str, float] = defaultdict(float)
    functions: dict[str, float] = {}
    for (filename, line, name), (_, _, tottime, _, callers) in stats.items():
        functions[f"{Path(filename).name}:{line}({name})"] = tottime / crawled * 1e6
        component = component_of(filename)
        if component is None and filename == "~" and callers:
            total_calls = sum(caller[1] for caller in callers.values()) or 1
            for (caller_file, _, _), caller in callers.items():
                share = component_of(caller_file) or "other"
                shares[share] += tottime * caller[1] / total_calls
            continue
        shares[component or "other"] += tottime
    return {
        "origins": origins,
        "pages": crawled,
        "us_per_page_by_component": {
            name: value / crawled * 1e6
            for name, value in sorted(shares.items(), key=lambda item: -item[1])
        },
        "us_per_page_by_function": functions,
    }


def compare_profiles(first: dict[str, Any], last: dict[str, Any]) -> dict[str, Any]:
    """Return per-component and the top per-function growth of µs per page, last over first."""
    components = sorted(
        set(first["us_per_page_by_component"]) | set(last["us_per_page_by_component"])
    )
    by_component = {
        name: (
            first["us_per_page_by_component"].get(name, 0.0),
            last["us_per_page_by_component"].get(name, 0.0),
        )
        for name in components
    }
    before, after = first["us_per_page_by_function"], last["us_per_page_by_function"]
    growth = {
        name: after.get(name, 0.0) - before.get(name, 0.0) for name in set(after) | set(before)
    }
    top = sorted(growth.items(), key=lambda item: -item[1])[:20]
    return {
        "origins": (first["origins"], last["origins"]),
        "by_component": dict(
            sorted(by_component.items(), key=lambda item: item[1][0] - item[1][1])
        ),
        "top_function_growth": [
            {"function": name, "first_us": before.get(name, 0.0), "last_us": after.get(name, 0.0)}
            for name, _ in top
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--origins", default="1,10,100,1000,10000")
    parser.add_argument("--pages", type=int, default=10_000)
    # Two server processes: at 10,000 origins one would hold 10,000 listening sockets and the
    # other end of each of the crawl's ~10,000 idle keep-alive connections, next to a hard
    # open-file limit of 20,000 here; two hold a share of the connections each.
    parser.add_argument("--workers", type=int, default=2, help="mock server processes")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--name", default="origins", help="results/NAME.{json,md}")
    arguments = parser.parse_args()
    counts = [int(count) for count in arguments.origins.split(",")]
    rows, without_robots = [], []
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        for count in counts:
            rows.append(
                measure(count, arguments.pages, arguments.repeat, arguments.workers, scratch)
            )
        # The same crawls with one request per page: what robots.txt adds, apart from the rest.
        for count in (counts[0], counts[-1]):
            without_robots.append(
                measure(
                    count,
                    arguments.pages,
                    arguments.repeat,
                    arguments.workers,
                    scratch,
                    "--ignore-robots",
                )
            )
    for table in (rows, without_robots):
        baseline = table[0]["cpu_us_per_page"]["median"]
        for row in table:
            row["ratio_to_first"] = row["cpu_us_per_page"]["median"] / baseline
    profiles = None
    if not arguments.no_profile:
        first = profile(counts[0], arguments.pages, arguments.workers)
        last = profile(counts[-1], arguments.pages, arguments.workers)
        profiles = compare_profiles(first, last)
    result = {
        "benchmark": "origins",
        "command": command_line(),
        "revision": git_revision(),
        "machine": machine(),
        "site": f"{arguments.pages:,} pages of the default mock site, zero latency, on"
        " distinct loopback addresses of one port",
        "crawl": "python -m crawler crawl at default settings (async, uvloop, concurrency 32,"
        " 16 per host), every origin allowed",
        "server_workers": arguments.workers,
        "rows": rows,
        "rows_ignoring_robots": without_robots,
        "profile": profiles,
        "goal_ratio": 1.5,
    }
    write_results(arguments.name, result, markdown(result))
    print(markdown(result))


def _cell(values: dict[str, float], digits: int = 0) -> str:
    return (
        f"{values['median']:,.{digits}f} ({values['min']:,.{digits}f}-{values['max']:,.{digits}f})"
    )


def _table(rows: list[dict[str, Any]]) -> list[str]:
    first = rows[0]["origins"]
    lines = [
        f"| origins | requests | crawler CPU per page | per request | ratio to {first:,}"
        " | pages/s | crawler CPU / wall | server CPU | peak RSS | crawler's peak fds"
        " | server's peak fds |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['origins']:,} | {row['requests']:,} | {_cell(row['cpu_us_per_page'])} us"
            f" | {_cell(row['cpu_us_per_request'])} us | **{row['ratio_to_first']:.2f}x**"
            f" | {_cell(row['pages_per_s'])}"
            f" | {row['cpu_s']['median'] / row['wall_s']['median']:.0%}"
            f" | {_cell(row['server_cpu_s'], 1)} s | {_cell(row['peak_rss_mb'])} MB"
            f" | {row['peak_fds']:,} | {row['server_peak_fds']:,} |"
        )
    return lines


def _profile_tables(profiles: dict[str, Any]) -> list[str]:
    first, last = profiles["origins"]
    lines = [
        f"## Where the difference goes: cProfile, {first:,} against {last:,} origins",
        "",
        "µs per page as cProfile counts them, robots.txt read (it adds a cost per Python call, so"
        " these are larger than the CPU above; the differences say where to look). C code is"
        " counted with the Python function that called it; uvloop's own work (sockets, epoll)"
        " shows as `runners.py(run)`, the loop's caller.",
        "",
        f"| component | at {first:,} | at {last:,} origins |",
        "|---|---|---|",
    ]
    for name, (before, after) in profiles["by_component"].items():
        lines.append(f"| {name} | {before:.0f} | {after:.0f} |")
    lines += [
        "",
        f"| function (own time), most grown | at {first:,} | at {last:,} origins |",
        "|---|---|---|",
    ]
    for item in profiles["top_function_growth"]:
        lines.append(f"| `{item['function']}` | {item['first_us']:.1f} | {item['last_us']:.1f} |")
    return lines


def _median_per_page_us(row: dict[str, Any], key: str) -> float:
    return statistics.median(run[key] / run["pages"] * 1e6 for run in row["runs"])


def _every(pages: float) -> str:
    return "per page" if round(pages) <= 1 else f"every {pages:,.0f} pages"


def _what_grows(result: dict[str, Any]) -> list[str]:
    """Say, with this run's numbers, what a page of the largest count pays that one origin's
    does not."""
    rows, bare = result["rows"], result["rows_ignoring_robots"]
    first, last, bare_first, bare_last = rows[0], rows[-1], bare[0], bare[-1]
    page = "cpu_us_per_page"
    robots_us = last[page]["median"] - bare_last[page]["median"]
    connection_us = bare_last[page]["median"] - bare_first[page]["median"]
    system_first = _median_per_page_us(bare_first, "system_s")
    system_last = _median_per_page_us(bare_last, "system_s")
    memory_kb = (last["peak_rss_mb"]["median"] - first["peak_rss_mb"]["median"]) * 1024
    per_request = last["cpu_us_per_request"]["median"] / first["cpu_us_per_request"]["median"]
    return [
        f"Per request the crawl costs {per_request:.2f}x at {last['origins']:,} origins what it"
        f" costs at {first['origins']:,}: the core's dispatch, politeness slots and robots gates"
        " do not grow with the number of origins (`dispatch.md` measures the core alone: 1.28x). What"
        " grows is what each origin costs once, paid here once"
        f" {_every(last['pages'] / last['origins'])} ({last['pages']:,} pages on"
        f" {last['origins']:,} origins):",
        "",
        f"- robots.txt, one more request per origin: {robots_us:.0f} us per page (the crawl with"
        " robots.txt less the crawl without, at the largest count);",
        f"- a connection per origin: {connection_us:.0f} us per page (the crawls without"
        f" robots.txt), {system_last - system_first:.0f} us of it in the kernel (system time"
        f" {system_first:.0f} -> {system_last:.0f} us per page: handshake, socket set-up and"
        " teardown), the rest in aiohttp's and aiohappyeyeballs' connect path"
        " (`_connect_sock`, `connector.connect`, `_wrap_create_connection` below) and in yarl,"
        " whose 512-entry host-encoding cache misses on every one of 10,000 hosts and parses"
        " the address again (`ipaddress.ip_address`, about 2 us a call outside the profiler);",
        f"- memory: {last['peak_rss_mb']['median']:.0f} MB against"
        f" {first['peak_rss_mb']['median']:.0f} MB, about {memory_kb / last['origins']:.0f} KB"
        " per origin, robots.txt or not.",
        "",
        "Descriptors follow origins, not concurrency: aiohttp's pool limit counts connections in"
        " use, and every idle keep-alive connection stays open for 15 s, so the crawler holds one"
        f" descriptor per origin it has finished with ({last['peak_fds']:,} at the largest"
        " count), and the server the other end of each beside its listening sockets, one per"
        f" origin ({last['server_peak_fds']:,} in the busier of its workers; one worker would"
        " have been at this machine's hard limit of 20,000). `crawler/run/open_files.py` fits"
        " only --concurrency to the open-file limit.",
        "",
        "Pages/s and CPU / wall depend on the server as well: each of its workers caches the"
        " pages it rendered itself, and a crawl's connections reach the workers in a different"
        " mix each time, so the first crawls after the warm-up still render some (server CPU"
        " falls over the repeats). At one origin --per-host 16 keeps 16 requests in flight"
        " where the others keep 32.",
    ]


def markdown(result: dict[str, Any]) -> str:
    machine_facts = result["machine"]
    rows, bare = result["rows"], result["rows_ignoring_robots"]
    last, last_bare = rows[-1], bare[-1]
    per_request = last["cpu_us_per_request"]["median"] / rows[0]["cpu_us_per_request"]["median"]
    lines = [
        f"# CPU per page from {rows[0]['origins']:,} to {last['origins']:,} origins",
        "",
        f"- Command: `{result['command']}` (revision {result['revision']})",
        f"- Machine: {machine_facts['cores']} cores, {machine_facts['cpu']}, Python"
        f" {machine_facts['python']}, {machine_facts['date']}",
        f"- Site: {result['site']}; mock server in its own"
        f" processes ({result['server_workers']} workers), pages cached by a first crawl.",
        f"- Crawl: {result['crawl']}, a process of its own: CPU is user + system of every thread,"
        " start-up included. Medians of the repeats (min-max in brackets); descriptors counted"
        " during the warm-up crawl.",
        "",
        *_table(rows),
        "",
        "The same crawls with `--ignore-robots`, one request per page:",
        "",
        *_table(bare),
        "",
        f"At {last['origins']:,} origins a page costs **{last['ratio_to_first']:.2f}x** its CPU"
        f" on one origin (goal: within {result['goal_ratio']}x), and a request"
        f" {per_request:.2f}x. Each origin of a broad crawl costs a robots.txt request (here"
        f" {last['requests'] - last['pages']:,} beside {last['pages']:,} pages) and connections"
        " of its own (a TCP handshake each and, once the crawl is done with the origin, an idle"
        " keep-alive socket on both sides until aiohttp's 15 s timeout or the crawl's end)."
        f" Without robots.txt the ratio is {last_bare['ratio_to_first']:.2f}x: what is left is"
        " mostly the connections.",
        "",
        *_what_grows(result),
        "",
    ]
    if result["profile"]:
        lines += [*_profile_tables(result["profile"]), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
