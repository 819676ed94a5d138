"""Compare the four strategies on an I/O-bound and a CPU-bound crawl; explain what binds each.

The mock server runs in its own process, started afresh for every run. Medians of `--repeat` runs.

A. I/O-bound: 100 ms latency, 1,000 pages, concurrency 100, no analysis. The ideal is
   pages x latency / concurrency = 1 s. `sync` crawls 30 pages and is scaled to 1,000.
B. CPU-bound: zero latency, analysis cost chosen to be about 10 ms per page, 1,000 pages.

Also measured, to explain the results: the CPU one requests GET costs (which caps threads under the
GIL), and the CPU of one unit of `--analysis-cost`.

Run: `.venv/bin/python benchmarks/strategies.py [--repeat 3]`; writes results/strategies.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from common import RESULTS, command_line, git_revision, machine, spread, write_results

from crawler.core.engine import CrawlCore
from crawler.pages.fingerprint import simhash, words_of
from crawler.run.crawl import cpu_seconds
from crawler.settings import load_crawl_settings
from crawler.strategies import STRATEGIES
from crawler.strategies.context import RunContext
from mock_server import MockServerProcess, Site, load_settings

STRATEGY_NAMES = ("sync", "threads", "async", "async-procs")


def crawl(strategy: str, base_url: str, output: Path, **settings: Any) -> dict[str, float]:
    """Run one crawl in this process; return wall and CPU seconds (pool workers included), pages."""
    overrides = {"seeds": [base_url], "output": str(output), "quiet": True, "strategy": strategy}
    core = CrawlCore(load_crawl_settings(overrides={**overrides, **settings}))
    cpu_before, started = cpu_seconds(), time.perf_counter()
    STRATEGIES[strategy]().run(core, RunContext(str(output), handle_signals=False))
    wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu_before
    pages = core.stats.records
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "cores_used": cpu / wall,
        "pages": pages,
        "pages_per_s": pages / wall,
    }


def scenario(
    site_overrides: dict[str, Any],
    crawl_settings: dict[str, Any],
    repeat: int,
    scratch: Path,
    pages_for: dict[str, int],
) -> dict[str, Any]:
    """Crawl with every strategy `repeat` times; a fresh server for each run."""
    results: dict[str, Any] = {}
    for strategy in STRATEGY_NAMES:
        pages = pages_for.get(strategy, site_overrides["pages"])
        site = load_settings(overrides={**site_overrides, "pages": pages})
        runs = []
        for _ in range(repeat):
            with MockServerProcess(site) as server:
                runs.append(
                    crawl(
                        strategy, server.base_url, scratch / f"{strategy}.jsonl", **crawl_settings
                    )
                )
        results[strategy] = {
            "pages": pages,
            "wall_s": spread([run["wall_s"] for run in runs]),
            "pages_per_s": spread([run["pages_per_s"] for run in runs]),
            "cores_used": spread([run["cores_used"] for run in runs]),
            "cpu_ms_per_page": spread([run["cpu_s"] / run["pages"] * 1000 for run in runs]),
            "runs": runs,
        }
    return results


def pool_start_seconds(workers: int) -> float:
    """Wall time to start async-procs' pool and have every worker ready (spawn + imports)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from crawler.strategies.async_procs import _ready, _start_worker

    started = time.perf_counter()
    with ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(os.getpid(),),
    ) as pool:
        for future in [pool.submit(_ready) for _ in range(workers)]:
            future.result()
        ready = time.perf_counter() - started
    return ready


def requests_cpu_per_request(count: int = 2000) -> float:
    """CPU seconds one requests GET of a 4 KB page costs this process (zero latency, one thread)."""
    site = load_settings(overrides={"pages": 200})
    with MockServerProcess(site) as server, requests.Session() as session:
        urls = [Site(site.site, server.origins).page_url(page % 200) for page in range(count)]
        for url in urls[:200]:
            session.get(url).close()  # warm: the server renders each page once
        started = time.process_time()
        for url in urls:
            _ = session.get(url, allow_redirects=False).content
        return (time.process_time() - started) / count


