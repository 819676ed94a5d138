"""Dispatch cost of the crawl core against the number of origins: 1 origin vs 10,000.

The core is driven directly, as a strategy would, with no network: one seed page links to
`--requests` URLs spread over N origins, 64 requests are kept in flight, and each completes with
a page of no links. What is timed is the core's own work per request (`next_request`, `sent`,
`complete`), so a core that scanned every origin on each dispatch would show it here.

    .venv/bin/python benchmarks/dispatch.py --repeat 5

writes benchmarks/results/dispatch.json and dispatch.md.
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import statistics
import subprocess
import time
from pathlib import Path

from crawler.core.engine import CrawlCore
from crawler.core.messages import Done, FetchRequest, FetchResponse, PageAnalysis
from crawler.core.policy import CrawlPolicy

RESULTS = Path(__file__).parent / "results"
IN_FLIGHT = 64
NO_LINKS = FetchResponse(
    200, 0.001, "text/html", body_bytes=4096, page=PageAnalysis("t", (), 0, simhash=1)
)


def seed_page(origins: int, requests: int) -> PageAnalysis:
    """Return the seed's page: `requests` links, dealt round-robin over `origins` origins."""
    links = tuple(
        (f"http://o{index % origins}.bench.test/p{index}", False) for index in range(requests)
    )
    return PageAnalysis("seed", links, len(links), simhash=1)


def drive(origins: int, requests: int) -> float:
    """Crawl the generated links; return the core's CPU seconds per request."""
    policy = CrawlPolicy(
        seeds=("http://o0.bench.test/",),
        concurrency=IN_FLIGHT,
        per_host=IN_FLIGHT,
        ignore_robots=True,
        allow_domains=("*.bench.test",),
        max_depth=2,
    )
    core = CrawlCore(policy)
    seed = core.next_request(0.0)
    assert isinstance(seed, FetchRequest)
    core.complete(
        seed, FetchResponse(200, 0.001, "text/html", page=seed_page(origins, requests)), 0
    )
    out: collections.deque[FetchRequest] = collections.deque()
    done = 0
    gc.collect()
    started = time.process_time()
    while True:
        step = core.next_request(0.0)
        if isinstance(step, FetchRequest):
            core.sent(step, 0.0)
            out.append(step)
            continue
        if isinstance(step, Done):
            break
        core.complete(out.popleft(), NO_LINKS, 0.0)  # the oldest answers first
        done += 1
    elapsed = time.process_time() - started
    core.take_records()
    assert done == requests, (done, requests)
    return elapsed / requests


def main() -> None:
    """Measure 1 and 10,000 origins, repeated; write the results files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    revision = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    rows = {}
    for origins in (1, 100, 10_000):
        runs = [drive(origins, args.requests) * 1e6 for _ in range(args.repeat)]
        rows[origins] = {
            "median_us": round(statistics.median(runs), 2),
            "min_us": round(min(runs), 2),
            "max_us": round(max(runs), 2),
        }
        print(f"{origins:>6} origins: {rows[origins]['median_us']:.2f} µs per request")
    ratio = rows[10_000]["median_us"] / rows[1]["median_us"]
    result = {
        "command": f"benchmarks/dispatch.py --requests {args.requests} --repeat {args.repeat}",
        "revision": revision,
        "in_flight": IN_FLIGHT,
        "requests": args.requests,
        "per_request_us": {str(origins): row for origins, row in rows.items()},
        "ratio_10000_to_1": round(ratio, 3),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "dispatch.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Dispatch cost against the number of origins",
        "",
        f"`{result['command']}` at revision {revision}: the core's CPU per request (next_request,",
        f"sent, complete), {args.requests:,} requests, {IN_FLIGHT} in flight, no network.",
        f"Median of {args.repeat} (min to max).",
        "",
        "| origins | µs per request |",
        "|---|---|",
        *(
            f"| {origins:,} | {row['median_us']:.2f} ({row['min_us']:.2f} to {row['max_us']:.2f}) |"
            for origins, row in rows.items()
        ),
        "",
        f"10,000 origins cost **{ratio:.2f}x** one origin per request (goal: within 1.5x).",
        "",
    ]
    (args.out / "dispatch.md").write_text("\n".join(lines))
    print(f"ratio 10,000 : 1 = {ratio:.2f}")


if __name__ == "__main__":
    main()
