"""Nothing lost, ever: every record the crawl counts reaches the output, whole, in every strategy;
a full disk or a refused state commit stops the crawl with one line and a state that resumes; two
crawls never share a state file or an output; stop signals and a low open-file limit lose nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crawler.core.records import ErrorKind
from crawler.run.crawl import run_crawl
from crawler.settings import load_crawl_settings
from crawler.strategies import STRATEGIES
from mock_server import MockServerProcess, expected_crawl, load_settings
from mock_server.site import Site
from tests.crawling import (
    Outcome,
    check_output,
    expected_outcomes,
    outcomes,
    read_records,
    state_lines,
)
from tests.sites import html, robots, serve

ALL = sorted(STRATEGIES)
CRAWLER = [sys.executable, "-m", "crawler"]


def crawl_command(seed: str, output: Path, *extra: str) -> list[str]:
    return [*CRAWLER, "crawl", seed, "-o", str(output), "--workers", "1", *extra]


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a command to its end, its output captured as text."""
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


# -- Records decided without a request ---------------------------------------------------------


@pytest.mark.parametrize("strategy", ALL)
@pytest.mark.parametrize("durable", [False, True], ids=["memory", "state"])
async def test_records_decided_while_scheduling_reach_the_output(
    tmp_path: Path, strategy: str, durable: bool
) -> None:
    """The last decisions of a crawl are made without a request: the URLs robots.txt excludes
    after the last page arrives. Their records reach the output in every strategy, and with
    --state the output is exactly what the state file holds."""
    pages = {
        "/": html("/private/a", "/private/b", "/open"),
        "/open": html("/private/c"),
        "/robots.txt": robots("User-agent: *\nDisallow: /private/\n"),
    }
    async with serve(pages) as base:
        output, state = tmp_path / "out.jsonl", tmp_path / "s.db"
        settings = load_crawl_settings(
            overrides={
                "seeds": [base],
                "output": str(output),
                "strategy": strategy,
                "workers": 1,
                "quiet": True,
                **({"state": str(state)} if durable else {}),
            }
        )
        outcome = await asyncio.to_thread(run_crawl, settings, None, False)
    assert outcome.summary["pages"] == 5
    check_output(output, outcome.summary["pages"], state if durable else None)
    errors = sorted(str(record.error) for record in read_records(output))
    assert errors == ["None", "None", "robots", "robots", "robots"]


@pytest.mark.parametrize("strategy", ALL)
async def test_a_seed_robots_txt_excludes_is_recorded(tmp_path: Path, strategy: str) -> None:
    """A seed its own robots.txt excludes is one record (`robots`), in the output as in the
    summary: the crawl made its only decision without fetching a page."""
    async with serve({"/robots.txt": robots("User-agent: *\nDisallow: /\n")}) as base:
        output = tmp_path / "out.jsonl"
        settings = load_crawl_settings(
            overrides={"seeds": [base], "output": str(output), "strategy": strategy, "quiet": True}
        )
        outcome = await asyncio.to_thread(run_crawl, settings, None, False)
    check_output(output, outcome.summary["pages"])
    assert [record.error for record in read_records(output)] == [ErrorKind.ROBOTS]


# -- Full disks --------------------------------------------------------------------------------


class SmallDisk:
    """A tmpfs of a chosen size mounted by the test (root only), which can be grown later."""

    def __init__(self, path: Path, size: str) -> None:
        self.path = path
        path.mkdir()
        mounted = run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)])
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")

    def grow(self, size: str = "256m") -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(self.path)], check=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    disk = SmallDisk(tmp_path / "disk", "192k")
    yield disk
    disk.unmount()


# A mock site in its own process, and the records a crawl of it must write.
SiteServer = tuple[MockServerProcess, set[Outcome]]


@contextlib.contextmanager
def serve_site(pages: int) -> Iterator[SiteServer]:
    """Serve a mock site of `pages` pages in its own process."""
    settings = load_settings(overrides={"pages": pages, "links": 8, "latency": "2ms"})
    with MockServerProcess(settings) as server:
        site = Site(settings.site, server.origins)
        yield server, expected_outcomes(expected_crawl(site, max_depth=10))


