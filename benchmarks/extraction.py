"""What `--extract` costs per page: a default crawl with and without extraction rules.

The mock site in its own process (no latency), `crawler crawl` at default settings, `--repeat`
times each way, alternated so a noisy minute hurts both alike; CPU per page is the crawl's own
(its summary's `cpu_s` over its pages), the median of the repeats.

    .venv/bin/python benchmarks/extraction.py

writes benchmarks/results/extraction.json and extraction.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import CHILD_ENVIRONMENT, command_line, git_revision, machine, write_results

from mock_server import MockServerProcess, load_settings

RULES = ["title=title::text", "heading=h1::text", "links=a::attr(href)", "prose=p *::text"]


def crawl(base_url: str, pages: int, rules: list[str]) -> dict[str, Any]:
    """Run one default crawl (records to a file, as a user's would be); return its summary."""
    with tempfile.TemporaryDirectory() as scratch:
        stats = Path(scratch) / "stats.json"
        command = [sys.executable, "-m", "crawler", "crawl", base_url, "--max-pages", str(pages)]
        command += ["--quiet", "--output", str(Path(scratch) / "out.jsonl")]
        command += ["--stats-json", str(stats)]
        command += [argument for rule in rules for argument in ("--extract", rule)]
        subprocess.run(command, check=True, env=CHILD_ENVIRONMENT)
        summary: dict[str, Any] = json.loads(stats.read_text())
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    site = load_settings(overrides={"pages": args.pages, "latency": "0ms", "faults": "none"})
    cost: dict[str, list[float]] = {"without": [], "with": []}
    with MockServerProcess(site) as server:
        for _ in range(args.repeat):
            for way, rules in (("without", []), ("with", RULES)):
                summary = crawl(server.base_url, args.pages, rules)
                cost[way].append(summary["cpu_s"] / summary["pages"] * 1e6)
                print(f"{way}: {cost[way][-1]:.0f} µs/page", file=sys.stderr)
    medians = {way: round(statistics.median(values)) for way, values in cost.items()}
    result = {
        "command": command_line(),
        "revision": git_revision(),
        "machine": machine(),
        "pages": args.pages,
        "rules": RULES,
        "cpu_us_per_page": medians,
        "repeats": {way: [round(value) for value in values] for way, values in cost.items()},
    }
    markdown = "\n".join(
        [
            "# What --extract costs per page",
            "",
            f"`{result['command']}` at {result['revision']}, {result['machine']['date']}, "
            f"{result['machine']['cores']} cores; {args.pages} pages, median of {args.repeat}.",
            f"Rules: {', '.join(f'`{rule}`' for rule in RULES)}.",
            "",
            "| crawl | CPU per page | each repeat |",
            "|---|---|---|",
            *(
                f"| {way} `--extract` | {medians[way]} µs | "
                f"{', '.join(str(round(value)) for value in cost[way])} |"
                for way in cost
            ),
            "",
            f"Extraction: {medians['with'] - medians['without']} µs per page.",
            "",
        ]
    )
    write_results("extraction", result, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
