"""Crawl the same sites with our crawler, Scrapy, Crawlee and wget, each at its default settings.

1. The mock site: 5,000 pages of ~4 KB, 10 links each, zero latency, served by its own process.
   Our crawler runs twice here: as it is, and with every core (`--processes 0`: one fetching
   process per core); Crawlee for Python (a ParselCrawler, in-memory storage) beside them.
2. Python's own documentation (Debian's python3-doc, Sphinx) served from disk by nginx.

Our crawler, Scrapy and Crawlee run at concurrency 100 (100 per host too), robots.txt off,
otherwise at their defaults; wget (one connection) recursive, robots off. Each crawl is one whole process, timed
from spawn to exit, its CPU (user + sys) taken from `os.wait4`; a crawl of the start URL alone
gives each tool's startup cost. Beside them, the floor: bare aiohttp GETs of the URLs the crawler
fetched (concurrency 100, in its own process; its CPU both timed alone and as the whole process),
and lexbor parsing the same HTML bodies and selecting their anchors. Goals: our crawler with every
core at >= 20x Scrapy's pages/s on the mock site, and at its defaults >= 10x on the
documentation.

Needs scripts/install-benchmark-packages (nginx, wget, python3-doc); installs Scrapy itself in
benchmarks/.scrapy-venv and Crawlee in benchmarks/.crawlee-venv. Run: `.venv/bin/python benchmarks/versus_scrapy.py [--repeat 3]`;
writes results/versus_scrapy.{json,md}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from common import CHILD_ENVIRONMENT, command_line, git_revision, machine, spread, write_results

from crawler.core.urls import normalize_url
from mock_server import MockServerProcess, load_settings

HERE = Path(__file__).resolve().parent
SCRAPY_VENV = HERE / ".scrapy-venv"
SPIDER = HERE / "scrapy_spider.py"
CRAWLEE_VENV = HERE / ".crawlee-venv"
CRAWLEE_SCRIPT = HERE / "crawlee_crawler.py"
CRAWLER = Path(sys.executable).parent / "crawler"
PYTHON_DOCS = Path("/usr/share/doc/python3/html")
INSTALL_HINT = "run scripts/install-benchmark-packages (as root) first"
CONCURRENCY = 100
MOCK_PAGES = 5_000
# The crawler's default; Python's documentation is 3 links deep from its index (5 in the order
# Scrapy discovers it), so every tool gets all of it under this limit.
DOCS_MAX_DEPTH = 10
GOALS = {"mock": 20, "docs": 10}
SCRAPY_SETTINGS = {
    "CONCURRENT_REQUESTS": CONCURRENCY,
    "CONCURRENT_REQUESTS_PER_DOMAIN": CONCURRENCY,
    "ROBOTSTXT_OBEY": False,
    "AUTOTHROTTLE_ENABLED": False,
    "LOG_LEVEL": "WARNING",
}
CRAWLER_OPTIONS = ["--quiet", "--ignore-robots", "--concurrency", f"{CONCURRENCY}"]
CRAWLER_OPTIONS += ["--per-host", f"{CONCURRENCY}"]  # its default, 16, would cap one site at 16
# Scrapy's own counters worth keeping beside each run.
SCRAPY_COUNTERS = ("downloader/request_count", "request_depth_max", "dupefilter/filtered")
ALL_CORES = ["--processes", "0"]
# The tools each site is crawled with: the documentation is where one core's parse binds, and the
# mock site where the whole crawler does, so every core and Crawlee run there.
TOOLS = {
    "mock": ("crawler", "crawler_all_cores", "crawlee", "scrapy", "wget"),
    "docs": ("crawler", "scrapy", "wget"),
}


# --- running a tool --------------------------------------------------------------------------


def measured(command: list[str], log: Path, ok: tuple[int, ...] = (0,)) -> dict[str, float]:
    """Run a command to its end; return its wall time from spawn to exit and its CPU seconds."""
    with log.open("wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=log.parent,
            env=CHILD_ENVIRONMENT,
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in ok:
        raise RuntimeError(f"{command[0]} exited {process.returncode}: {log.read_text()[-2000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime}


def is_html_200(status: int | None, content_type: str | None) -> bool:
    return status == 200 and (content_type or "").startswith("text/html")


def run_crawler(
    site: Target, work: Path, max_depth: int | None, follow: bool, extra: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Our crawler at its defaults (plus `extra`). Pages: its records of HTML answered 200."""
    output = work / "crawler.jsonl"
    depth = max_depth if follow else 0
    command = [str(CRAWLER), "crawl", site.start_url, "-o", str(output), *CRAWLER_OPTIONS, *extra]
    command += [] if depth is None else ["--max-depth", str(depth)]
    run = measured(command, work / "crawler.log")
    records = [json.loads(line) for line in output.read_text().splitlines()]
    pages = {
        record["final_url"] or record["url"]
        for record in records
        if is_html_200(record["status"], record["content_type"])
    }
    # A retry is a cost of the crawl worth seeing: name the URLs fetched more than once.
    retried = [
        {key: record[key] for key in ("url", "attempts", "elapsed_ms", "bytes", "error")}
        for record in records
        if record["attempts"] > 1
    ]
    return {
        **run,
        "page_set": pages,
        "records": len(records),
        "errors": Counter(record["error"] for record in records if record["error"]),
        "depth_max": max(record["depth"] for record in records),
        "retried": retried,
        "urls": [record["url"] for record in records],
    }


