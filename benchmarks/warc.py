"""What `--warc` costs per page: a default crawl with and without its archive, and the write alone.

The mock site in its own process (no latency). `crawler crawl` at default settings runs
`--repeat` times each way, alternated so a noisy minute hurts both alike; CPU per page is the
crawl's own (its summary's `cpu_s` over its records), throughput its `pages_per_s`, the median of
the repeats; the cost is the median of each repeat's difference (the pair ran a few seconds apart,
so a noisy minute on this shared machine moves both). With `--warc` the crawl fetches the same pages and writes each exchange as a response
and a request record, so the difference is what building, hashing, compressing and writing the
records cost. Beside it, the parts alone on the pages of the archive the last crawl wrote: the
whole write of one exchange (warcio's records, digests, ISA-L gzip, the file), and the gzip step
by zlib at level 6 (zlib's default, Heritrix's) against ISA-L at level 2 (what the archive uses).

    .venv/bin/python benchmarks/warc.py

writes benchmarks/results/warc.json and warc.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

from common import CHILD_ENVIRONMENT, command_line, git_revision, machine, write_results
from isal import isal_zlib
from warcio.archiveiterator import ArchiveIterator

from crawler.archive.archive_options import ArchiveOptions
from crawler.archive.warc import COMPRESSION_LEVEL, WarcArchive
from crawler.http.exchange import Exchange
from mock_server import MockServerProcess, load_settings


def crawl(base_url: str, pages: int, archive: Path | None) -> dict[str, Any]:
    """Run one default crawl (records to a file, as a user's would be); return its summary."""
    with tempfile.TemporaryDirectory() as scratch:
        stats = Path(scratch) / "stats.json"
        command = [sys.executable, "-m", "crawler", "crawl", base_url, "--max-pages", str(pages)]
        command += ["--quiet", "--output", str(Path(scratch) / "out.jsonl")]
        command += ["--stats-json", str(stats)] + (["--warc", str(archive)] if archive else [])
        subprocess.run(command, check=True, env=CHILD_ENVIRONMENT)
        summary: dict[str, Any] = json.loads(stats.read_text())
    return summary


def exchanges_in(archive: Path) -> list[Exchange]:
    """Return the archive's responses as the exchanges a client would hand over."""
    found = []
    with archive.open("rb") as file:
        for record in ArchiveIterator(file):
            if record.rec_type != "response":
                continue
            http = record.http_headers
            found.append(
                Exchange(
                    record.rec_headers.get_header("WARC-Target-URI"),
                    time.time(),
                    "GET /",
                    (("Host", "127.0.0.1"),),
                    http.protocol,
                    http.statusline,
                    tuple(http.headers),
                    record.raw_stream.read(),
                    None,
                    "127.0.0.1",
                )
            )
    return found


def write_cost(exchanges: list[Exchange], repeat: int) -> float:
    """Return the median CPU µs per exchange of archiving `exchanges` (every thread's CPU)."""
    costs = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as scratch:
            archive = WarcArchive(ArchiveOptions(str(Path(scratch) / "a.warc.gz")))
            archive.open()
            started = time.process_time()
            for exchange in exchanges:
                archive.add(exchange)
            archive.drain()
            costs.append((time.process_time() - started) / len(exchanges) * 1e6)
            archive.close()
    return statistics.median(costs)


def gzip_cost(bodies: list[bytes], compress: Any, level: int, repeat: int) -> tuple[float, float]:
    """Return the median CPU µs per body of gzipping `bodies`, and the size ratio."""
    costs, ratio = [], 0.0
    for _ in range(repeat):
        started = time.process_time()
        size = sum(len(compress(body, level, wbits=31)) for body in bodies)
        costs.append((time.process_time() - started) / len(bodies) * 1e6)
        ratio = size / sum(len(body) for body in bodies)
    return statistics.median(costs), ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    site = load_settings(overrides={"pages": args.pages, "latency": "0ms", "faults": "none"})
    cost: dict[str, list[float]] = {"without": [], "with": []}
    speed: dict[str, list[float]] = {"without": [], "with": []}
    bytes_per_page = 0.0
    with tempfile.TemporaryDirectory() as scratch, MockServerProcess(site) as server:
        archive = Path(scratch) / "crawl.warc.gz"
        for _ in range(args.repeat):
            for way in cost:
                summary = crawl(server.base_url, args.pages, archive if way == "with" else None)
                cost[way].append(summary["cpu_s"] / summary["pages"] * 1e6)
                speed[way].append(summary["pages_per_s"])
                if way == "with":
                    bytes_per_page = summary["warc"]["bytes"] / summary["pages"]
                print(f"{way}: {cost[way][-1]:.0f} µs/page", file=sys.stderr)
        exchanges = exchanges_in(archive)
    bodies = [exchange.body for exchange in exchanges]
    medians = {way: round(statistics.median(values)) for way, values in cost.items()}
    extra = round(
        statistics.median(a - b for a, b in zip(cost["with"], cost["without"], strict=True))
    )
    rates = {way: round(statistics.median(values)) for way, values in speed.items()}
    alone = write_cost(exchanges, args.repeat)
    compression = {
        "zlib level 6": gzip_cost(bodies, zlib.compress, 6, args.repeat),
        f"ISA-L level {COMPRESSION_LEVEL}": gzip_cost(
            bodies, isal_zlib.compress, COMPRESSION_LEVEL, args.repeat
        ),
    }
    mean_body = sum(map(len, bodies)) / len(bodies)
    result = {
        "command": command_line(),
        "revision": git_revision(),
        "machine": machine(),
        "pages": args.pages,
        "cpu_us_per_page": medians,
        "extra_cpu_us_per_page": extra,
        "pages_per_s": rates,
        "repeats": {way: [round(value) for value in values] for way, values in cost.items()},
        "archive_bytes_per_page": round(bytes_per_page),
        "write_us_per_exchange": round(alone, 1),
        "gzip_us_per_body": {name: round(value, 1) for name, (value, _) in compression.items()},
        "gzip_ratio": {name: round(ratio, 3) for name, (_, ratio) in compression.items()},
        "mean_body_bytes": round(mean_body),
    }
    markdown = "\n".join(
        [
            "# What --warc costs per page",
            "",
            f"`{result['command']}` at {result['revision']}, {result['machine']['date']}, "
            f"{result['machine']['cores']} cores; {args.pages} pages of the mock site (bodies of "
            f"{mean_body:,.0f} bytes on average), default settings, median of {args.repeat}.",
            "",
            "| crawl | CPU per page | pages/s | each repeat (µs/page) |",
            "|---|---|---|---|",
            *(
                f"| {way} `--warc` | {medians[way]} µs | {rates[way]:,} | "
                f"{', '.join(str(round(value)) for value in cost[way])} |"
                for way in cost
            ),
            "",
            f"Archiving each exchange: {extra} µs of CPU per page (the median of the repeats'"
            f" differences); the archive holds {bytes_per_page:,.0f} bytes per page.",
            "",
            f"The write alone (warcio's two records, their digests, gzip, the file): {alone:.0f}"
            " µs of CPU per exchange. Its gzip step by each library, per body:",
            "",
            "| gzip | CPU per body | compressed size |",
            "|---|---|---|",
            *(
                f"| {name} | {value:.1f} µs | {ratio:.1%} |"
                for name, (value, ratio) in compression.items()
            ),
            "",
        ]
    )
    write_results("warc", result, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
