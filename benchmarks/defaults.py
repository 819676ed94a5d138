"""Measure a crawl as users get it: `crawler crawl URL` at default settings, whole process.

The mock server runs in its own process; the crawler and the floor beside it (bare aiohttp GETs of
the same URLs, one session, the same concurrency) each run as a process of their own, and their
CPU is read from the kernel's accounting of that process (user + system, every thread), start-up
included. Nothing is switched off: robots.txt is read, every page is parsed, its links resolved and
its near-duplicate fingerprint computed, every record written.

1. CPU per page at zero latency, 10,000 pages, concurrency 64: crawler / bare aiohttp
   (goal <= 2.0x); also at the crawler's untouched defaults (concurrency 32, 16 per host).
2. Latency-bound: 100 ms per response, concurrency 100, 5,000 pages: pages/s over the whole
   process (spawn to exit, start-up and the first round trips included) as a fraction of
   concurrency / latency (goal >= 0.9), and in steady state (goal >= 0.95), read from the mock
   server's own count of answered requests between 20% and 80% of the pages.
3. Where the time goes: a profile of the same crawl run in this process, by component.

Run: `.venv/bin/python benchmarks/defaults.py [--repeat 5]`; writes results/defaults.{json,md}.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import CHILD_ENVIRONMENT, command_line, git_revision, machine, spread, write_results

from mock_server import MockServerProcess, Site, load_settings

CRAWLER = str(Path(sys.executable).with_name("crawler"))

# Bare aiohttp: the floor under any aiohttp crawler. Reads URLs from argv[1], prints its loop's CPU.
BARE_AIOHTTP = textwrap.dedent(
    """
    import asyncio, sys, time
    import aiohttp, uvloop

    async def main(urls, concurrency):
        gate = asyncio.Semaphore(concurrency)
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar()
        ) as session:
            async def one(url):
                async with gate, session.get(url, allow_redirects=False) as response:
                    await response.read()
            started = time.process_time()
            await asyncio.gather(*(one(url) for url in urls))
            return time.process_time() - started

    urls = open(sys.argv[1]).read().split()
    print(uvloop.run(main(urls, int(sys.argv[2]))))
    """
)


def wait_and_measure(
    command: list[str], sample: Callable[[], tuple[int, int]] | None = None
) -> dict[str, Any]:
    """Run `command`; return its wall and CPU seconds (the kernel's account of it) and stdout.

    With `sample`, it is called every 20 ms while the process runs, and what it returns is kept
    with the seconds since spawn: (seconds, *sample()).
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=CHILD_ENVIRONMENT
    )
    samples: list[tuple[float, int, int]] = []
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if sample is not None:
            samples.append((time.perf_counter() - started, *sample()))
        time.sleep(0.02)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.stdout is not None
    stdout = process.stdout.read().decode()
    if process.returncode != 0:
        raise RuntimeError(f"{command[:3]} exited with {process.returncode}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "stdout": stdout,
        "samples": samples,
    }


def server_counts(origin: str) -> Callable[[], tuple[int, int]]:
    """Return a sampler of the mock server's (requests answered, requests in flight)."""

    def sample() -> tuple[int, int]:
        with urllib.request.urlopen(f"{origin}/_stats", timeout=5) as response:
            stats = json.load(response)
        return stats["requests"] - stats["in_flight"], stats["in_flight"]

    return sample


def lines_of(path: Path) -> int:
    with path.open("rb") as lines:
        return sum(1 for _ in lines)


def crawl(
    url: str, output: Path, *flags: str, sample: Callable[[], tuple[int, int]] | None = None
) -> dict[str, Any]:
    """`crawler crawl URL -o OUTPUT [flags]`, measured; pages are the lines it wrote."""
    output.unlink(missing_ok=True)
    run = wait_and_measure([CRAWLER, "crawl", url, "-o", str(output), *flags], sample)
    run["pages"] = lines_of(output)
    return run