def run_scrapy(site: Target, work: Path, max_depth: int | None, follow: bool) -> dict[str, Any]:
    """Scrapy's CrawlSpider at its defaults. Pages: distinct URLs of its items of HTML."""
    items, stats = work / "scrapy.jsonl", work / "scrapy-stats.json"
    settings = {**SCRAPY_SETTINGS, **({"DEPTH_LIMIT": max_depth} if max_depth else {})}
    command = [str(SCRAPY_VENV / "bin" / "scrapy"), "runspider", str(SPIDER), "-O", str(items)]
    spider = {"start_url": site.start_url, "stats_path": stats, "follow": int(follow)}
    command += [option for key, value in spider.items() for option in ("-a", f"{key}={value}")]
    command += [option for key, value in settings.items() for option in ("-s", f"{key}={value}")]
    run = measured(command, work / "scrapy.log")
    rows = [json.loads(line) for line in items.read_text().splitlines()]
    # Scrapy requests the start URL again when a page links to it (start requests skip the
    # dupefilter), and keeps the URL as first written (%73 for s): count distinct normal forms.
    pages = {
        normalize_url(row["url"]) or row["url"]
        for row in rows
        if is_html_200(row["status"], row["content_type"])
    }
    counters = json.loads(stats.read_text())
    kept = {key: counters.get(key) for key in SCRAPY_COUNTERS}
    return {**run, "page_set": pages, "items": len(rows), **kept}


def run_crawler_all_cores(
    site: Target, work: Path, max_depth: int | None, follow: bool
) -> dict[str, Any]:
    """Our crawler with a fetching process per core, otherwise as run_crawler."""
    return run_crawler(site, work, max_depth, follow, tuple(ALL_CORES))


def run_crawlee(site: Target, work: Path, max_depth: int | None, follow: bool) -> dict[str, Any]:
    """Crawlee's ParselCrawler at its defaults (benchmarks/crawlee_crawler.py). Pages: distinct
    URLs of its items of HTML."""
    if max_depth is not None:
        raise ValueError("the Crawlee crawl takes no depth limit")  # the mock site needs none
    items = work / "crawlee.jsonl"
    command = [str(CRAWLEE_VENV / "bin" / "python"), str(CRAWLEE_SCRIPT), site.start_url]
    command += [str(items), str(CONCURRENCY), str(int(follow))]
    run = measured(command, work / "crawlee.log")
    rows = [json.loads(line) for line in items.read_text().splitlines()]
    pages = {
        normalize_url(row["url"]) or row["url"]
        for row in rows
        if is_html_200(row["status"], row["content_type"])
    }
    return {**run, "page_set": pages, "items": len(rows)}


WGET_SAVED = re.compile(r" URL: ?(\S+) \[[^\]]*\] -> ")


def run_wget(site: Target, work: Path, max_depth: int | None, follow: bool) -> dict[str, Any]:
    """wget, recursive, one connection. Pages: URLs it saved, HTML by the server's rule."""
    log, saved = work / "wget-urls.log", work / "wget"
    level = str(max_depth) if max_depth else "inf"
    recursion = ["--recursive", f"--level={level}", "--no-parent"] if follow else []
    command = ["wget", "-nv", "-o", str(log), "-e", "robots=off", "-P", str(saved), *recursion]
    command.append(site.start_url)
    # 8: some URL was answered with an error (a broken link), which is no failure of the crawl.
    run = measured(command, work / "wget.log", ok=(0, 8))
    urls = [match[1] for match in WGET_SAVED.finditer(log.read_text())]
    subprocess.run(["rm", "-rf", str(saved)], check=True)
    return {**run, "page_set": {normalize_url(u) or u for u in urls if site.is_html(u)}}


# --- the sites -------------------------------------------------------------------------------


