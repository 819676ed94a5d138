"""Lesson: files on the event loop (lessons/files.md).

The crawl's records go to stdout, read by a reader this script controls: a *fast* one that takes
everything at once, and a *stalling* one that stops reading for `--stall` every `--every`, as a
slow disk's writeback or a consumer busy elsewhere does. Once the pipe (64 KiB) is full, a write
to it blocks until the reader comes back. Three ways to write the records from the event loop:

- **plain**: each record written on the loop's own thread as it finishes, through Python's
  buffered file: simple, and a blocked write blocks the loop and every coroutine on it;
- **aiofiles**: each record `await file.write(line)`: aiofiles runs every call on a thread of
  the loop's executor, so the loop never blocks, at the price of a thread hop per record;
- **buffered**: the crawler's own writer (`AsyncJsonlSink`): records gathered into blocks of 256
  lines (or a second's worth), each block written on an executor thread: one hop per block.

Each is a real crawl (`crawler crawl`, default settings, the async strategy) of the mock site:
for `plain` and `aiofiles` the crawl runs in a child of this script with the crawler's writer
swapped for the alternative, which is all that differs. Pages/s and CPU come from the crawl's
summary, and so does the event loop's lag, measured by its heartbeat.

    .venv/bin/python benchmarks/lesson_files.py

writes lessons/results/files/{results.json,report.md,files.png}.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crawler.core.records import Record

# The measuring side's imports (matplotlib, the mock server, the crawler's compare) are made in
# the functions that need them: a child crawl starts as `crawler crawl` does, with the page
# analysis still to import, so that its CPU per page counts the same work as the default writer's.
OUT = Path(__file__).parent.parent / "lessons" / "results" / "files"
WRITERS = ("plain", "aiofiles", "buffered")
READERS = ("fast", "stalling")
COLOURS = {"plain": "#D55E00", "aiofiles": "#56B4E9", "buffered": "#009E73"}


class PlainSink:
    """Each record written on the loop's thread as it is finished (Python's buffered stdout)."""

    def __init__(self, path: str, before_write: object = None, on_records: object = None) -> None:
        self.path = path
        self.failure: Exception | None = None
        self._file = sys.stdout.buffer

    async def open(self) -> None:
        """Nothing to open: stdout is open."""

    def add(self, records: list[Record]) -> bool:
        """Write the records now, on the loop; never ask for a flush task."""
        for record in records:
            self._file.write((record.to_json() + "\n").encode())
        return False

    async def flush(self) -> None:
        """Push Python's buffer to the pipe (on the loop, so it may block it)."""
        self._file.flush()

    async def close(self) -> None:
        """Flush what is left."""
        self._file.flush()


class AiofilesSink:
    """Each record written with `await file.write(line)`, aiofiles' way: a thread hop per call."""

    def __init__(self, path: str, before_write: object = None, on_records: object = None) -> None:
        import aiofiles

        self._open = aiofiles.open
        self.path = path
        self.failure: Exception | None = None
        self._lines: collections.deque[bytes] = collections.deque()
        self._file: Any = None

    async def open(self) -> None:
        """Open stdout through aiofiles (its descriptor, left open at the end)."""
        self._file = await self._open(sys.stdout.fileno(), "ab", closefd=False)

    def add(self, records: list[Record]) -> bool:
        """Queue the records; every one is due at once."""
        self._lines.extend((record.to_json() + "\n").encode() for record in records)
        return bool(self._lines)

    async def flush(self) -> None:
        """Write the queued records one `await` each (more may arrive meanwhile: those too)."""
        while self._lines:
            await self._file.write(self._lines.popleft())
        await self._file.flush()

    async def close(self) -> None:
        """Write what is left and close the aiofiles wrapper."""
        await self.flush()
        await self._file.close()


def child(writer: str, arguments: list[str]) -> None:
    """Run `crawler crawl ARGUMENTS` with the writer swapped for `writer`'s."""
    import crawler.strategies.async_ as async_strategy
    from crawler.entry import main as crawler_main

    alternatives: dict[str, type] = {"plain": PlainSink, "aiofiles": AiofilesSink}
    if writer in alternatives:  # the module's global, which its crawl() looks up when it runs
        vars(async_strategy)["AsyncJsonlSink"] = alternatives[writer]
    sys.argv = ["crawler", "crawl", *arguments]
    crawler_main()


class Reader(threading.Thread):
    """Reads the crawl's stdout, pausing `stall` seconds every `every` (never, if `stall` is 0)."""

    def __init__(self, fd: int, stall: float, every: float) -> None:
        super().__init__(daemon=True)
        self.fd, self.stall, self.every = fd, stall, every
        self.bytes = 0

    def run(self) -> None:
        next_stall = time.monotonic() + self.every
        while chunk := os.read(self.fd, 1 << 16):
            self.bytes += len(chunk)
            if self.stall and time.monotonic() >= next_stall:
                time.sleep(self.stall)
                next_stall = time.monotonic() + self.every