def bare_aiohttp(urls: list[str], concurrency: int, scratch: Path) -> dict[str, Any]:
    url_file = scratch / "urls.txt"
    url_file.write_text("\n".join(urls))
    run = wait_and_measure([sys.executable, "-c", BARE_AIOHTTP, str(url_file), str(concurrency)])
    run["loop_cpu_s"] = float(run["stdout"])
    return run


def cpu_per_page(repeat: int, scratch: Path) -> dict[str, Any]:
    pages = 10_000
    site = load_settings(overrides={"pages": pages})
    rows: dict[str, list[dict[str, float]]] = defaultdict(list)
    with MockServerProcess(site) as server:
        urls = [Site(site.site, server.origins).page_url(page) for page in range(pages)]
        # A first crawl makes the server render (and cache) every page once.
        crawl(server.base_url, scratch / "warm.jsonl", "--concurrency", "64", "--per-host", "64")
        for _ in range(repeat):
            floor = bare_aiohttp(urls, 64, scratch)
            for name, flags in (
                ("concurrency 64", ("--concurrency", "64", "--per-host", "64")),
                ("untouched defaults", ()),
            ):
                run = crawl(server.base_url, scratch / "cpu.jsonl", *flags)
                assert run["pages"] == pages, f"{name}: {run['pages']} records, not {pages}"
                rows[name].append(
                    {
                        "wall_s": run["wall_s"],
                        "cpu_us_per_page": run["cpu_s"] / pages * 1e6,
                        "ratio_to_bare_aiohttp": run["cpu_s"] / floor["cpu_s"],
                    }
                )
            rows["bare aiohttp"].append(
                {
                    "wall_s": floor["wall_s"],
                    "cpu_us_per_page": floor["cpu_s"] / pages * 1e6,
                    "loop_cpu_us_per_page": floor["loop_cpu_s"] / pages * 1e6,
                }
            )
    return {
        "site": f"{pages:,} pages of the default mock site (about 4.5 KB, 14 links each), zero latency",
        "rows": {
            name: {key: spread([run[key] for run in runs]) for key in runs[0]}
            for name, runs in rows.items()
        },
        "runs": rows,
        "goal_ratio": 2.0,
    }


def steady_state(samples: list[tuple[float, int, int]], pages: int) -> tuple[float, float]:
    """Pages/s the server answered between 20% and 80% of the pages, and the mean number of
    requests it held in flight meanwhile (NaN if the samples do not cover the window)."""
    window = [sample for sample in samples if 0.2 * pages <= sample[1] <= 0.8 * pages]
    if len(window) < 2 or window[-1][0] <= window[0][0]:
        return float("nan"), float("nan")
    rate = (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])
    return rate, sum(sample[2] for sample in window) / len(window)


