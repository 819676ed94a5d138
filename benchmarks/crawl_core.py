"""Measure the async crawler's own costs, the mock server in its own process.

1. CPU time the crawler spends per page at zero latency on a 10,000-page site (goal: <= 150 us).
2. Throughput at 100 ms latency and concurrency 100, as a fraction of the ideal concurrency/latency
   (goal: >= 0.95).
3. Memory per URL held in the frontier and seen-set, at 1,000,000 URLs.

The crawls run in this process with the crawl's default page analysis (parsing, links and the
numpy near-duplicate fingerprint; no extra `--analysis-cost`). `benchmarks/defaults.py` measures
the same as whole processes, as a user runs them, beside bare aiohttp.

Run: `.venv/bin/python benchmarks/crawl_core.py [--repeat 5]`; writes results/crawl_core.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from common import command_line, git_revision, machine, spread, write_results

from crawler.core.engine import CrawlCore
from crawler.core.frontier import FrontierEntry, MemoryFrontier
from crawler.core.messages import Done, FetchRequest, FetchResponse
from crawler.pages.parse import analyze_page
from crawler.settings import load_crawl_settings
from crawler.strategies.async_ import AsyncStrategy
from crawler.strategies.context import RunContext
from mock_server import MockServerProcess, Site, load_settings


def crawl_once(base_url: str, output: Path, **settings: Any) -> dict[str, float]:
    """Crawl with the async strategy; return wall and CPU seconds, pages, and mean fetch latency."""
    crawl_settings = load_crawl_settings(
        overrides={"seeds": [base_url], "output": str(output), "quiet": True, **settings}
    )
    core = CrawlCore(crawl_settings.policy)
    gc.collect()
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    AsyncStrategy().run(core, crawl_settings, RunContext(str(output), handle_signals=False))
    latencies = core.stats.latencies
    return {
        "wall_s": time.perf_counter() - wall_before,
        "cpu_s": time.process_time() - cpu_before,
        "pages": core.stats.records,
        "mean_latency_s": sum(latencies) / len(latencies),
    }


def bare_aiohttp_cpu(urls: list[str], concurrency: int) -> float:
    """CPU seconds per page of plain aiohttp GETs of the same pages: the floor under any crawl."""

    async def main() -> float:
        gate = asyncio.Semaphore(concurrency)
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar()
        ) as session:

            async def one(url: str) -> None:
                async with gate, session.get(url, allow_redirects=False) as response:
                    await response.read()

            started = time.process_time()
            await asyncio.gather(*(one(url) for url in urls))
            return (time.process_time() - started) / len(urls)

    return uvloop.run(main())


def cpu_per_page(repeat: int, scratch: Path) -> dict[str, Any]:
    site = load_settings(overrides={"pages": 10_000, "links": 10, "page_size": "4KB"})
    runs = []
    with MockServerProcess(site) as server:
        urls = [Site(site.site, server.origins).page_url(page) for page in range(10_000)]
        # A first crawl makes the server render every page once.
        crawl_once(server.base_url, scratch / "warm.jsonl", concurrency=64, per_host=64)
        for _ in range(repeat):
            run = crawl_once(server.base_url, scratch / "cpu.jsonl", concurrency=64, per_host=64)
            wall, cpu, pages = run["wall_s"], run["cpu_s"], run["pages"]
            floor = bare_aiohttp_cpu(urls, 64)
            runs.append(
                {
                    "wall_s": wall,
                    "cpu_s": cpu,
                    "pages": pages,
                    "cpu_us_per_page": cpu / pages * 1e6,
                    "bare_aiohttp_cpu_us_per_page": floor * 1e6,
                    "ratio_to_bare_aiohttp": cpu / pages / floor,
                }
            )
    return {
        "site": "10,000 pages of 4 KB, 10 links each, zero latency",
        "settings": "concurrency 64, per host 64, uvloop",
        "cpu_us_per_page": spread([run["cpu_us_per_page"] for run in runs]),
        "bare_aiohttp_cpu_us_per_page": spread(
            [run["bare_aiohttp_cpu_us_per_page"] for run in runs]
        ),
        "ratio_to_bare_aiohttp": spread([run["ratio_to_bare_aiohttp"] for run in runs]),
        "pages_per_s": spread([run["pages"] / run["wall_s"] for run in runs]),
        "runs": runs,
        "goal_us": 150,
    }


def breakdown(pages: int = 10_000) -> dict[str, float]:
    """CPU per page of the crawler's own parts, without any network: where the time goes."""
    site = Site(load_settings(overrides={"pages": pages}).site)
    bodies = [(site.page_url(page), site.render_page(page)[0]) for page in range(pages)]
    started = time.process_time()
    analyses = {url: analyze_page(body, url, "text/html; charset=utf-8") for url, body in bodies}
    analyze_us = (time.process_time() - started) / pages * 1e6
    core = CrawlCore(
        load_crawl_settings(
            overrides={"seeds": [site.page_url(0)], "ignore_robots": True, "output": ""}
        ).policy
    )
    started = time.process_time()
    records = []
    while not isinstance(step := core.next_request(0.0), Done):
        if isinstance(step, FetchRequest):
            core.complete(
                step,
                FetchResponse(200, 0.001, "text/html", body_bytes=4096, page=analyses[step.url]),
                0.0,
            )
            records += core.take_records()
    core_us = (time.process_time() - started) / len(records) * 1e6
    started = time.process_time()
    for record in records:
        record.to_json()
    json_us = (time.process_time() - started) / len(records) * 1e6
    return {"analyze_page_us": analyze_us, "core_us": core_us, "record_json_us": json_us}


