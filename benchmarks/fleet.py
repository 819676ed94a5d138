"""Measure the `broker` strategy: what a crawl through Redis costs against the same crawl local.

The default mock site made ten times larger (10,000 pages of ~4 KB, so that the CPU read from /proc
in 10 ms ticks is exact to a few µs per page) at zero latency, every crawl option at its default,
crawled by:
- `--broker URL`, the default fleet on this machine: the coordinator and one worker per core;
- `--broker URL --processes 1`: the coordinator and one worker, the figure the goal is about;
- `--strategy async`, the same crawl on one event loop, no Redis.

Goal: the CPU per page of one worker via the broker (its process alone: the fetch, the parse and
its share of Redis traffic) at most 1.5x the CPU per page of the local `async` crawl's whole
process (the same fetch and parse, plus the core and the output the worker does not do). The
coordinator's CPU per page is reported beside it, and the whole fleet's.

Redis is a `redis-server` started here on a free loopback port, with the AOF on (`appendfsync
everysec`, as the fleet's crash tests run it): its CPU over each crawl is read from /proc, and
what crossed it from its own counters (`INFO stats` and `INFO commandstats`, reset before each
crawl): commands, socket reads (one per round trip of a client: a pipeline arrives in one read),
bytes in and out, all per page. From Redis's CPU per page follows what one Redis carries: one
core's worth of pages/s, since Redis runs commands on one thread.

Each crawl is `python -m crawler crawl URL -o OUT --quiet` plus the flags above, timed from spawn
to exit; the CPU of each process of its tree is read from /proc every 100 ms (the coordinator, its
workers) and the total checked against `os.wait4`. The mock server runs in its own process,
warmed by a first crawl. Medians of `--repeat` runs, the variants taking turns within a repeat.

Run: `.venv/bin/python benchmarks/fleet.py [--repeat 5]`; writes results/fleet.{json,md}. Needs
`redis-server` (scripts/install-system-packages installs it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common import command_line, git_revision, machine, spread, write_results
from processes import measured_crawl

from crawler.compare.measure import processes_cpu_s
from mock_server import MockServerProcess, load_settings

SITE: dict[str, Any] = {"latency": "0ms", "pages": 10_000}  # every other dial at its default
GOAL = 1.5  # one worker's CPU per page over local async's
VARIANTS = {
    "broker (default: a worker per core)": ["--broker", "{broker}"],
    "broker, one worker": ["--broker", "{broker}", "--processes", "1"],
    "async": ["--strategy", "async"],
}
COMMANDS = ("xadd", "xreadgroup", "xread", "xtrim", "evalsha", "xclaim", "xautoclaim", "expire")


# --- Redis ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def redis_server(scratch: Path) -> Iterator[tuple[str, int, socket.socket]]:
    """A redis-server with the AOF on; yield its URL, pid, and a connection to ask it with."""
    program = shutil.which("redis-server")
    if program is None:
        raise SystemExit(
            "benchmarks/fleet.py needs redis-server: run scripts/install-system-packages"
        )
    port = free_port()
    directory = scratch / "redis"
    directory.mkdir()
    command = [program, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)]
    command += ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                control = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        with control:
            yield f"redis://127.0.0.1:{port}/0", process.pid, control
    finally:
        process.terminate()
        process.wait(timeout=30)


def ask(control: socket.socket, *words: str) -> str:
    """Send one command in RESP and return the bulk string (or status) it answers."""
    request = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
    control.sendall(request.encode())
    reply = b""
    while True:
        reply += control.recv(65536)
        if reply.startswith((b"+", b"-", b":")) and reply.endswith(b"\r\n"):
            return reply[1:-2].decode()
        if reply.startswith(b"$"):
            header, _, rest = reply.partition(b"\r\n")
            if len(rest) >= int(header[1:]) + 2:
                return rest[: int(header[1:])].decode()


def redis_counters(control: socket.socket) -> dict[str, int]:
    """Redis's own counts since the last CONFIG RESETSTAT: traffic and calls per command."""
    counters: dict[str, int] = {}
    for line in ask(control, "INFO", "stats").splitlines():
        name, _, value = line.partition(":")
        if name in ("total_reads_processed", "total_net_input_bytes", "total_net_output_bytes"):
            counters[name] = int(value)
    for line in ask(control, "INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_"):
            name, _, fields = line.partition(":")
            calls = dict(field.split("=") for field in fields.split(","))["calls"]
            counters[name.removeprefix("cmdstat_")] = int(calls)
    return counters