def latency_bound(repeat: int, scratch: Path) -> dict[str, Any]:
    """Each repeat crawls a freshly started server, as `crawler compare` does."""
    latency, concurrency, pages = 0.1, 100, 5_000
    site = load_settings(overrides={"pages": pages, "latency": "100ms"})
    ideal = concurrency / latency
    runs = []
    for _ in range(repeat):
        with MockServerProcess(site) as server:
            run = crawl(
                server.base_url,
                scratch / "latency.jsonl",
                "--concurrency",
                str(concurrency),
                "--per-host",
                str(concurrency),
                sample=server_counts(server.origins[0]),
            )
        # The floor: the same URLs, known in advance, fetched by bare aiohttp at the same
        # concurrency (a fresh server each time, so both meet its first-visit costs).
        with MockServerProcess(site) as server:
            urls = [Site(site.site, server.origins).page_url(page) for page in range(pages)]
            floor = bare_aiohttp(urls, concurrency, scratch)
        steady, in_flight = steady_state(run["samples"], pages)
        runs.append(
            {
                "pages": run["pages"],
                "wall_s": run["wall_s"],
                "cpu_s": run["cpu_s"],
                "cpu_us_per_page": run["cpu_s"] / pages * 1e6,
                "bare_aiohttp_fraction": pages / floor["wall_s"] / ideal,
                "bare_aiohttp_cpu_us_per_page": floor["cpu_s"] / pages * 1e6,
                "whole_process_fraction": run["pages"] / run["wall_s"] / ideal,
                "steady_state_fraction": steady / ideal,
                "steady_state_in_flight": in_flight,
                "first_answer_s": next((t for t, n, _ in run["samples"] if n > 0), float("nan")),
            }
        )
    return {
        "site": f"{pages:,} pages of the default mock site, every response 100 ms late",
        "settings": f"--concurrency {concurrency} --per-host {concurrency}, otherwise defaults "
        "(robots.txt read first)",
        "ideal_pages_per_s": ideal,
        "whole_process_fraction": spread([run["whole_process_fraction"] for run in runs]),
        "steady_state_fraction": spread([run["steady_state_fraction"] for run in runs]),
        "steady_state_in_flight": spread([run["steady_state_in_flight"] for run in runs]),
        "first_answer_s": spread([run["first_answer_s"] for run in runs]),
        "cpu_us_per_page": spread([run["cpu_us_per_page"] for run in runs]),
        "bare_aiohttp_fraction": spread([run["bare_aiohttp_fraction"] for run in runs]),
        "bare_aiohttp_cpu_us_per_page": spread(
            [run["bare_aiohttp_cpu_us_per_page"] for run in runs]
        ),
        "runs": runs,
        "goals": {"whole_process": 0.9, "steady_state": 0.95},
    }


def breakdown(pages: int = 5_000, repeat: int = 3) -> dict[str, float]:
    """CPU per page of each part alone, on the mock site's own pages, no network: the budget.

    Each part is timed over every page, `repeat` times, keeping the fastest pass (the least
    disturbed by the machine's other work).
    """
    from selectolax.lexbor import LexborHTMLParser

    from crawler.core.engine import CrawlCore
    from crawler.core.messages import Done, FetchRequest, FetchResponse
    from crawler.pages.fingerprint import fingerprint
    from crawler.pages.parse import analyze_page
    from crawler.settings import load_crawl_settings

    site = Site(load_settings(overrides={"pages": pages}).site)
    bodies = [(site.page_url(page), site.render_page(page)[0]) for page in range(pages)]
    content_type = "text/html; charset=utf-8"
    analyses = {url: analyze_page(body, url, content_type) for url, body in bodies}
    proses = [
        " ".join(p.text(separator=" ") for p in LexborHTMLParser(body).css("p"))
        for _, body in bodies
    ]

    def fastest(work: Any) -> float:
        times = []
        for _ in range(repeat):
            started = time.process_time()
            work()
            times.append(time.process_time() - started)
        return min(times) / pages * 1e6

    def core_pass() -> None:
        core = CrawlCore(
            load_crawl_settings(
                overrides={"seeds": [site.page_url(0)], "ignore_robots": True, "output": ""}
            ).policy
        )
        while not isinstance(step := core.next_request(0.0), Done):
            if isinstance(step, FetchRequest):
                page = analyses[step.url]
                response = FetchResponse(200, 0.001, "text/html", body_bytes=4096, page=page)
                core.complete(step, response, 0.0)
                records.extend(core.take_records())

    def each_page(work: Any) -> Any:
        """A pass that keeps nothing alive: a page's tree is freed before the next is built."""
        return lambda: [None for url, body in bodies if work(url, body) is None]

    records: list[Any] = []
    core_pass()
    return {
        "lexbor_parse_us": fastest(each_page(lambda url, body: LexborHTMLParser(body))),
        "lexbor_parse_and_anchors_us": fastest(
            each_page(lambda url, body: LexborHTMLParser(body).css("a[href]"))
        ),
        "analyze_page_us": fastest(
            each_page(lambda url, body: analyze_page(body, url, content_type))
        ),
        "fingerprint_us": fastest(lambda: [None for prose in proses if fingerprint(prose) is None]),
        "core_us": fastest(lambda: (records.clear(), core_pass())),
        "record_json_us": fastest(lambda: [record.to_json() for record in records]),
    }