def throughput_vs_ideal(repeat: int, scratch: Path) -> dict[str, Any]:
    """Each repeat crawls a freshly started server, as `crawler compare` does."""
    latency, concurrency, pages = 0.1, 100, 10_000
    site = load_settings(overrides={"pages": pages, "links": 20, "latency": "100ms"})
    ideal = concurrency / latency
    runs = []
    for _ in range(repeat):
        with MockServerProcess(site) as server:
            run = crawl_once(
                server.base_url,
                scratch / "tp.jsonl",
                concurrency=concurrency,
                per_host=concurrency,
                ignore_robots=True,
            )
        rate = run["pages"] / run["wall_s"]
        runs.append(
            {
                **run,
                "pages_per_s": rate,
                "fraction_of_ideal": rate / ideal,
                "fraction_of_ideal_at_observed_latency": rate
                / (concurrency / run["mean_latency_s"]),
            }
        )
    return {
        "site": f"{pages:,} pages, 20 links each, constant 100 ms latency",
        "settings": f"concurrency {concurrency}, per host {concurrency}, robots ignored (one request per page)",
        "ideal_pages_per_s": ideal,
        "fraction_of_ideal": spread([run["fraction_of_ideal"] for run in runs]),
        "fraction_of_ideal_at_observed_latency": spread(
            [run["fraction_of_ideal_at_observed_latency"] for run in runs]
        ),
        "mean_latency_ms": spread([run["mean_latency_s"] * 1000 for run in runs]),
        "runs": runs,
        "goal": 0.95,
    }


