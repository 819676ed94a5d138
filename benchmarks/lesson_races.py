"""Lesson: pre-emptive against cooperative multitasking (lessons/races.md).

Three measurements, each repeated and reported as the median:

1. **A lost update.** Four workers each add 1 to a shared counter 200,000 times, as
   `counter.value = counter.value + step()`: a read, a call, a write. As threads, CPython may
   switch to another thread at the call (it checks for a switch when a function starts and at the
   bottom of a loop), so a thread can write back a value another thread has long since changed:
   updates are lost. As coroutines on one event loop, a task is switched out only where it says
   `await`, so the same code loses nothing; with an `await` between the read and the write, it
   loses as the threads do. With a `threading.Lock` around the update, the threads lose nothing.
2. **What the lock costs**, per update: uncontended (one thread) and contended (four).
3. **The `threads` strategy's own lock** under contention: one lock guards its crawl core, and
   the crawler counts how often a thread found it held and how long it waited (`--stats-json`
   `lock`). Crawls of the mock site at 0 ms and 20 ms latency over concurrency 1 to 256.

    .venv/bin/python benchmarks/lesson_races.py

writes lessons/results/races/{results.json,report.md,lock.png}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import CHILD_ENVIRONMENT, command_line, git_revision, machine
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from crawler.compare.charts import COLOURS, DPI
from mock_server import MockServerProcess, load_settings

OUT = Path(__file__).parent.parent / "lessons" / "results" / "races"
WORKERS = 4
UPDATES = 200_000
CONCURRENCY = (1, 4, 16, 64, 256)
LATENCIES_MS = (0, 20)


class Counter:
    """The shared state: one attribute every worker reads and writes."""

    def __init__(self) -> None:
        self.value = 0


def step() -> int:
    """Return 1, by a call: the call is where CPython may switch threads."""
    return 1


def add_unguarded(counter: Counter, times: int) -> None:
    """Read, call, write: with no lock, another thread may run between the read and the write."""
    for _ in range(times):
        counter.value = counter.value + step()


def add_guarded(counter: Counter, times: int, lock: threading.Lock) -> None:
    """The same update under a lock: no other thread runs it in between."""
    for _ in range(times):
        with lock:
            counter.value = counter.value + step()


def on_threads(work: Callable[[], None], workers: int = WORKERS) -> float:
    """Run `work` on `workers` threads at once; return the seconds they took."""
    threads = [threading.Thread(target=work) for _ in range(workers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


async def add_as_task(counter: Counter, times: int, yield_between: bool) -> None:
    """The update as a coroutine; with `yield_between`, an `await` between read and write."""
    for _ in range(times):
        value = counter.value
        if yield_between:
            await asyncio.sleep(0)
        counter.value = value + step()


def on_tasks(times: int, yield_between: bool) -> int:
    """Run `WORKERS` coroutines of the update on one event loop; return the counter's value."""
    counter = Counter()

    async def main() -> None:
        await asyncio.gather(*(add_as_task(counter, times, yield_between) for _ in range(WORKERS)))

    asyncio.run(main())
    return counter.value


def lost_updates(repeat: int) -> dict[str, Any]:
    """Measure how many updates each way of running the workers loses."""
    expected = WORKERS * UPDATES
    found: dict[str, list[int]] = {
        "threads": [],
        "threads with a lock": [],
        "coroutines": [],
        "coroutines, await between": [],
    }
    for _ in range(repeat):
        counter = Counter()
        on_threads(lambda: add_unguarded(counter, UPDATES))  # noqa: B023 - run before the next
        found["threads"].append(expected - counter.value)
        counter, lock = Counter(), threading.Lock()
        on_threads(lambda: add_guarded(counter, UPDATES, lock))  # noqa: B023
        found["threads with a lock"].append(expected - counter.value)
        found["coroutines"].append(expected - on_tasks(UPDATES, yield_between=False))
        # Each await is a trip round the loop: a tenth of the updates tell the same story.
        fewer = UPDATES // 10
        found["coroutines, await between"].append(
            WORKERS * fewer - on_tasks(fewer, yield_between=True)
        )
    return {
        way: {
            "updates": expected if way != "coroutines, await between" else WORKERS * fewer,
            "lost_median": statistics.median(lost),
            "lost": lost,
        }
        for way, lost in found.items()
    }


def lock_cost(repeat: int) -> dict[str, float]:
    """Return the nanoseconds per update with a lock, with one thread and with `WORKERS`, beside
    the update with no lock on one thread."""

    def per_update(workers: int, guarded: bool) -> float:
        times = []
        for _ in range(repeat):
            counter, lock = Counter(), threading.Lock()
            share = UPDATES // workers
            if guarded:
                seconds = on_threads(lambda: add_guarded(counter, share, lock), workers)  # noqa: B023
            else:
                seconds = on_threads(lambda: add_unguarded(counter, share), workers)  # noqa: B023
            times.append(seconds / UPDATES * 1e9)
        return round(statistics.median(times), 1)

    return {
        "no lock, 1 thread": per_update(1, guarded=False),
        "lock, 1 thread": per_update(1, guarded=True),
        f"lock, {WORKERS} threads": per_update(WORKERS, guarded=True),
    }


def crawl_lock(base_url: str, concurrency: int, pages: int) -> dict[str, Any]:
    """Crawl with `threads` at `concurrency`; return its summary (pages/s, CPU, the lock's)."""
    with tempfile.TemporaryDirectory() as scratch:
        stats = Path(scratch) / "stats.json"
        command = [sys.executable, "-m", "crawler", "crawl", base_url, "--strategy", "threads"]
        command += ["--concurrency", str(concurrency), "--per-host", str(concurrency)]
        command += ["--max-pages", str(pages), "--ignore-robots", "--quiet", "--output", ""]
        command += ["--stats-json", str(stats)]
        subprocess.run(
            command,
            check=True,
            env=CHILD_ENVIRONMENT,
        )
        summary: dict[str, Any] = json.loads(stats.read_text())
    return summary