# Where a profiled function's time is counted: the first matching piece of its file's path.
COMPONENTS = (
    ("crawler/pages/fingerprint.py", "near-duplicate fingerprint (numpy)"),
    ("numpy", "near-duplicate fingerprint (numpy)"),
    ("crawler/pages/parse.py", "page analysis: lexbor parse, one CSS pass, charset"),
    ("selectolax", "page analysis: lexbor parse, one CSS pass, charset"),
    ("crawler/core/urls.py", "link resolution and normalization"),
    ("urllib/parse.py", "link resolution and normalization"),
    ("crawler/core/", "crawl core: scope, dedup, frontier, records"),
    ("crawler/http/", "HTTP client adapter (status, headers, decoding)"),
    ("aiohttp", "aiohttp client (request, response, connection pool)"),
    ("yarl", "aiohttp client (request, response, connection pool)"),
    ("multidict", "aiohttp client (request, response, connection pool)"),
    ("crawler/output/jsonl.py", "record output (JSON, the writer thread)"),
    ("json/", "record output (JSON, the writer thread)"),
    ("crawler/strategies/", "async driver: tasks, wake-ups, limits"),
    ("asyncio", "event loop (uvloop) and asyncio"),
    ("uvloop", "event loop (uvloop) and asyncio"),
)


def component_of(filename: str) -> str | None:
    for piece, name in COMPONENTS:
        if piece in filename:
            return name
    return None