@pytest.fixture(scope="module")
def site_server() -> Iterator[SiteServer]:
    """A 1,500-page site: its records (about 580 KB) are three times what the small disk holds,
    and the crawl writes them in blocks of 256 lines, so a block or two fits before it fills."""
    with serve_site(1500) as served:
        yield served


@pytest.fixture(scope="module")
def small_site_server() -> Iterator[SiteServer]:
    """A 150-page site, for crawls that run to their end (or stop at their first write)
    whatever the site's size."""
    with serve_site(150) as served:
        yield served


def requests_served(server: MockServerProcess) -> int:
    import urllib.request

    with urllib.request.urlopen(server.origins[0] + "/_stats", timeout=10) as reply:
        return int(json.load(reply)["requests"])


def reset_stats(server: MockServerProcess) -> None:
    import urllib.request

    request = urllib.request.Request(server.origins[0] + "/_stats", method="DELETE")
    with urllib.request.urlopen(request, timeout=10):
        pass


def finish_and_check(command: list[str], output: Path, state: Path, expected: set[Any]) -> None:
    """Run the crawl to its end; its output must hold every expected record exactly once."""
    resumed = run(command)
    assert resumed.returncode == 0, resumed.stderr
    records = read_records(output)
    assert len(records) == len({record.url for record in records})
    assert outcomes(records) == expected
    check_output(output, len(expected), state)


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and "never retrieved" not in stderr
    return lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ALL)
def test_a_full_disk_for_the_output_stops_the_crawl_and_a_resume_recovers(
    site_server: SiteServer,
    small_disk: SmallDisk,
    tmp_path: Path,
    strategy: str,
) -> None:
    """The output's disk fills up: the crawl stops promptly with one line naming the file and
    the cause, exits 1, and leaves only whole lines. With --state, once there is room again, the
    same command resumes and the output holds every record exactly once."""
    server, expected = site_server
    reset_stats(server)
    output, state = small_disk.path / "out.jsonl", tmp_path / "s.db"
    command = crawl_command(
        server.base_url, output, "--strategy", strategy, "--state", str(state), "--resume", "-q"
    )
    full = run(command)
    assert full.returncode == 1, full.stderr
    assert one_error_line(full.stderr) == (
        f"crawler: error: cannot write {output}: No space left on device"
    )
    written = read_records(output)  # every line parses: no torn line
    assert output.read_bytes().endswith(b"\n") and 0 < len(written) < len(expected)
    # Stopped promptly: the crawl did not go on fetching the site after the disk refused.
    assert requests_served(server) < len(expected)
    # What the output holds was committed first.
    assert state_lines(state)[: len(written)] == output.read_text().splitlines()

    small_disk.grow()
    finish_and_check(command, output, state, expected)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ALL)
def test_a_full_disk_without_state_stops_with_whole_lines(
    site_server: SiteServer,
    small_disk: SmallDisk,
    strategy: str,
) -> None:
    """Without --state too: one line, exit 1, whole lines only, the crawl stopped promptly."""
    server, expected = site_server
    reset_stats(server)
    output = small_disk.path / "out.jsonl"
    command = crawl_command(server.base_url, output, "--strategy", strategy, "-q")
    full = run(command)
    assert full.returncode == 1, full.stderr
    assert "No space left on device" in one_error_line(full.stderr)
    assert output.read_bytes().endswith(b"\n") and 0 < len(read_records(output)) < len(expected)
    assert requests_served(server) < len(expected)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ALL)
def test_special_files_as_output(
    small_site_server: SiteServer,
    tmp_path: Path,
    strategy: str,
) -> None:
    """/dev/full is a full disk (one line, exit 1); /dev/null and /dev/stdout into a pipe are
    written without trying to fsync them."""
    server, expected = small_site_server
    full = run(crawl_command(server.base_url, Path("/dev/full"), "--strategy", strategy, "-q"))
    assert full.returncode == 1
    assert one_error_line(full.stderr) == (
        "crawler: error: cannot write /dev/full: No space left on device"
    )
    stats = tmp_path / "stats.json"
    null = run(
        crawl_command(
            server.base_url, Path("/dev/null"), "--strategy", strategy, "--stats-json", str(stats)
        )
    )
    assert null.returncode == 0, null.stderr
    assert json.loads(stats.read_text())["pages"] == len(expected)
    piped = run(crawl_command(server.base_url, Path("/dev/stdout"), "--strategy", strategy, "-q"))
    assert piped.returncode == 0, piped.stderr
    assert len(piped.stdout.splitlines()) == len(expected)