def strategy_lock(repeat: int, pages: int) -> list[dict[str, Any]]:
    """Measure the threads strategy's lock at every (latency, concurrency)."""
    rows = []
    for latency_ms in LATENCIES_MS:
        site = load_settings(overrides={"pages": pages, "links": 20, "latency": f"{latency_ms}ms"})
        with MockServerProcess(site) as server:
            for concurrency in CONCURRENCY:
                # No run longer than Little's law's 2 s: the rates are the same on fewer pages.
                own = pages if latency_ms == 0 else min(pages, 2000 * concurrency // latency_ms)
                runs = [crawl_lock(server.base_url, concurrency, own) for _ in range(repeat)]
                middle = sorted(runs, key=lambda run: run["pages_per_s"])[len(runs) // 2]
                lock, done, wall = middle["lock"], middle["pages"], middle["wall_s"]
                rows.append(
                    {
                        "latency_ms": latency_ms,
                        "concurrency": concurrency,
                        "pages_per_s": middle["pages_per_s"],
                        "cpu_us_per_page": round(middle["cpu_s"] / done * 1e6),
                        "acquired_per_page": round(lock["acquired"] / done, 2),
                        "contended_share": round(lock["contended"] / lock["acquired"], 3),
                        "wait_us_per_page": round(lock["wait_s"] / done * 1e6, 1),
                        # Of all the threads' time, the share spent waiting for the lock.
                        "wait_share": round(lock["wait_s"] / (concurrency * wall), 4),
                    }
                )
                print(rows[-1], file=sys.stderr)
    return rows


def chart(rows: list[dict[str, Any]], path: Path) -> None:
    """Draw the threads' share of time spent waiting for the lock, and pages/s, against
    concurrency, per latency: what the lock costs, beside what the crawl got."""
    figure = Figure(figsize=(8.4, 3.6), layout="constrained")
    waiting, rates = figure.subplots(1, 2)
    for latency_ms, style in zip(LATENCIES_MS, ("-", "--"), strict=True):
        own = [row for row in rows if row["latency_ms"] == latency_ms]
        xs = [row["concurrency"] for row in own]
        label = f"{latency_ms} ms latency"
        waiting.plot(xs, [100 * row["wait_share"] for row in own], style, marker="o",
                     color=COLOURS["threads"], label=label)  # fmt: skip
        rates.plot(xs, [row["pages_per_s"] for row in own], style, marker="o",
                   color=COLOURS["threads"], label=label)  # fmt: skip
    waiting.set_ylabel("% of the threads' time waiting for it")
    rates.set_ylabel("pages/s")
    for axis in (waiting, rates):
        axis.set_xscale("log")
        axis.set_xticks(list(CONCURRENCY), [str(value) for value in CONCURRENCY])
        axis.xaxis.set_minor_locator(NullLocator())
        axis.set_xlabel("concurrency (threads)")
        axis.set_ylim(bottom=0)
        axis.grid(True, axis="y", alpha=0.3)
    waiting.legend(fontsize=8)
    figure.suptitle("The threads strategy's core lock, and what the crawl got", fontweight="bold")
    figure.savefig(path, dpi=DPI)


def markdown(result: dict[str, Any]) -> str:
    """Return the report: the lost updates, the lock's cost, the strategy's lock."""
    lines = [
        "# Pre-emptive against cooperative: measured",
        "",
        f"`{result['command']}` at {result['revision']}, {result['machine']['date']},"
        f" {result['machine']['cores']} cores, Python {result['machine']['python']}.",
        "",
        f"## Lost updates ({WORKERS} workers, median of {result['repeat']})",
        "",
        "| workers run as | updates | lost (median) | lost, each repeat |",
        "|---|---|---|---|",
    ]
    for way, found in result["lost_updates"].items():
        lost = ", ".join(f"{value:,}" for value in found["lost"])
        lines.append(f"| {way} | {found['updates']:,} | {found['lost_median']:,} | {lost} |")
    lines += ["", "## What a lock costs per update (ns, median)", "", "| | ns |", "|---|---|"]
    lines += [f"| {name} | {value:,} |" for name, value in result["lock_cost_ns"].items()]
    lines += [
        "",
        "## The threads strategy's core lock",
        "",
        "| latency | threads | pages/s | CPU µs/page | takes/page | waited | µs waited/page"
        " | threads' time waiting |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in result["strategy_lock"]:
        lines.append(
            f"| {row['latency_ms']} ms | {row['concurrency']} | {row['pages_per_s']:,.0f}"
            f" | {row['cpu_us_per_page']:,} | {row['acquired_per_page']}"
            f" | {100 * row['contended_share']:.1f}% | {row['wait_us_per_page']:,}"
            f" | {100 * row['wait_share']:.2f}% |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "command": command_line(),
        "revision": git_revision(),
        "machine": machine(),
        "repeat": args.repeat,
        "lost_updates": lost_updates(args.repeat),
        "lock_cost_ns": lock_cost(args.repeat),
        "strategy_lock": strategy_lock(args.repeat, args.pages),
    }
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "report.md").write_text(markdown(result))
    chart(result["strategy_lock"], args.out / "lock.png")
    print(markdown(result))


if __name__ == "__main__":
    main()