def profile_shares(scratch: Path) -> dict[str, Any]:
    """Profile a default crawl (concurrency 64) in this process; tottime by component.

    Built-in functions (C code: lexbor's, numpy's, the socket calls) are counted with the
    component of the Python function that called them, in proportion to its calls.
    """
    from crawler.core.engine import CrawlCore
    from crawler.settings import load_crawl_settings
    from crawler.strategies.async_ import AsyncStrategy
    from crawler.strategies.context import RunContext

    pages = 5_000
    site = load_settings(overrides={"pages": pages})
    with MockServerProcess(site) as server:
        settings = load_crawl_settings(
            overrides={
                "seeds": [server.base_url],
                "output": str(scratch / "profiled.jsonl"),
                "quiet": True,
                "concurrency": 64,
                "per_host": 64,
            }
        )
        profiler = cProfile.Profile()
        profiler.enable()
        AsyncStrategy().run(
            CrawlCore(settings.policy), settings, RunContext(settings.output, handle_signals=False)
        )
        profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    shares: dict[str, float] = defaultdict(float)
    for (filename, _, _), (_, _, tottime, _, callers) in stats.items():
        component = component_of(filename)
        if component is None and filename == "~" and callers:
            total_calls = sum(caller[1] for caller in callers.values()) or 1
            for (caller_file, _, _), caller in callers.items():
                share = component_of(caller_file) or "other"
                shares[share] += tottime * caller[1] / total_calls
            continue
        shares[component or "other"] += tottime
    total = sum(shares.values())
    return {
        "pages": pages,
        "note": "cProfile adds a cost per Python call, so Python-heavy parts look larger here "
        "than they are; the shares say where to look, the CPU per page above says how much.",
        "shares": dict(
            sorted(((name, value / total) for name, value in shares.items()), key=lambda x: -x[1])
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    # The parts alone first, in a process that has done nothing else yet.
    parts = breakdown()
    print("breakdown", parts)
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        cpu = cpu_per_page(arguments.repeat, scratch)
        print("cpu", json.dumps(cpu["rows"], indent=1))
        latency = latency_bound(arguments.repeat, scratch)
        print("latency", latency["whole_process_fraction"], latency["steady_state_fraction"])
        profile = profile_shares(scratch)
        print("profile", profile["shares"])

    result = {
        "benchmark": "defaults",
        "command": command_line(),
        "revision": git_revision(),
        "machine": machine(),
        "cpu_per_page": cpu,
        "latency_bound": latency,
        "profile": profile,
        "breakdown": parts,
    }
    write_results("defaults", result, markdown(result))


def _cell(values: dict[str, float], digits: int = 0, unit: str = "") -> str:
    return (
        f"{values['median']:.{digits}f}{unit} "
        f"({values['min']:.{digits}f}-{values['max']:.{digits}f})"
    )


def what_binds(result: dict[str, Any]) -> list[str]:
    """The goals' arithmetic, from this run's own figures."""
    rows, parts, latency = (
        result["cpu_per_page"]["rows"],
        result["breakdown"],
        result["latency_bound"],
    )
    floor = rows["bare aiohttp"]["cpu_us_per_page"]["median"]
    crawler = rows["concurrency 64"]["cpu_us_per_page"]["median"]
    unskippable = (
        parts["lexbor_parse_and_anchors_us"]
        + parts["fingerprint_us"]
        + parts["core_us"]
        + parts["record_json_us"]
    )
    busy = latency["cpu_us_per_page"]["median"] * latency["ideal_pages_per_s"] / 1e6
    whole, steady = (
        latency["whole_process_fraction"]["median"],
        latency["steady_state_fraction"]["median"],
    )
    ideal_s = 5_000 / latency["ideal_pages_per_s"]
    lost_s = ideal_s / whole - ideal_s / steady
    return [
        "## What binds",
        "",
        f"- **CPU per page, goal 2.0x bare aiohttp.** 2.0x leaves {floor:.0f} us per page for all "
        f"the crawler does besides the GET. The parts it cannot skip cost {unskippable:.0f} us at "
        "their own floors, measured alone above (lexbor's parse and anchor selection, the "
        "fingerprint, the core's bookkeeping, the JSON line), which leaves "
        f"{max(0.0, floor - unskippable):.0f} us for reading the page's nodes and resolving its "
        "links in Python, and for the driver that hands each response to the core. Measured: "
        f"{crawler / floor:.1f}x, all on one core (the event loop's).",
        f"- **Latency-bound, goals 0.9 and 0.95.** In steady state the crawl keeps "
        f"{latency['steady_state_in_flight']['median']:.0f} of 100 requests at the server and "
        f"reaches {steady:.3f} of the ideal, although a response costs it "
        f"{latency['cpu_us_per_page']['median']:.0f} us of CPU at this latency (bare aiohttp "
        f"{latency['bare_aiohttp_cpu_us_per_page']['median']:.0f} us: responses arriving one by "
        f"one each pay their own wake-up and system calls), {busy:.0%} of its one core at the "
        f"ideal rate. Over the whole process it loses {lost_s:.2f} s against its steady rate: "
        f"start-up (the first answer, robots.txt, comes {latency['first_answer_s']['median']:.2f}"
        " s after spawn, its 100 ms included), then the seed alone and its links alone, before "
        "the frontier holds 100 URLs to send. Bare aiohttp, given every URL in advance, "
        f"reaches {latency['bare_aiohttp_fraction']['median']:.2f}"
        " of the ideal over its whole process on this machine.",
        "",
    ]


def markdown(result: dict[str, Any]) -> str:
    cpu, latency, profile = result["cpu_per_page"], result["latency_bound"], result["profile"]
    parts = result["breakdown"]
    rows = cpu["rows"]
    facts = result["machine"]
    lines = [
        "# A crawl at default settings, whole process",
        "",
        f"- Command: `{result['command']}` (revision {result['revision']})",
        f"- Machine: {facts['cores']} cores, {facts['cpu']}, Python {facts['python']}, {facts['date']}",
        "- The mock server runs in its own process. CPU is the kernel's account of each process "
        "(user + system, all threads, start-up included). Medians of the repeats, min-max in "
        "brackets; ratios are taken within one repeat, then the median.",
        "",
        f"## CPU per page: {cpu['site']}",
        "",
        "| process | CPU per page | wall | / bare aiohttp | goal |",
        "|---|---|---|---|---|",
        f"| `crawler crawl URL --concurrency 64 --per-host 64` | "
        f"{_cell(rows['concurrency 64']['cpu_us_per_page'], 0, ' us')} | "
        f"{_cell(rows['concurrency 64']['wall_s'], 2, ' s')} | "
        f"{_cell(rows['concurrency 64']['ratio_to_bare_aiohttp'], 2, 'x')} | <= 2.0x |",
        f"| `crawler crawl URL` (concurrency 32, 16 per host) | "
        f"{_cell(rows['untouched defaults']['cpu_us_per_page'], 0, ' us')} | "
        f"{_cell(rows['untouched defaults']['wall_s'], 2, ' s')} | "
        f"{_cell(rows['untouched defaults']['ratio_to_bare_aiohttp'], 2, 'x')} | |",
        f"| bare aiohttp GETs of the same URLs, concurrency 64 (the floor) | "
        f"{_cell(rows['bare aiohttp']['cpu_us_per_page'], 0, ' us')} | "
        f"{_cell(rows['bare aiohttp']['wall_s'], 2, ' s')} | 1x | |",
        f"| the same, its event loop only (no start-up) | "
        f"{_cell(rows['bare aiohttp']['loop_cpu_us_per_page'], 0, ' us')} | | | |",
        "",
        f"## Latency-bound: {latency['site']}",
        "",
        f"Settings: {latency['settings']}. Ideal: {latency['ideal_pages_per_s']:.0f} pages/s.",
        "",
        "| measure | fraction of concurrency / latency | goal |",
        "|---|---|---|",
        f"| whole process, spawn to exit | {_cell(latency['whole_process_fraction'], 3)} | >= 0.9 |",
        f"| steady state (the server's answers from 20% to 80% of the pages) | "
        f"{_cell(latency['steady_state_fraction'], 3)} | >= 0.95 |",
        f"| requests the server held in flight meanwhile (of {100}) | "
        f"{_cell(latency['steady_state_in_flight'], 1)} | |",
        f"| first answer (robots.txt) after spawn | {_cell(latency['first_answer_s'], 2, ' s')} | |",
        f"| the floor: bare aiohttp GETs of the same URLs, known in advance, whole process | "
        f"{_cell(latency['bare_aiohttp_fraction'], 3)} | |",
        "",
        "| CPU per page at 100 ms latency | crawler | bare aiohttp |",
        "|---|---|---|",
        f"| whole process | {_cell(latency['cpu_us_per_page'], 0, ' us')} | "
        f"{_cell(latency['bare_aiohttp_cpu_us_per_page'], 0, ' us')} |",
        "",
        "## The budget: each part alone, CPU per page, no network (fastest of 3 passes)",
        "",
        "| part | CPU per page |",
        "|---|---|",
        f"| bare aiohttp GET, its event loop only (from the table above) | {rows['bare aiohttp']['loop_cpu_us_per_page']['median']:.0f} us |",
        f"| lexbor parse alone | {parts['lexbor_parse_us']:.0f} us |",
        f"| lexbor parse + `css('a[href]')` alone (the parsing floor) | {parts['lexbor_parse_and_anchors_us']:.0f} us |",
        f"| `analyze_page` at defaults: parse, one CSS pass, links, fingerprint | {parts['analyze_page_us']:.0f} us |",
        f"| of which the near-duplicate fingerprint | {parts['fingerprint_us']:.0f} us |",
        f"| crawl core: scope, dedup, frontier, politeness, the record | {parts['core_us']:.0f} us |",
        f"| the record as a JSON line | {parts['record_json_us']:.0f} us |",
        "",
        *what_binds(result),
        f"## Where the time goes (a profile of the concurrency-64 crawl, {profile['pages']:,} pages)",
        "",
        "| component | share of profiled CPU |",
        "|---|---|",
        *(f"| {name} | {share:.1%} |" for name, share in profile["shares"].items()),
        "",
        profile["note"],
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