class Target(Protocol):
    """**Protocol**: a site under test, whose server counts what it answered."""

    name: str
    start_url: str
    pids: list[int]

    def reset(self) -> None: ...
    def seen(self) -> dict[str, Any]: ...
    def is_html(self, url: str) -> bool: ...


class MockSite:
    """The mock site, whose /_stats counts the requests it answered."""

    name = "mock"

    def __init__(self, server: MockServerProcess) -> None:
        self.start_url, self.pids = server.base_url, server.pids

    def reset(self) -> None:
        request = urllib.request.Request(self.start_url + "_stats", method="DELETE")
        urllib.request.urlopen(request).close()

    def seen(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.start_url + "_stats") as answer:
            stats = json.load(answer)
        return {"server_requests": stats["requests"]}

    def is_html(self, url: str) -> bool:
        return True  # without faults, every page of the mock site is HTML


class NginxDocs:
    """Python's documentation served by nginx, whose access log says what it answered."""

    name = "docs"

    def __init__(self, port: int, pid: int, access_log: Path) -> None:
        self.start_url, self.pids, self.access_log = f"http://127.0.0.1:{port}/", [pid], access_log
        self.mark = 0

    def reset(self) -> None:
        self.mark = self.access_log.stat().st_size

    def seen(self) -> dict[str, Any]:
        with self.access_log.open() as log:
            log.seek(self.mark)
            lines = [line.rstrip("\n").split("\t") for line in log]
        html = {uri for status, uri, kind in lines if is_html_200(int(status), kind)}
        return {"server_requests": len(lines), "server_html_200": len(html)}

    def is_html(self, url: str) -> bool:
        # nginx's own rule (mime.types): the .html extension, and a directory's index.html.
        path = url.split("?", 1)[0]
        return path.endswith((".html", "/"))


