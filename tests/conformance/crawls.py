"""Run the crawler's CLI and wget as a user would, and reduce their output to comparable sets."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from crawler.core.records import Record

STRATEGIES = ("sync", "threads", "async", "async-procs", "loop")
# A bound on one crawl or one wget run, far above what any takes (seconds), so a hang fails.
RUN_TIMEOUT_S = 180.0


@dataclass(frozen=True, slots=True)
class CrawlResult:
    """The records a crawl wrote, and how long the whole command took."""

    records: list[Record]
    seconds: float


def run_crawler(seeds: list[str], output: Path, strategy: str, *options: str) -> CrawlResult:
    """Crawl `seeds` with the `crawler` CLI in a fresh process, as a user would."""
    command = [sys.executable, "-m", "crawler", "crawl", *seeds, "-o", str(output)]
    command += ["--strategy", strategy, "-q", "--workers", "2", *options]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    seconds = time.monotonic() - started
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}: {done.stderr}"
    lines = output.read_text(encoding="utf-8").splitlines()
    return CrawlResult([Record.from_json(line) for line in lines], seconds)


def run_wget(wget: str, seed: str, directory: Path) -> float:
    """Mirror the site under `seed` with wget into `directory`; return the seconds it took.

    wget exits 8 when some response was an error (a broken link): that is a finding to compare,
    not a failure of the run. Its files are saved flat (`-nd`, repeats numbered): in a tree, a
    redirect like /html -> /html/ would have to be both a file and a directory (exit 3).
    """
    command = [wget, "--recursive", "--level=inf", "--no-parent", "--no-verbose"]
    command += ["-nd", "-P", str(directory / "tree"), "-o", str(directory / "wget.log"), seed]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert done.returncode in (0, 8), f"wget exited {done.returncode}: {done.stderr}"
    return time.monotonic() - started


def path_of(url: str) -> str:
    """The path and query of a URL: what a server's access log shows as the request URI."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def is_html_page(record: Record) -> bool:
    """Tell whether the record is of an HTML page the server served (after any redirects)."""
    return record.status == 200 and (record.content_type or "").startswith("text/html")


Comparable = tuple[object, ...]


def comparable(record: Record) -> Comparable:
    """What must not depend on the strategy (nor on compression): everything but timing, the
    attempts a busy machine may add, and which of several shortest-path parents was first."""
    return (
        path_of(record.url),
        path_of(record.final_url) if record.final_url else None,
        record.status,
        record.depth,
        record.error,
        record.title,
        record.links,
        record.bytes,
        record.content_type,
        record.simhash,
        record.words,
    )
