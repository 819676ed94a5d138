"""Do the same crawls write the same records every run? Count the distinct record sets.

Two crawls where arrival order used to choose records, each run `--rounds` times by each of the
four strategies, every run a fresh `crawler crawl` process with default settings:
- httpbin's converging redirect chains: /redirect/3, /relative-redirect/3 and /absolute-redirect/3
  all end at /get, two of them through /relative-redirect/2;
- nginx serving a real documentation tree (Debian's docbook-xsl-doc-html, about 1,100 pages made
  by DocBook XSL), where many pages link one page from the same depth, so which of them is its
  `parent` was chosen by timing.

A record set is every record's (url, final_url, status, depth, parent, error); the crawl is
deterministic when each target has one record set over all its runs. Needs the conformance
suite's servers (scripts/install-system-packages).

    .venv/bin/python benchmarks/determinism.py [--rounds 25]

The crawls run the code of the current directory (`python -m crawler`), so running the script
from another checkout measures that one.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import command_line, git_revision, machine, write_results
from crawler.core.records import Record
from tests.conformance.crawls import STRATEGIES, run_crawler
from tests.conformance.servers import running_httpbin, running_nginx

CONVERGING = ["/redirect/3", "/relative-redirect/3", "/absolute-redirect/3"]

Signature = tuple[tuple[Any, ...], ...]


def signature(records: list[Record]) -> Signature:
    """Return what must not change between runs: each record but its timing, in URL order."""
    return tuple(
        sorted(
            (r.url, r.final_url, r.status, r.depth, r.parent, r.error and r.error.value)
            for r in records
        )
    )


def measure(rounds: int, workdir: Path) -> dict[str, Any]:
    """Crawl both targets `rounds` times with every strategy; count each one's record sets."""
    sets: dict[str, Counter[Signature]] = {"httpbin": Counter(), "nginx": Counter()}
    sizes: dict[str, int] = {}
    with running_httpbin(workdir / "httpbin") as httpbin, running_nginx(workdir / "nginx") as nginx:
        targets = {
            "httpbin": [httpbin + seed for seed in CONVERGING],
            "nginx": [nginx.origin("docbook-xsl") + "/index.html"],
        }
        for round_number in range(rounds):
            for strategy in STRATEGIES:
                for name, seeds in targets.items():
                    output = workdir / f"{name}-{strategy}-{round_number}.jsonl"
                    records = run_crawler(seeds, output, strategy).records
                    sets[name][signature(records)] += 1
                    sizes[name] = len(records)
            print(
                f"round {round_number + 1}/{rounds}: {[len(s) for s in sets.values()]} record sets"
            )
    return {
        name: {"runs": sum(counts.values()), "records": sizes[name], "record_sets": len(counts)}
        for name, counts in sets.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25, help="runs of each strategy (25)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        (workdir / "httpbin").mkdir()
        (workdir / "nginx").mkdir()
        targets = measure(args.rounds, workdir)
    result = {
        "command": command_line(),
        "revision": git_revision(),
        "machine": machine(),
        "targets": targets,
    }
    rows = "\n".join(
        f"| {name} | {t['runs']} | {t['records']} | {t['record_sets']} |"
        for name, t in targets.items()
    )
    markdown = f"""# Determinism: distinct record sets over repeated crawls

`{result["command"]}` at {result["revision"]}, {result["machine"]["date"]}: each target crawled
{args.rounds} times by each of the four strategies (default settings, a fresh process each). One
record set means every run wrote the same records (url, final_url, status, depth, parent, error).

| target | runs | records per run | distinct record sets |
|---|---|---|---|
{rows}
"""
    write_results("determinism", result, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