@contextmanager
def nginx_docs(work: Path) -> Iterator[NginxDocs]:
    """Serve PYTHON_DOCS with nginx on a free loopback port, every file it writes in `work`."""
    if not (PYTHON_DOCS / "index.html").is_file():
        raise SystemExit(f"{PYTHON_DOCS}/index.html not found: {INSTALL_HINT}")
    nginx = nginx_program()
    built = subprocess.run([nginx, "-V"], capture_output=True, text=True, check=True).stderr
    temp_paths = " ".join(
        f"{module}_temp_path {work / module};"
        for module in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        if f"--without-http_{module}_module" not in built
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = work / "nginx.conf"
    config.write_text(
        f"daemon off; master_process off; worker_processes 1; pid {work / 'nginx.pid'};\n"
        f"events {{ worker_connections 1024; }}\n"
        f"http {{ include /etc/nginx/mime.types; default_type application/octet-stream;\n"
        f'  log_format bench "$status\\t$request_uri\\t$sent_http_content_type";\n'
        f"  access_log {work / 'access.log'} bench; {temp_paths} sendfile on;\n"
        f"  server {{ listen 127.0.0.1:{port}; root {PYTHON_DOCS}; }} }}\n"
    )
    error_log = work / "error.log"
    process = subprocess.Popen([nginx, "-p", str(work), "-c", str(config), "-e", str(error_log)])
    try:
        deadline = time.monotonic() + 30
        while not accepts(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start: {error_log.read_text()}")
            time.sleep(0.05)
        yield NginxDocs(port, process.pid, work / "access.log")
    finally:
        process.terminate()
        process.wait(10)


def nginx_program() -> str:
    found = [path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(path).exists()]
    return found[0] if found else "nginx"


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def process_cpu(pids: list[int]) -> float:
    """CPU seconds (user + sys) the processes have used so far, from /proc."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


# --- the floor -------------------------------------------------------------------------------

FLOOR_SCRIPT = """
import asyncio, json, sys, time
import aiohttp, uvloop
from selectolax.lexbor import LexborHTMLParser

urls, concurrency = json.loads(open(sys.argv[1]).read()), int(sys.argv[2])
bodies = []

async def fetch_all():
    gate = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as session:
        async def one(url):
            async with gate, session.get(url, allow_redirects=False) as response:
                body = await response.read()
                if response.status == 200 and response.content_type == "text/html":
                    bodies.append(body)
        await asyncio.gather(*(one(url) for url in urls))

cpu, wall = time.process_time(), time.perf_counter()
uvloop.run(fetch_all())
fetch_cpu, fetch_wall = time.process_time() - cpu, time.perf_counter() - wall
cpu = time.process_time()
anchors = sum(len(LexborHTMLParser(body).css("a[href]")) for body in bodies)
parse_cpu = time.process_time() - cpu
print(json.dumps({"urls": len(urls), "fetch_cpu_s": fetch_cpu, "fetch_wall_s": fetch_wall,
                  "html_pages": len(bodies), "parse_cpu_s": parse_cpu, "anchors": anchors}))
"""


def floor(urls: list[str], work: Path) -> dict[str, Any]:
    """Bare aiohttp GETs of `urls` in a fresh process, then lexbor over the HTML bodies."""
    job = work / "floor-urls.json"
    job.write_text(json.dumps(urls))
    command = [sys.executable, "-c", FLOOR_SCRIPT, str(job), str(CONCURRENCY)]
    log = work / "floor.log"
    run = measured(command, log)  # the whole process, start-up included
    result: dict[str, Any] = json.loads(log.read_text())
    return {**result, "process_wall_s": run["wall_s"], "process_cpu_s": run["cpu_s"]}


# --- the comparison --------------------------------------------------------------------------

RUNNERS: dict[str, Callable[[Target, Path, int | None, bool], dict[str, Any]]] = {
    "crawler": run_crawler,
    "crawler_all_cores": run_crawler_all_cores,
    "crawlee": run_crawlee,
    "scrapy": run_scrapy,
    "wget": run_wget,
}


def compare(site: Target, repeat: int, work: Path, max_depth: int | None) -> dict[str, Any]:
    """Crawl `site` with every tool, `repeat` times side by side; return runs and medians."""
    run_wget(site, work, max_depth, follow=True)  # warm the server's caches and the page cache
    tools = TOOLS[site.name]
    runs: dict[str, list[dict[str, Any]]] = {tool: [] for tool in (*tools, "floor")}
    page_sets: dict[str, set[str]] = {}
    crawled_urls: list[str] = []
    for index in range(repeat):
        for tool in tools:
            site.reset()
            server_cpu = process_cpu(site.pids)
            run = RUNNERS[tool](site, work, max_depth, True)
            run.update(site.seen(), server_cpu_s=process_cpu(site.pids) - server_cpu)
            startup = RUNNERS[tool](site, work, max_depth, False)
            run["startup_wall_s"], run["startup_cpu_s"] = startup["wall_s"], startup["cpu_s"]
            page_sets[tool] = run.pop("page_set")
            crawled_urls = run.pop("urls", crawled_urls)
            runs[tool].append({**run, "pages": len(page_sets[tool])})
            print(site.name, index, tool, runs[tool][-1], flush=True)
        runs["floor"].append(floor(crawled_urls, work))
        print(site.name, index, "floor", runs["floor"][-1], flush=True)
    return {
        "start_url": site.start_url,
        "summary": summarize(runs, tools),
        "runs": runs,
        "differences": differences(page_sets),
    }


def summarize(
    runs: dict[str, list[dict[str, Any]]], tools: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """Medians (min-max) per tool; ratios to Scrapy (and Crawlee) are taken within each repeat,
    and our crawler's CPU per page over the floor's (whole processes both) too."""
    scrapy_rates = [run["pages"] / run["wall_s"] for run in runs["scrapy"]]
    floor_cpu = [run["process_cpu_s"] / run["urls"] for run in runs["floor"]]
    summary = {}
    for tool in tools:
        rates = [run["pages"] / run["wall_s"] for run in runs[tool]]
        summary[tool] = {
            "pages": spread([run["pages"] for run in runs[tool]]),
            "wall_s": spread([run["wall_s"] for run in runs[tool]]),
            "pages_per_s": spread(rates),
            "cpu_ms_per_page": spread([run["cpu_s"] / run["pages"] * 1e3 for run in runs[tool]]),
            "server_cpu_ms_per_page": spread(
                [run["server_cpu_s"] / run["pages"] * 1e3 for run in runs[tool]]
            ),
            "startup_wall_s": spread([run["startup_wall_s"] for run in runs[tool]]),
            "startup_cpu_s": spread([run["startup_cpu_s"] for run in runs[tool]]),
            "ratio_to_scrapy": spread([a / b for a, b in zip(rates, scrapy_rates, strict=True)]),
        }
        if tool.startswith("crawler"):
            per_page = [run["cpu_s"] / run["pages"] for run in runs[tool]]
            summary[tool]["cpu_over_floor"] = spread(
                [a / b for a, b in zip(per_page, floor_cpu, strict=True)]
            )
    if "crawlee" in tools:
        crawlee_rates = [run["pages"] / run["wall_s"] for run in runs["crawlee"]]
        for tool in tools:
            rates = [run["pages"] / run["wall_s"] for run in runs[tool]]
            summary[tool]["ratio_to_crawlee"] = spread(
                [a / b for a, b in zip(rates, crawlee_rates, strict=True)]
            )
    floors = runs["floor"]
    fetch_rates = [run["urls"] / run["fetch_wall_s"] for run in floors]
    summary["bare_aiohttp"] = {
        "pages": spread([run["urls"] for run in floors]),
        "wall_s": spread([run["fetch_wall_s"] for run in floors]),
        "pages_per_s": spread(fetch_rates),
        "cpu_ms_per_page": spread([run["fetch_cpu_s"] / run["urls"] * 1e3 for run in floors]),
        "process_cpu_ms_per_page": spread(
            [run["process_cpu_s"] / run["urls"] * 1e3 for run in floors]
        ),
        "ratio_to_scrapy": spread([a / b for a, b in zip(fetch_rates, scrapy_rates, strict=True)]),
    }
    summary["lexbor_parse"] = {
        "pages": spread([run["html_pages"] for run in floors]),
        "cpu_ms_per_page": spread([run["parse_cpu_s"] / run["html_pages"] * 1e3 for run in floors]),
        "anchors_per_page": statistics.median(run["anchors"] / run["html_pages"] for run in floors),
    }
    return summary


def differences(page_sets: dict[str, set[str]]) -> dict[str, Any]:
    """Pages one tool counted and the crawler did not, and the reverse (the last repeat)."""
    ours = page_sets["crawler"]
    result = {}
    for tool in (tool for tool in page_sets if tool != "crawler"):
        extra, missing = page_sets[tool] - ours, ours - page_sets[tool]
        result[f"only_{tool}"] = {"count": len(extra), "examples": sorted(extra)[:5]}
        result[f"not_{tool}"] = {"count": len(missing), "examples": sorted(missing)[:5]}
    return result


def ensure_scrapy() -> dict[str, str]:
    """Install Scrapy in its own virtualenv unless it is there; return its versions."""
    python = SCRAPY_VENV / "bin" / "python"
    if not python.exists() or subprocess.run([python, "-c", "import scrapy"]).returncode != 0:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(SCRAPY_VENV)], check=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "scrapy"], check=True)
    report = subprocess.run(
        [SCRAPY_VENV / "bin" / "scrapy", "version", "-v"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        name.strip(): value.strip()
        for name, value in (line.split(":", 1) for line in report.splitlines() if ":" in line)
    }


def ensure_crawlee() -> dict[str, str]:
    """Install Crawlee (with parsel) in its own virtualenv unless it is there; return versions."""
    python = CRAWLEE_VENV / "bin" / "python"
    probe = [python, "-c", "import crawlee.crawlers, parsel"]
    if not python.exists() or subprocess.run(probe, capture_output=True).returncode != 0:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(CRAWLEE_VENV)], check=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "crawlee[parsel]"], check=True)
    names = ("crawlee", "parsel", "impit", "lxml")
    report = subprocess.run(
        [
            python,
            "-c",
            f"import importlib.metadata as m; [print(n, m.version(n)) for n in {names}]",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split(" ", 1) for line in report.splitlines())


def code_state() -> dict[str, Any]:
    """Name the tracked files that differ from the revision, and hash the code that runs (every
    Python file outside tests and benchmarks): taken before and after the run, the hash tells
    whether the code measured changed while it ran."""
    git = ["git", "-C", str(HERE.parent)]
    status = subprocess.run(
        [*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    ).stdout
    listed = subprocess.run(
        [*git, "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        capture_output=True,
        text=True,
    ).stdout
    digest = hashlib.sha256()
    for name in sorted(listed.splitlines()):
        path = HERE.parent / name
        if not name.startswith(("tests/", "benchmarks/")) and path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes())
    return {
        "uncommitted": [line[3:] for line in status.splitlines()],
        "code_sha256": digest.hexdigest()[:16],
    }


def peer_versions() -> dict[str, str]:
    wget = subprocess.run(["wget", "--version"], capture_output=True, text=True, check=True)
    nginx = subprocess.run([nginx_program(), "-v"], capture_output=True, text=True, check=True)
    return {
        "wget": " ".join(wget.stdout.split()[:3]),
        "nginx": nginx.stderr.strip().rsplit(" ", 1)[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the Markdown from the JSON results"
    )
    arguments = parser.parse_args()
    if arguments.report_only:
        result = json.loads((HERE / "results" / "versus_scrapy.json").read_text())
        write_results("versus_scrapy", result, markdown(result))
        return
    versions = {"scrapy": ensure_scrapy(), "crawlee": ensure_crawlee(), **peer_versions()}
    code_before = code_state()
    print("versions", versions, flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        site_settings = load_settings(overrides={"pages": MOCK_PAGES})
        with MockServerProcess(site_settings) as server:
            mock = compare(MockSite(server), arguments.repeat, work, None)
        with nginx_docs(work) as docs_site:
            docs = compare(docs_site, arguments.repeat, work, DOCS_MAX_DEPTH)
    mock_counts = {tool: mock["summary"][tool]["pages"] for tool in TOOLS["mock"] if tool != "wget"}
    agreed = all(c["min"] == c["max"] == MOCK_PAGES for c in mock_counts.values())
    result = {
        "benchmark": "versus_scrapy",
        "command": command_line(),
        "revision": git_revision(),
        "code": {"before": code_before, "after": code_state()},
        "machine": machine(),
        "versions": versions,
        "settings": {
            "crawler": CRAWLER_OPTIONS,
            "crawler_all_cores": CRAWLER_OPTIONS + ALL_CORES,
            "crawlee": {"concurrency": CONCURRENCY, "storage": "MemoryStorageClient"},
            "scrapy": SCRAPY_SETTINGS,
            "docs_max_depth": DOCS_MAX_DEPTH,
            "mock_pages": MOCK_PAGES,
        },
        "goals": GOALS,
        "mock_page_counts_agree": agreed,
        "mock": mock,
        "docs": docs,
    }
    write_results("versus_scrapy", result, markdown(result))
    if not agreed:
        raise SystemExit(f"the crawlers disagree on the mock site: {mock_counts}")


# --- the report ------------------------------------------------------------------------------

ROW_NAMES = {
    "crawler": "**our crawler**",
    "crawler_all_cores": "**our crawler, every core** (`--processes 0`)",
    "crawlee": "Crawlee (ParselCrawler, in memory)",
    "scrapy": "Scrapy",
    "wget": "wget (one connection)",
    "bare_aiohttp": "floor: bare aiohttp GETs of the crawler's URLs",
    "lexbor_parse": "floor: lexbor parse + `a[href]` of the HTML bodies",
}


def cell(values: dict[str, float] | None, digits: int) -> str:
    """A median with its min-max, or a dash."""
    if values is None:
        return "—"
    median, low, high = (f"{values[key]:,.{digits}f}" for key in ("median", "min", "max"))
    return median if low == high else f"{median} ({low}-{high})"


def table(summary: dict[str, dict[str, Any]]) -> str:
    with_crawlee = "crawlee" in summary
    rows = [
        "| tool | pages | wall s | pages/s | CPU ms/page | startup wall s / CPU s "
        "| server CPU ms/page | pages/s vs Scrapy |" + (" vs Crawlee |" if with_crawlee else ""),
        "|---|---|---|---|---|---|---|---|" + ("---|" if with_crawlee else ""),
    ]
    for tool, name in ROW_NAMES.items():
        if tool not in summary:
            continue
        row = summary[tool]
        startup = (
            f"{cell(row['startup_wall_s'], 2)} / {cell(row['startup_cpu_s'], 2)}"
            if "startup_wall_s" in row
            else "—"
        )
        ratio = row.get("ratio_to_scrapy")
        rows.append(
            f"| {name} | {cell(row['pages'], 0)} | {cell(row.get('wall_s'), 2)} "
            f"| {cell(row.get('pages_per_s'), 0)} | {cell(row['cpu_ms_per_page'], 2)} | {startup} "
            f"| {cell(row.get('server_cpu_ms_per_page'), 2)} "
            f"| {cell(ratio, 2) + 'x' if ratio else '—'} |"
        )
        if with_crawlee:
            to_crawlee = row.get("ratio_to_crawlee")
            rows[-1] += f" {cell(to_crawlee, 2) + 'x' if to_crawlee else '—'} |"
    return "\n".join(rows)


def goal_line(site: dict[str, Any], goal: int, tool: str = "crawler") -> str:
    ratio = site["summary"][tool]["ratio_to_scrapy"]["median"]
    verdict = "met" if ratio >= goal else "**not met**"
    who = "our crawler with every core" if tool == "crawler_all_cores" else "our crawler"
    return f"Goal: {who} at >= {goal}x Scrapy's pages/s. Measured: {ratio:.2f}x, {verdict}."


def fleet_lines(mock: dict[str, Any], cores: int) -> str:
    """What every core bought on the mock site, and its CPU per page against bare aiohttp."""
    summary = mock["summary"]
    one, every = summary["crawler"], summary["crawler_all_cores"]
    floor = summary["bare_aiohttp"]
    shared = (every["cpu_ms_per_page"]["median"] + every["server_cpu_ms_per_page"]["median"]) / 1e3
    scrapy_rate = summary["scrapy"]["pages_per_s"]["median"]
    floor_and_server = (
        floor["process_cpu_ms_per_page"]["median"] + every["server_cpu_ms_per_page"]["median"]
    )
    speedup = every["pages_per_s"]["median"] / one["pages_per_s"]["median"]
    return (
        f"With every core (a fetching process per core, {cores} here) our crawler reaches"
        f" {every['pages_per_s']['median']:,.0f} pages/s against {one['pages_per_s']['median']:,.0f}"
        f" on one event loop ({speedup:.2f}x), {every['ratio_to_crawlee']['median']:.2f}x Crawlee's"
        f" pages/s (one loop: {one['ratio_to_crawlee']['median']:.2f}x). The whole fleet (the crawl"
        f" process and its fetchers, CPU from `os.wait4`, which counts the fetchers the crawl waits"
        f" for) costs {every['cpu_ms_per_page']['median'] * 1e3:,.0f} us of CPU a page,"
        f" {every['cpu_over_floor']['median']:.2f}x the bare aiohttp floor's whole process"
        f" ({floor['process_cpu_ms_per_page']['median'] * 1e3:,.0f} us a page, start-up included;"
        f" {floor['cpu_ms_per_page']['median'] * 1e3:,.0f} us for the GETs alone), where one event"
        f" loop costs {one['cpu_ms_per_page']['median'] * 1e3:,.0f} us"
        f" ({one['cpu_over_floor']['median']:.2f}x). The mock server, on the same {cores} cores,"
        f" spends {every['server_cpu_ms_per_page']['median'] * 1e3:,.0f} us a page."
        f"\n\nWhat binds with every core: all {cores} cores, and start-up. The fleet and the server"
        f" together need {shared * 1e6:,.0f} us of CPU a page, so {cores} cores give at most"
        f" {cores / shared:,.0f} pages/s once running; starting the fleet (the crawl process, then"
        f" a fetching process per core importing aiohttp and the parser) takes"
        f" {every['startup_wall_s']['median']:.2f} s of the {every['wall_s']['median']:.2f} s crawl."
        f" {GOALS['mock']}x Scrapy's median here is {GOALS['mock'] * scrapy_rate:,.0f} pages/s: with"
        f" no start-up at all it asks for {cores / (GOALS['mock'] * scrapy_rate) * 1e6:,.0f} us of"
        f" CPU a page, the server's included, where bare aiohttp and lexbor alone take"
        f" {floor_and_server * 1e3:,.0f} us with the server's (the floor's whole process, its"
        " parse included, and the server at its cost beside our crawler)."
    )


def markdown(result: dict[str, Any]) -> str:
    facts, versions, settings = result["machine"], result["versions"], result["settings"]
    scrapy = versions["scrapy"]
    mock, docs = result["mock"], result["docs"]
    logged = {
        tool: f"{statistics.median(run['server_requests'] for run in docs['runs'][tool]):,.0f}"
        for tool in TOOLS["docs"]
    }
    diff = docs["differences"]
    retried = [
        ", ".join(f"{r['url']} ({r['bytes']:,} bytes, {r['elapsed_ms'] / 1e3:.1f} s)" for r in run)
        or "none"
        for run in (run["retried"] for run in docs["runs"]["crawler"])
    ]
    errors = ", ".join(
        f"`{kind}` {count}" for kind, count in sorted(docs["runs"]["crawler"][-1]["errors"].items())
    )
    scrapy_settings = ", ".join(f"`{key}={value}`" for key, value in settings["scrapy"].items())
    deepest = {
        tool: max(run[key] for run in docs["runs"][tool])
        for tool, key in (("crawler", "depth_max"), ("scrapy", "request_depth_max"))
    }
    before, after = result["code"]["before"], result["code"]["after"]
    changed = after["uncommitted"]
    changes = f", with uncommitted changes to {', '.join(changed)}" if changed else ""
    if before["code_sha256"] != after["code_sha256"]:
        changes += "; **the code changed during the run**, so the runs straddle versions"
    crawlee = versions["crawlee"]
    return f"""# Our crawler beside Scrapy, Crawlee and wget, each at its default settings

- Command: `{result["command"]}` (revision {result["revision"]}{changes})
- Machine: {facts["cores"]} cores, {facts["cpu"]}, Python {facts["python"]}, {facts["date"]}
- Peers: Scrapy {scrapy.get("Scrapy")} (Twisted {scrapy.get("Twisted")}, lxml {scrapy.get("lxml")},
  the same Python), Crawlee {crawlee.get("crawlee")} (parsel {crawlee.get("parsel")}, impit
  {crawlee.get("impit")}, the same Python), {versions["wget"]}, {versions["nginx"]}
- Our crawler: `crawler crawl URL -o FILE --concurrency 100 --per-host 100 --ignore-robots --quiet`,
  every other option at its default (the page's SimHash fingerprint included): the `async`
  strategy, one event loop. On the mock site also with every core, the same command plus
  `--processes 0`: the crawl decided in one process, a fetching process per core doing the GETs
  and the parsing.
- Scrapy: a CrawlSpider whose one `Rule(LinkExtractor(), follow=True)` follows every link on the
  start URL's host, one item per page (url, status, title, content type) to a JSON Lines feed
  (`benchmarks/scrapy_spider.py`), run by `scrapy runspider` with {scrapy_settings}; every other
  setting at its default.
- Crawlee (mock site only): a ParselCrawler whose one handler pushes an item per page (the same
  fields) to its dataset and calls `enqueue_links()` (same hostname, its default), with
  `MemoryStorageClient` and `ConcurrencySettings` of 100 (minimum, desired and maximum), robots.txt
  not read (its default); the items written as JSON Lines at the end
  (`benchmarks/crawlee_crawler.py`); every other setting at its default.
- wget: `wget -nv -r --level=inf --no-parent -e robots=off -P DIR URL` (`--level=10` on the
  documentation): one connection, every file saved.
- Each crawl is one whole process from spawn to exit, startup included: its wall time, and its CPU
  (user + sys) from `os.wait4`. "startup" is the same command fetching the start URL alone. Server
  CPU is read from /proc around each crawl. The tools run one after another; medians of
  {len(mock["runs"]["crawler"])} repeats, min-max in brackets; ratios to Scrapy are taken within
  each repeat.
- The floors run in a process of their own, on the URLs our crawler fetched in the same repeat,
  and count only the timed part (no interpreter startup): aiohttp GETs at concurrency 100 on
  uvloop, then `LexborHTMLParser(body).css("a[href]")` over the HTML bodies. The CPU per page of
  our crawler against bare aiohttp is taken against the floor's whole process (start-up and the
  parse included, CPU from `os.wait4`), as the crawler's is.

## The mock site: {settings["mock_pages"]:,} pages of ~4 KB, 10 links each, zero latency, its own process

{table(mock["summary"])}

{goal_line(mock, GOALS["mock"], "crawler_all_cores")} At its defaults, on one event loop: {mock["summary"]["crawler"]["ratio_to_scrapy"]["median"]:.2f}x.

{fleet_lines(mock, facts["cores"])}

Every tool crawls the whole site at its default depth (the site is 6 links deep; our crawler's
default limit is 10, Scrapy's, Crawlee's and wget's none). Pages are distinct URLs answered 200
with HTML: our crawler's records; Scrapy's and Crawlee's items in normal form (Scrapy fetches the
start URL twice, as its start request skips the dupefilter, and keeps a URL as it was first
written: `%73ection` for `section`); the URLs wget's log says it saved. Our crawler (both ways),
Crawlee and Scrapy found all
{settings["mock_pages"]:,} pages in every repeat: {result["mock_page_counts_agree"]}.

## Python's documentation (Debian python3-doc, Sphinx) served from disk by nginx

{table(docs["summary"])}

{goal_line(docs, GOALS["docs"])}

The whole documentation is crawled from its index, every tool with the same depth limit
({settings["docs_max_depth"]}: `--max-depth`, `DEPTH_LIMIT`, `--level`), which none of them
reaches: the deepest page our crawler recorded is {deepest["crawler"]} links from the index (the
shortest distance), Scrapy's {deepest["scrapy"]} (the depth at which it first found it). Its pages are large: {docs["summary"]["lexbor_parse"]["anchors_per_page"]:,.0f} anchors a
page on average, as lexbor counts them. Pages are distinct URLs answered 200 with `text/html`, as each tool reports them
(wget: the URLs it saved whose name nginx types as HTML, `.html` or a directory's index). Requests
nginx logged per crawl (median): our crawler {logged["crawler"]}, Scrapy {logged["scrapy"]}, wget
{logged["wget"]} (wget also fetches stylesheets, scripts and images; Scrapy's LinkExtractor skips
links to files by their extension, `.py` among them, which our crawler fetches and records as
`not_html`). Pages Scrapy counted and our
crawler did not: {diff["only_scrapy"]["count"]}, the reverse: {diff["not_scrapy"]["count"]}; wget:
{diff["only_wget"]["count"]} and {diff["not_wget"]["count"]} (the last repeat; examples in the
JSON). Our crawler's records with an error (the last repeat): {errors}. It keeps at most 2 MiB
of a body (`--max-bytes`): a larger page is recorded as `too_large`, counted as a page here, and
its links are not followed.

URLs our crawler fetched more than once (a retry), per repeat, with the time its record says
their fetching took: {"; ".join(retried)}.
"""


if __name__ == "__main__":
    main()
