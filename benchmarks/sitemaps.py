"""What `--sitemaps` costs per page: a default crawl with and without the site's sitemap, and the
sitemap parse alone.

The mock site in its own process (no latency) serves /sitemap.xml listing every page with a
lastmod (`--sitemaps` of mock-server). `crawler crawl` at default settings runs `--repeat` times
each way, alternated so a noisy minute hurts both alike; CPU per page is the crawl's own (its
summary's `cpu_s` over its records), the median of the repeats. With `--sitemaps` the crawl
fetches the same pages (and one sitemap), so the difference is what reading the sitemap and
queueing every URL it lists a second time cost. Beside it, the parse on its own: a 50,000-URL
sitemap, plain and gzip-compressed, CPU per entry.

    .venv/bin/python benchmarks/sitemaps.py

writes benchmarks/results/sitemaps.json and sitemaps.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import CHILD_ENVIRONMENT, command_line, git_revision, machine, write_results

from crawler.pages.page_options import PageOptions
from crawler.pages.sitemap import MAX_SITEMAP_URLS, analyze_sitemap
from mock_server import MockServerProcess, load_settings
from mock_server.site import Site


def crawl(base_url: str, pages: int, sitemaps: bool) -> dict[str, Any]:
    """Run one default crawl (records to a file, as a user's would be); return its summary."""
    with tempfile.TemporaryDirectory() as scratch:
        stats = Path(scratch) / "stats.json"
        command = [sys.executable, "-m", "crawler", "crawl", base_url, "--max-pages", str(pages)]
        command += ["--quiet", "--output", str(Path(scratch) / "out.jsonl")]
        command += ["--stats-json", str(stats)] + (["--sitemaps"] if sitemaps else [])
        subprocess.run(command, check=True, env=CHILD_ENVIRONMENT)
        summary: dict[str, Any] = json.loads(stats.read_text())
    return summary


def parse_cost(body: bytes, repeat: int) -> tuple[float, int]:
    """Return the median CPU µs per entry of reading `body`, and the entries it holds."""
    costs, entries = [], 0
    for _ in range(repeat):
        started = time.process_time()
        page = analyze_sitemap(
            body, "http://127.0.0.1/sitemap.xml", "application/xml", PageOptions()
        )
        entries = page.link_count
        costs.append((time.process_time() - started) / entries * 1e6)
    return statistics.median(costs), entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    site = load_settings(
        overrides={"pages": args.pages, "latency": "0ms", "faults": "none", "sitemaps": True}
    )
    cost: dict[str, list[float]] = {"without": [], "with": []}
    with MockServerProcess(site) as server:
        for _ in range(args.repeat):
            for way in cost:
                summary = crawl(server.base_url, args.pages, sitemaps=way == "with")
                cost[way].append(summary["cpu_s"] / summary["pages"] * 1e6)
                if way == "with":
                    assert summary["sitemaps"]["entries"] >= args.pages - 1, summary["sitemaps"]
                print(f"{way}: {cost[way][-1]:.0f} µs/page", file=sys.stderr)
    medians = {way: round(statistics.median(values)) for way, values in cost.items()}
    big = Site(load_settings(overrides={"pages": MAX_SITEMAP_URLS, "sitemaps": True}).site)
    plain = big.sitemap_xml(0)
    parse = {
        "plain": parse_cost(plain, args.repeat),
        "gzip": parse_cost(gzip.compress(plain, mtime=0), args.repeat),
    }
    result = {
        "command": command_line(),
        "revision": git_revision(),
        "machine": machine(),
        "pages": args.pages,
        "cpu_us_per_page": medians,
        "repeats": {way: [round(value) for value in values] for way, values in cost.items()},
        "parse_us_per_entry": {way: round(value, 2) for way, (value, _) in parse.items()},
        "parse_entries": parse["plain"][1],
        "parse_bytes": len(plain),
    }
    markdown = "\n".join(
        [
            "# What --sitemaps costs per page",
            "",
            f"`{result['command']}` at {result['revision']}, {result['machine']['date']}, "
            f"{result['machine']['cores']} cores; {args.pages} pages, median of {args.repeat}.",
            "",
            "| crawl | CPU per page | each repeat |",
            "|---|---|---|",
            *(
                f"| {way} `--sitemaps` | {medians[way]} µs | "
                f"{', '.join(str(round(value)) for value in cost[way])} |"
                for way in cost
            ),
            "",
            f"Reading the sitemap and queueing what it lists: "
            f"{medians['with'] - medians['without']} µs per page.",
            "",
            f"The parse alone, a sitemap of {parse['plain'][1]:,} URLs ({len(plain):,} bytes):"
            f" {parse['plain'][0]:.2f} µs per entry plain, {parse['gzip'][0]:.2f} µs gzip-compressed"
            " (median of the repeats).",
            "",
        ]
    )
    write_results("sitemaps", result, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