def crawl(writer: str, base_url: str, pages: int, stall: float, every: float) -> dict[str, Any]:
    """Run one crawl writing its records to a reader; return its summary and the bytes read."""
    from common import CHILD_ENVIRONMENT

    with tempfile.TemporaryDirectory() as scratch:
        stats = Path(scratch) / "stats.json"
        arguments = [
            base_url, "--max-pages", str(pages), "--ignore-robots", "--quiet",
            "--output", "-", "--stats-json", str(stats),
        ]  # fmt: skip
        command = (
            [sys.executable, "-m", "crawler", "crawl", *arguments]
            if writer == "buffered"
            else [sys.executable, __file__, "--child", writer, "--", *arguments]
        )
        process = subprocess.Popen(command, stdout=subprocess.PIPE, env=CHILD_ENVIRONMENT)
        assert process.stdout is not None
        reader = Reader(process.stdout.fileno(), stall, every)
        reader.start()
        if process.wait(timeout=300) != 0:
            raise SystemExit(f"{writer}: the crawl exited {process.returncode}")
        reader.join()
        process.stdout.close()
        summary: dict[str, Any] = json.loads(stats.read_text())
    summary["bytes_read"] = reader.bytes
    return summary


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Crawl with every writer and reader, `args.repeat` times each, alternating writers."""
    from mock_server import MockServerProcess, load_settings

    site = load_settings(
        overrides={"pages": args.pages, "links": 20, "page_size": "4KB", "latency": "10ms"}
    )
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with MockServerProcess(site) as server:
        for reader in READERS:
            stall = args.stall if reader == "stalling" else 0.0
            for _ in range(args.repeat):
                for writer in WRITERS:  # alternated, so a noisy minute hurts all alike
                    run = crawl(writer, server.base_url, args.pages, stall, args.every)
                    runs.setdefault((writer, reader), []).append(run)
                    print(
                        f"{writer} / {reader}: {run['pages_per_s']} pages/s,"
                        f" loop lag p99 {run['loop_lag_ms']['p99']} ms",
                        file=sys.stderr,
                    )
    rows = []
    for (writer, reader), found in runs.items():
        rows.append(
            {
                "writer": writer,
                "reader": reader,
                "pages_per_s": statistics.median(run["pages_per_s"] for run in found),
                "pages_per_s_all": [run["pages_per_s"] for run in found],
                "loop_lag_p99_ms": statistics.median(run["loop_lag_ms"]["p99"] for run in found),
                "loop_lag_max_ms": statistics.median(run["loop_lag_ms"]["max"] for run in found),
                "cpu_us_per_page": round(
                    statistics.median(run["cpu_s"] / run["pages"] * 1e6 for run in found)
                ),
                "records_read": all(run["bytes_read"] > 0 for run in found),
            }
        )
    return rows


def chart(rows: list[dict[str, Any]], path: Path) -> None:
    """Draw pages/s and loop lag (p99) per writer, for each reader, side by side."""
    from matplotlib.figure import Figure

    from crawler.compare.charts import DPI

    figure = Figure(figsize=(8.4, 3.6), layout="constrained")
    rates, lags = figure.subplots(1, 2)
    width = 0.27
    for index, writer in enumerate(WRITERS):
        own = {row["reader"]: row for row in rows if row["writer"] == writer}
        places = [place + (index - 1) * width for place in range(len(READERS))]
        for axis, field in ((rates, "pages_per_s"), (lags, "loop_lag_p99_ms")):
            values = [own[reader][field] for reader in READERS]
            axis.bar(places, values, width, color=COLOURS[writer], label=writer)
            for place, value in zip(places, values, strict=True):
                axis.annotate(f"{value:,.0f}", (place, value), xytext=(0, 2),
                              textcoords="offset points", ha="center", fontsize=8)  # fmt: skip
    for axis, label in ((rates, "pages/s"), (lags, "event loop lag, p99 (ms)")):
        axis.set_xticks(range(len(READERS)), [f"{reader} reader" for reader in READERS])
        axis.set_ylabel(label)
        axis.set_ylim(0, max(axis.get_ylim()[1], 1) * 1.1)
        axis.grid(True, axis="y", alpha=0.3)
    rates.legend(fontsize=8, loc="lower left")
    figure.suptitle("Writing records from the event loop: three ways", fontweight="bold")
    figure.savefig(path, dpi=DPI)


def markdown(result: dict[str, Any]) -> str:
    """Return the report's table."""
    lines = [
        "# Files on the event loop: measured",
        "",
        f"`{result['command']}` at {result['revision']}, {result['machine']['date']},"
        f" {result['machine']['cores']} cores, Python {result['machine']['python']}."
        f" The stalling reader stops for {result['stall_s'] * 1000:g} ms every"
        f" {result['every_s']:g} s; {result['pages']} pages a crawl, median of {result['repeat']}.",
        "",
        "| reader | writer | pages/s | each repeat | loop lag p99 (ms) | loop lag max (ms)"
        " | CPU µs/page |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = sorted(result["rows"], key=lambda row: (row["reader"], WRITERS.index(row["writer"])))
    for row in rows:
        each = ", ".join(f"{value:,.0f}" for value in row["pages_per_s_all"])
        lines.append(
            f"| {row['reader']} | {row['writer']} | {row['pages_per_s']:,.0f} | {each}"
            f" | {row['loop_lag_p99_ms']:,.1f} | {row['loop_lag_max_ms']:,.1f}"
            f" | {row['cpu_us_per_page']:,} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        separator = sys.argv.index("--")
        child(sys.argv[2], sys.argv[separator + 1 :])
        return
    from common import command_line, git_revision, machine

    from command_kit.units import parse_duration

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--stall", type=parse_duration, default=parse_duration("300ms"))
    parser.add_argument("--every", type=parse_duration, default=parse_duration("1s"))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "command": command_line(),
        "revision": git_revision(),
        "machine": machine(),
        "repeat": args.repeat,
        "pages": args.pages,
        "stall_s": args.stall,
        "every_s": args.every,
        "rows": measure(args),
    }
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "report.md").write_text(markdown(result))
    chart(result["rows"], args.out / "files.png")
    print(markdown(result))


if __name__ == "__main__":
    main()