def test_stats_json_on_a_full_disk_is_one_line(
    small_site_server: SiteServer,
    tmp_path: Path,
) -> None:
    """--stats-json /dev/full: the records are written, then one line names the stats file."""
    server, expected = small_site_server
    output = tmp_path / "out.jsonl"
    result = run(crawl_command(server.base_url, output, "--stats-json", "/dev/full", "-q"))
    assert result.returncode == 1
    assert one_error_line(result.stderr) == (
        "crawler: error: cannot write /dev/full: No space left on device"
    )
    assert len(read_records(output)) == len(expected)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ALL)
def test_a_refused_state_commit_stops_the_crawl_and_the_state_resumes(
    site_server: SiteServer,
    small_disk: SmallDisk,
    tmp_path: Path,
    strategy: str,
) -> None:
    """The state file's disk fills up: the failed commit is rolled back with its writes kept,
    the crawl stops with one line naming the state file, the output holds only committed
    records, and once there is room the same command finishes the crawl exactly."""
    server, expected = site_server
    output, state = tmp_path / "out.jsonl", small_disk.path / "s.db"
    command = crawl_command(
        server.base_url, output, "--strategy", strategy, "--state", str(state), "--resume", "-q"
    )
    full = run(command)
    assert full.returncode == 1, full.stderr
    line = one_error_line(full.stderr)
    assert line.startswith(f"crawler: error: cannot write {state}: ") and "full" in line, line
    written = output.read_text().splitlines()
    assert len(written) < len(expected)
    assert state_lines(state)[: len(written)] == written  # never a record the state lacks

    small_disk.grow()
    finish_and_check(command, output, state, expected)


# -- Two crawls, one state file ------------------------------------------------------------------


def wait_for_lines(path: Path, count: int, process: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError):
            if path.read_bytes().count(b"\n") >= count:
                return
        time.sleep(0.02)
    raise AssertionError(f"{path} never held {count} lines")


@pytest.mark.slow
def test_a_second_crawl_of_the_same_state_or_output_is_refused(tmp_path: Path) -> None:
    """While a crawl runs with --state s.db, the same command in another terminal is refused in
    one line naming the process that holds the file, and so is another crawl writing the same
    output; the first crawl's output and state stay exact."""
    settings = load_settings(overrides={"pages": 600, "latency": "100ms"})
    output, state = tmp_path / "out.jsonl", tmp_path / "s.db"
    with MockServerProcess(settings) as server:
        site = Site(settings.site, server.origins)
        expected = expected_outcomes(expected_crawl(site, max_depth=10))
        command = crawl_command(
            server.base_url,
            output,
            "--state",
            str(state),
            "--resume",
            "-q",
            "--concurrency",
            "4",
            "--per-host",
            "4",
        )
        first = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        try:
            wait_for_lines(output, 1, first)
            for _ in range(3):
                second = run(command)
                assert second.returncode == 2
                assert one_error_line(second.stderr).startswith(
                    f"crawler crawl: error: --state: {state} is in use by another crawl"
                    f" (pid {first.pid}: "
                )
            other = run(
                crawl_command(server.base_url, output, "--state", str(tmp_path / "other.db"), "-q")
            )
            assert other.returncode == 2
            assert f"--output: {output} is in use by another crawl (pid {first.pid}" in (
                one_error_line(other.stderr)
            )
        finally:
            first.send_signal(signal.SIGTERM)
            _, stderr = first.communicate(timeout=60)
        assert first.returncode == 143, stderr
        finished = run([*command[:-4], "--concurrency", "32", "--per-host", "32"])
    assert finished.returncode == 0, finished.stderr
    records = read_records(output)
    assert len(records) == len({record.url for record in records})
    assert outcomes(records) == expected
    check_output(output, len(expected), state)