# --- one crawl, measured --------------------------------------------------------------------


def crawl(
    server: MockServerProcess,
    flags: list[str],
    scratch: Path,
    redis: tuple[str, int, socket.socket],
) -> dict[str, Any]:
    """One crawl at `flags`; its measures per page, with Redis's CPU and traffic over it."""
    url, redis_pid, control = redis
    output = scratch / "crawl.jsonl"
    output.unlink(missing_ok=True)
    command = [sys.executable, "-m", "crawler", "crawl", server.base_url, "-o", str(output)]
    command += ["--quiet", *(flag.format(broker=url) for flag in flags)]
    ask(control, "CONFIG", "RESETSTAT")
    redis_before = processes_cpu_s([redis_pid])
    run = measured_crawl(command, server.pids, scratch / "crawl.log")
    run["redis_cpu_s"] = processes_cpu_s([redis_pid]) - redis_before
    counters = redis_counters(control)
    with output.open("rb") as lines:
        pages = run["pages"] = sum(1 for _ in lines)
    run["pages_per_s"] = pages / run["wall_s"]
    run["cpu_us_per_page"] = run["cpu_s"] / pages * 1e6
    by_role = run["proc_cpu_by_role_s"]
    run["coordinator_cpu_us_per_page"] = by_role.get("crawl process", 0.0) / pages * 1e6
    run["workers_cpu_us_per_page"] = by_role.get("fetchers", 0.0) / pages * 1e6
    run["redis_cpu_us_per_page"] = run["redis_cpu_s"] / pages * 1e6
    run["server_cpu_us_per_page"] = run["server_cpu_s"] / pages * 1e6
    # The control connection's own commands (RESETSTAT, INFO) are left out of the counts.
    run["redis_commands_per_page"] = {
        name: counters.get(name, 0) / pages for name in COMMANDS if counters.get(name)
    }
    run["redis_round_trips_per_page"] = max(counters["total_reads_processed"] - 1, 0) / pages
    run["redis_bytes_in_per_page"] = counters["total_net_input_bytes"] / pages
    run["redis_bytes_out_per_page"] = counters["total_net_output_bytes"] / pages
    return run


PER_PAGE = (
    "pages_per_s",
    "wall_s",
    "cpu_us_per_page",
    "coordinator_cpu_us_per_page",
    "workers_cpu_us_per_page",
    "redis_cpu_us_per_page",
    "server_cpu_us_per_page",
    "redis_round_trips_per_page",
    "redis_bytes_in_per_page",
    "redis_bytes_out_per_page",
    "machine_busy",
)


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {key: spread([run[key] for run in runs]) for key in PER_PAGE}
    summary["pages"] = spread([run["pages"] for run in runs])
    summary["proc_over_wait4"] = spread([run["proc_cpu_s"] / run["cpu_s"] for run in runs])
    names = sorted({name for run in runs for name in run["redis_commands_per_page"]})
    summary["redis_commands_per_page"] = {
        name: spread([run["redis_commands_per_page"].get(name, 0.0) for run in runs])
        for name in names
    }
    return summary


def measure(repeat: int, scratch: Path) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    with (
        redis_server(scratch) as redis,
        MockServerProcess(load_settings(overrides=SITE)) as server,
    ):
        crawl(server, ["--strategy", "async"], scratch, redis)  # the server renders every page
        for index in range(repeat):
            for name, flags in VARIANTS.items():
                runs[name].append(crawl(server, flags, scratch, redis))
                print(index, name, json.dumps(runs[name][-1]), flush=True)
    summary = {name: summarize(variant_runs) for name, variant_runs in runs.items()}
    one_worker, local = runs["broker, one worker"], runs["async"]
    summary["worker_over_async"] = spread(
        [
            w["workers_cpu_us_per_page"] / a["cpu_us_per_page"]
            for w, a in zip(one_worker, local, strict=True)
        ]
    )
    summary["fleet_over_async"] = spread(
        [
            w["cpu_us_per_page"] / a["cpu_us_per_page"]
            for w, a in zip(one_worker, local, strict=True)
        ]
    )
    summary["one_redis_pages_per_s"] = spread(
        [1e6 / run["redis_cpu_us_per_page"] for run in runs[next(iter(VARIANTS))]]
    )
    return {"summary": summary, "runs": runs}