def analysis_cost_per_unit() -> dict[str, float]:
    """Milliseconds of CPU per page for analysis costs 1..8 on a 4 KB mock page, and per unit."""
    site = Site(load_settings(overrides={"pages": 50}).site)
    from selectolax.lexbor import LexborHTMLParser

    texts = [
        words_of(
            " ".join(
                p.text(separator=" ") for p in LexborHTMLParser(site.render_page(page)[0]).css("p")
            )
        )
        for page in range(50)
    ]
    per_cost = {}
    for cost in (1, 2, 4, 8):
        started = time.process_time()
        for words in texts:
            simhash(words, cost)
        per_cost[cost] = (time.process_time() - started) / len(texts) * 1000
    per_unit = statistics.median(ms / cost for cost, ms in per_cost.items())
    return {
        "ms_per_page_by_cost": per_cost,
        "ms_per_unit": per_unit,
        "words_per_page": statistics.mean(map(len, texts)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the Markdown from the JSON results"
    )
    arguments = parser.parse_args()
    if arguments.report_only:
        result = json.loads((RESULTS / "strategies.json").read_text())
        write_results("strategies", result, markdown(result))
        return
    analysis = analysis_cost_per_unit()
    cost = max(1, round(10 / analysis["ms_per_unit"]))
    print("analysis", analysis, "cost for ~10 ms:", cost)
    requests_cpu = requests_cpu_per_request()
    print("requests CPU per GET (ms)", requests_cpu * 1000)
    pool_start = statistics.median(pool_start_seconds(os.cpu_count() or 1) for _ in range(3))
    print("pool start (s)", pool_start)
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        io_bound = scenario(
            {"pages": 1000, "links": 100, "latency": "100ms"},
            {"concurrency": 100, "per_host": 100, "ignore_robots": True, "analysis_cost": 0},
            arguments.repeat,
            scratch,
            pages_for={"sync": 30},
        )
        print(
            "io-bound", {name: value["pages_per_s"]["median"] for name, value in io_bound.items()}
        )
        cpu_bound = scenario(
            {"pages": 1000, "links": 20},
            {
                "concurrency": 100,
                "per_host": 100,
                "ignore_robots": True,
                "analysis_cost": cost,
                "workers": 0,
            },
            arguments.repeat,
            scratch,
            pages_for={},
        )
        print(
            "cpu-bound", {name: value["pages_per_s"]["median"] for name, value in cpu_bound.items()}
        )
    result = {
        "benchmark": "strategies",
        "command": command_line(),
        "revision": git_revision(),
        "machine": machine(),
        "analysis": {**analysis, "cost_used_for_cpu_bound": cost},
        "requests_cpu_ms_per_get": requests_cpu * 1000,
        "pool_start_s": pool_start,
        "io_bound": {
            "site": "1,000 pages, 100 links each, 100 ms latency",
            "concurrency": 100,
            "results": io_bound,
        },
        "cpu_bound": {
            "site": "1,000 pages, zero latency",
            "analysis_cost": cost,
            "results": cpu_bound,
        },
    }
    write_results("strategies", result, markdown(result))


def markdown(result: dict[str, Any]) -> str:
    io, cpu = result["io_bound"]["results"], result["cpu_bound"]["results"]
    analysis = result["analysis"]
    cores = result["machine"]["cores"]
    ideal_wall = 1000 * 0.1 / 100
    sync_scaled = 1000 / io["sync"]["pages_per_s"]["median"]
    threads_cap = 1000 / result["requests_cpu_ms_per_get"]

    def row(results: dict[str, Any], name: str, reference: float | None = None) -> str:
        entry = results[name]
        rate = entry["pages_per_s"]
        last = (
            f"{ideal_wall / (1000 / rate['median']):.2f}"
            if reference is None
            else f"{rate['median'] / reference:.2f}x"
        )
        return (
            f"| {name} | {entry['pages']:,} | {rate['median']:,.1f} ({rate['min']:,.1f}-{rate['max']:,.1f}) "
            f"| {1000 / rate['median']:,.2f} s | {entry['cores_used']['median']:.2f} | {entry['cpu_ms_per_page']['median']:.2f} | {last} |"
        )

    async_cpu_rate = cpu["async"]["pages_per_s"]["median"]
    procs_ratio = cpu["async-procs"]["pages_per_s"]["median"] / async_cpu_rate
    procs_wall = 1000 / cpu["async-procs"]["pages_per_s"]["median"]
    procs_steady_ratio = 1000 / (procs_wall - result["pool_start_s"]) / async_cpu_rate
    threads_vs_sync = cpu["threads"]["pages_per_s"]["median"] / cpu["sync"]["pages_per_s"]["median"]
    header = "| strategy | pages crawled | pages/s (min-max) | wall for 1,000 pages | cores used | CPU ms per page |"
    return f"""# Strategies compared

- Command: `{result["command"]}` (revision {result["revision"]})
- Machine: {cores} cores, {result["machine"]["cpu"]}, Python {result["machine"]["python"]}, {result["machine"]["date"]}
- Mock server in its own process, started afresh for every run; medians of the repeats. CPU is the
  crawler process's plus its pool workers'; cores used is CPU / wall.

## A. I/O-bound: 100 ms latency, concurrency 100, no analysis

Ideal: 1,000 pages x 100 ms / 100 in flight = {ideal_wall:.1f} s. `sync` crawls {io["sync"]["pages"]} pages and its
wall is scaled to 1,000.

{header} ideal / wall |
|---|---|---|---|---|---|---|
{row(io, "sync")}
{row(io, "threads")}
{row(io, "async")}
{row(io, "async-procs")}

- `sync` waits out every 100 ms alone: {sync_scaled:,.0f} s for 1,000 pages, as the physics says.
- `async` keeps up to 100 requests in flight on one thread, using {io["async"]["cores_used"]["median"]:.2f} of a core; it misses the
  goal of 1.1 s. Part of the gap is the crawl's shape, which the ideal ignores: the seed must be
  fetched alone before any link is known (a 100 ms round in which nothing else can be in flight),
  so no single-seed crawl of this site can finish under about 1.1 s. The rest is CPU: each page
  costs the crawler {io["async"]["cpu_ms_per_page"]["median"]:.2f} ms (these pages carry 100 links each), and with a constant latency
  the responses come back in waves of up to 100 that one event loop works through one after
  another, so the later ones of each wave start their next request that much later.
- `threads`: a requests GET alone costs {result["requests_cpu_ms_per_get"]:.2f} ms of CPU here (one thread, zero latency), which
  would cap the pool near {threads_cap:,.0f} requests/s. In the crawl each page costs {io["threads"]["cpu_ms_per_page"]["median"]:.2f} ms, over
  three times as much, at {io["threads"]["cores_used"]["median"]:.2f} cores: all Python in the 100 threads (requests, parsing, the
  core under its lock) runs one thread at a time under the GIL, a thread woken by its socket waits
  its turn for it (the switch interval is 5 ms), and the switching itself costs CPU. One core's
  worth of GIL, {1000 / io["threads"]["cpu_ms_per_page"]["median"]:,.0f} pages/s at that cost, is what binds, not the network. (The brief
  expected ~1 ms per request and a cap near 800 requests/s; this machine measures the above.)
- `async-procs` pays a round trip to a worker process for every page (pickling the body and the
  result), time during which the page still holds one of the 100 slots; with no analysis to
  share out, that is pure cost.

## B. CPU-bound: zero latency, analysis cost {result["cpu_bound"]["analysis_cost"]} (~{analysis["ms_per_unit"] * result["cpu_bound"]["analysis_cost"]:.1f} ms of SimHash per page)

{header} vs async |
|---|---|---|---|---|---|---|
{row(cpu, "sync", async_cpu_rate)}
{row(cpu, "threads", async_cpu_rate)}
{row(cpu, "async", async_cpu_rate)}
{row(cpu, "async-procs", async_cpu_rate)}

- `async-procs` reaches {procs_ratio:.2f}x the pages/s of `async` (goal: at least 1.6x), using {cpu["async-procs"]["cores_used"]["median"]:.2f} cores: the
  fingerprints run in {cores} worker processes while the event loop fetches. It cannot reach {cores}x: the
  event loop, the mock server and the workers share the machine's {cores} cores, and starting the
  pool (spawning {cores} interpreters that import the parser) takes {result["pool_start_s"]:.2f} s of each run. That
  start-up is {result["pool_start_s"] / procs_wall:.0%} of this {procs_wall:.1f} s crawl; without it the ratio would be {procs_steady_ratio:.2f}x, so
  the goal is missed by the fixed cost of starting processes, which a longer crawl amortizes.
- `threads` runs at {threads_vs_sync:.2f}x the rate of `sync` (goal: no faster): the analysis holds the GIL, so
  one thread computes at a time ({cpu["threads"]["cores_used"]["median"]:.2f} cores used), and 100 threads add switching on top.
- `async` is one core's worth of analysis, like `sync` ({cpu["async"]["cores_used"]["median"]:.2f} cores): coroutines overlap waiting,
  not computing.

## The analysis dial

One unit of `--analysis-cost` (one round of SimHash over a page's ~{analysis["words_per_page"]:.0f} words of prose) costs
{analysis["ms_per_unit"]:.2f} ms of CPU here; costs 1, 2, 4, 8 measured
{", ".join(f"{ms:.1f}" for ms in analysis["ms_per_page_by_cost"].values())} ms per page.
"""


if __name__ == "__main__":
    main()