# -- Signals -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sighup_stops_like_sigterm(tmp_path: Path) -> None:
    """The terminal closing (SIGHUP) stops the crawl cleanly: records whole, summary, exit 129;
    under nohup (SIGHUP ignored from the start) the crawl goes on."""
    settings = load_settings(overrides={"pages": 2000, "latency": "200ms"})
    output = tmp_path / "out.jsonl"
    with MockServerProcess(settings) as server:
        process = subprocess.Popen(
            crawl_command(server.base_url, output, "--stats-json", str(tmp_path / "s.json")),
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for_lines(output, 1, process)
        process.send_signal(signal.SIGHUP)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 129, stderr
        assert "Crawl summary" in stderr and "Traceback" not in stderr
        check_output(output, json.loads((tmp_path / "s.json").read_text())["pages"])

        ignoring = subprocess.Popen(
            ["nohup", *crawl_command(server.base_url, tmp_path / "nohup.jsonl", "-q")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_lines(tmp_path / "nohup.jsonl", 1, ignoring)
        ignoring.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert ignoring.poll() is None, "nohup's crawl died of SIGHUP"
        ignoring.send_signal(signal.SIGTERM)
        assert ignoring.wait(timeout=30) == 143


def catches(pid: int, signum: int) -> bool:
    """Say whether process `pid` has a handler for `signum` (its SigCgt mask, in /proc)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


@pytest.mark.slow
def test_a_stop_signal_during_start_up_is_quiet(tmp_path: Path) -> None:
    """A Ctrl-C (or SIGTERM) at any moment of the crawler's start-up (imports, the embedded site
    starting, the state opening) stops the crawl without a traceback, exit 128 + the signal.

    Timed from the moment the crawler's own code handles signals (the process catches SIGTERM,
    which Python alone never does): before that the interpreter itself is starting, and a Ctrl-C
    there is Python's, as for any program."""
    delays = [0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.7]
    for index, delay in enumerate(delays):
        signum = signal.SIGTERM if index % 4 == 3 else signal.SIGINT
        output = tmp_path / f"out-{delay}.jsonl"
        process = subprocess.Popen(
            [*CRAWLER, "crawl", "-o", str(output), "--state", str(tmp_path / f"{delay}.db")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while not catches(process.pid, signal.SIGTERM) and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(delay)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 128 + signum, (delay, signum, stderr)
        assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, (delay, stderr)
        assert "Exception ignored" not in stderr, (delay, stderr)


# -- Open files ----------------------------------------------------------------------------------


def low_open_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["async", "threads"])
def test_a_low_open_file_limit_lowers_concurrency_and_loses_nothing(
    tmp_path: Path, strategy: str
) -> None:
    """With 200 open files allowed and --concurrency 1000, the crawl says once that it lowers
    its concurrency, and every page is fetched: none is recorded as the server's failure."""
    settings = load_settings(overrides={"pages": 400, "latency": "100ms"})
    output = tmp_path / "out.jsonl"
    with MockServerProcess(settings) as server:
        site = Site(settings.site, server.origins)
        expected = expected_outcomes(expected_crawl(site, max_depth=10))
        result = subprocess.run(
            crawl_command(
                server.base_url,
                output,
                "--strategy",
                strategy,
                "--concurrency",
                "1000",
                "--per-host",
                "1000",
                "-q",
            ),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            preexec_fn=low_open_file_limit,
        )
    assert result.returncode == 0, result.stderr
    warning = one_error_line(result.stderr)
    assert warning.startswith("crawler: warning: the open-file limit (200) allows ")
    assert "--concurrency lowered from 1000 to " in warning
    assert outcomes(read_records(output)) == expected


def test_running_out_of_open_files_is_never_the_servers_fault() -> None:
    """EMFILE, however a client wraps it, is `local`, and retried; a refused connection is not."""
    import errno

    import aiohttp
    import requests

    from crawler.core.records import RETRYABLE
    from crawler.http import aiohttp_client as aiohttp_fetch
    from crawler.http import requests_client as requests_fetch

    emfile = OSError(errno.EMFILE, "Too many open files")
    wrapped = requests.exceptions.ConnectionError("Failed to establish a new connection")
    wrapped.__context__ = emfile
    assert aiohttp_fetch.classify(aiohttp.ClientOSError(errno.EMFILE, "Too many open files")) == (
        ErrorKind.LOCAL
    )
    assert requests_fetch.classify(wrapped) == ErrorKind.LOCAL
    assert aiohttp_fetch.classify(aiohttp.ClientOSError(errno.ECONNREFUSED, "refused")) == (
        ErrorKind.CONNECT
    )
    assert ErrorKind.LOCAL in RETRYABLE