def memory_per_url(count: int = 1_000_000) -> dict[str, Any]:
    frontier = MemoryFrontier()
    urls = [
        f"http://host-{index % 50}.example.com/section-{index % 97}/page-{index}.html"
        for index in range(count)
    ]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for index, url in enumerate(urls):
        frontier.add(FrontierEntry(url, index % 12, None))
    waiting = tracemalloc.get_traced_memory()[0] - before
    for origin in list(frontier.origins()):
        while frontier.pop(origin) is not None:
            pass
    seen_only = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return {
        "urls": count,
        "bytes_per_url_waiting": round(waiting / count, 1),
        "bytes_per_url_seen_only": round(seen_only / count, 1),
        "note": "waiting: URL queued in the frontier and in the seen-set (entry, URL string, digest); "
        "seen only: after it was fetched, only its 64-bit digest stays. The URL strings themselves "
        "are counted (they are made by the frontier's caller, but kept alive by the frontier).",
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        cpu = cpu_per_page(arguments.repeat, scratch)
        print("cpu", cpu["cpu_us_per_page"])
        throughput = throughput_vs_ideal(arguments.repeat, scratch)
        print("throughput", throughput["fraction_of_ideal"])
    cpu["breakdown"] = breakdown()
    print("breakdown", cpu["breakdown"])
    memory = memory_per_url()
    print("memory", memory)
    result = {
        "benchmark": "crawl_core",
        "command": command_line(),
        "revision": git_revision(),
        "machine": machine(),
        "cpu_per_page": cpu,
        "throughput": throughput,
        "memory": memory,
    }
    write_results("crawl_core", result, markdown(result))


def markdown(result: dict[str, Any]) -> str:
    cpu, tp, memory = result["cpu_per_page"], result["throughput"], result["memory"]
    return f"""# The async crawler's own costs

- Command: `{result["command"]}` (revision {result["revision"]})
- Machine: {result["machine"]["cores"]} cores, {result["machine"]["cpu"]}, Python {result["machine"]["python"]}, {result["machine"]["date"]}
- The mock server runs in its own process; times are medians of the repeats (min-max in brackets).

| measure | result | goal |
|---|---|---|
| crawler CPU per page, zero latency, 10,000 pages | {cpu["cpu_us_per_page"]["median"]:.0f} us ({cpu["cpu_us_per_page"]["min"]:.0f}-{cpu["cpu_us_per_page"]["max"]:.0f}) | <= 150 us |
| the same pages fetched by bare aiohttp GETs, same runs | {cpu["bare_aiohttp_cpu_us_per_page"]["median"]:.0f} us ({cpu["bare_aiohttp_cpu_us_per_page"]["min"]:.0f}-{cpu["bare_aiohttp_cpu_us_per_page"]["max"]:.0f}) | |
| crawler CPU / bare aiohttp CPU | {cpu["ratio_to_bare_aiohttp"]["median"]:.2f}x | |
| throughput at 100 ms latency, concurrency 100, as a fraction of 1,000 pages/s | {tp["fraction_of_ideal"]["median"]:.3f} ({tp["fraction_of_ideal"]["min"]:.3f}-{tp["fraction_of_ideal"]["max"]:.3f}) | >= 0.95 |
| the same, against concurrency / the mean latency the crawler observed ({tp["mean_latency_ms"]["median"]:.1f} ms) | {tp["fraction_of_ideal_at_observed_latency"]["median"]:.3f} ({tp["fraction_of_ideal_at_observed_latency"]["min"]:.3f}-{tp["fraction_of_ideal_at_observed_latency"]["max"]:.3f}) | |
| memory per URL waiting in the frontier (1,000,000 URLs) | {memory["bytes_per_url_waiting"]:.0f} bytes | |
| memory per URL once fetched (seen-set only) | {memory["bytes_per_url_seen_only"]:.0f} bytes | |

At zero latency the crawl is CPU-bound on one core, so the CPU per page is the whole cost of a page:
aiohttp's request and response handling (the bare-aiohttp row), parsing and link resolution
({cpu["breakdown"]["analyze_page_us"]:.0f} us per page measured alone: lexbor's parse, one CSS pass, resolving
~14 links, the numpy fingerprint; see `defaults.md` for each part), the core's bookkeeping
({cpu["breakdown"]["core_us"]:.0f} us per page alone: scope, dedup, scheduling, the record),
encoding the record ({cpu["breakdown"]["record_json_us"]:.0f} us), and what is left: the driver's
task per request, its wake-ups, and the writer thread. The 150 us goal is not met; the floor under any
aiohttp crawler here is the bare-aiohttp cost, and the ratio above is the honest measure of our overhead.

The throughput ideal (concurrency / latency) ignores two real costs: the ramp from one seed (one
page, then ~20, before the crawl can keep 100 requests in flight: about 0.3 s), and the ~1-2 ms of
client and server work every request adds to its 100 ms. A timeline of this crawl shows 97-100
requests in flight from 0.5 s to the end. Each repeat crawls a freshly started server: crawling the
same server again measured 0.87-0.89 instead of ~0.94, with the server's answers slowing (client
p50 101.5 ms, then 104.2, then 104.9) while its CPU fell from 4.7 s to 1.5 s per crawl (its pages
were cached). Disabling the server's garbage collector changed nothing; an idle vCPU's wake-up
latency on this VM is the likeliest cause, and it is a property of the machine, not of the crawler,
which keeps the full 100 requests in flight either way.
"""


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