# --- the report ------------------------------------------------------------------------------


def markdown(result: dict[str, Any]) -> str:
    summary = result["summary"]

    def median(name: str, key: str) -> float:
        value: float = summary[name][key]["median"]
        return value

    rows = [
        "| crawl | pages/s | CPU/page, all | coordinator | workers | Redis | round trips | "
        "bytes in / out |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in VARIANTS:
        redis_side = (
            f"{median(name, 'redis_cpu_us_per_page'):.0f} µs",
            f"{median(name, 'redis_round_trips_per_page'):.2f}",
            f"{median(name, 'redis_bytes_in_per_page'):,.0f} / "
            f"{median(name, 'redis_bytes_out_per_page'):,.0f}",
        )
        if name == "async":
            redis_side = ("—", "—", "—")
        rows.append(
            f"| `{' '.join(VARIANTS[name]).replace('{broker}', 'URL')}` ({name}) "
            f"| {median(name, 'pages_per_s'):,.0f} "
            f"| {median(name, 'cpu_us_per_page'):.0f} µs "
            f"| {median(name, 'coordinator_cpu_us_per_page'):.0f} µs "
            f"| {median(name, 'workers_cpu_us_per_page'):.0f} µs "
            f"| {' | '.join(redis_side)} |"
        )
    commands = summary["broker, one worker"]["redis_commands_per_page"]
    worker_ratio = summary["worker_over_async"]
    verdict = "met" if worker_ratio["median"] <= GOAL else "not met"
    lines = [
        "# The fleet through Redis: what it costs per page",
        "",
        f"`{result['command']}` at {result['revision']}, {result['machine']['date']}: "
        f"{result['machine']['cpu']}, {result['machine']['cores']} cores. "
        f"The default mock site at {summary['async']['pages']['median']:,.0f} pages, zero "
        "latency, every crawl option at its default; redis-server with the AOF on "
        "(everysec). Medians of "
        f"{result['repeat']} runs; CPU is per page, µs, read from /proc per process.",
        "",
        *rows,
        "",
        f"**Goal: one worker's CPU per page at most {GOAL}x local `async`'s** — "
        f"{worker_ratio['median']:.2f}x (range {worker_ratio['min']:.2f} to "
        f"{worker_ratio['max']:.2f}): {verdict}. The worker fetches, parses and talks to Redis; "
        "`async` also runs the core and writes the records, which in the fleet the "
        "coordinator does. The whole fleet (coordinator and worker) costs "
        f"{summary['fleet_over_async']['median']:.2f}x `async`'s CPU per page.",
        "",
        "Redis commands per page with one worker: "
        + ", ".join(f"{name} {value['median']:.2f}" for name, value in commands.items())
        + ". A request is one XADD (in a pipeline of every request waiting) and one EVALSHA "
        "(the fenced answer, in a pipeline of every answer waiting); the coordinator reads "
        "answers in XREADs of up to 1,000, and trims both streams once a second.",
        "",
        f"**What one Redis carries**: Redis spent "
        f"{median(next(iter(VARIANTS)), 'redis_cpu_us_per_page'):.0f} µs of CPU per page in the "
        f"default fleet, so one Redis core serves about "
        f"{summary['one_redis_pages_per_s']['median']:,.0f} pages/s of such crawls before it "
        "binds (Redis runs commands on one thread). Past that, crawls are spread over Redises "
        "by crawl id, and one crawl can be split by origin (ARCHITECTURE.md, The fleet).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the Markdown from the JSON results"
    )
    arguments = parser.parse_args()
    results_path = Path(__file__).parent / "results" / "fleet.json"
    if arguments.report_only:
        result = json.loads(results_path.read_text())
        write_results("fleet", result, markdown(result))
        return
    with tempfile.TemporaryDirectory() as scratch:
        measured = measure(arguments.repeat, Path(scratch))
    result = {
        "benchmark": "fleet",
        "command": command_line(),
        "revision": git_revision(),
        "machine": machine(),
        "repeat": arguments.repeat,
        "site": SITE,
        "variants": VARIANTS,
        "goal_worker_over_async": GOAL,
        **measured,
    }
    path = write_results("fleet", result, markdown(result))
    print(path.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
