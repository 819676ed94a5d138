"""`crawler compare` through the real CLI: a custom grid is that grid, runs are kept as they
finish (Ctrl-C included), a failed run never wins, verdicts carry their test and reason, charts."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from matplotlib.image import imread

from crawler.compare.charts import IDEAL_COLOUR, best_figure, memory_figure, rate_figure
from crawler.compare.metrics import RunResult
from crawler.compare.verdict import medians as median_rows

pytestmark = pytest.mark.slow  # every test runs a real comparison or shares one
COMPARE = [sys.executable, "-m", "crawler", "compare"]
# A small custom grid with no --repeat: 3 repeats of sync and of async at 4 in flight.
SMALL_GRID = [
    "--strategies",
    "sync,async",
    "--concurrency",
    "4",
    "--latency",
    "20ms",
    "--pages",
    "15",
]


def run_compare(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `crawler compare` to its end."""
    return subprocess.run(
        [*COMPARE, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The output directory and stderr of one small custom-grid comparison, shared by the tests."""
    out = tmp_path_factory.mktemp("small")
    result = run_compare(*SMALL_GRID, "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out, result.stderr


def test_a_custom_grid_is_that_grid_and_titled_by_it(small: tuple[Path, str]) -> None:
    """--strategies/--concurrency/--latency alone inherit nothing from quick; the report names the grid."""
    out, stderr = small
    document = json.loads((out / "results.json").read_text())
    assert document["scenario"] == "custom grid"
    assert {
        (run["strategy"], run["analysis_cost"], run["latency_ms"]) for run in document["runs"]
    } == {
        ("sync", 0, 20.0),
        ("async", 0, 20.0),
    }
    assert document["grid"] == {
        "strategies": ["sync", "async"],
        "concurrency": [1, 4],
        "latency_ms": [20.0],
        "analysis_cost": [0],
        "regimes": [[20.0, 0]],
        "pages": 15,
        "repeat": 3,
    }
    title = "custom grid: sync, async x concurrency 4 x latency 20 ms x analysis cost 0 x 15 pages x 3 repeats"
    assert document["title"] == title
    assert (out / "report.md").read_text().startswith(f"# Comparison: {title}\n")
    assert f"<h1>Comparison: {title}</h1>" in (out / "report.html").read_text()
    assert "quick" not in (out / "report.md").read_text()
    assert "custom grid: sync, async" in stderr


def test_repeats_default_to_three_and_verdicts_state_their_test_and_reason(
    small: tuple[Path, str],
) -> None:
    """Each configuration runs 3 times; the verdict applies the slowest-beats-fastest test and says why."""
    out, _ = small
    document = json.loads((out / "results.json").read_text())
    repeats: dict[str, list[int]] = {}
    for run in document["runs"]:
        assert run["failed"] is None and run["pages"] == 15
        repeats.setdefault(run["strategy"], []).append(run["repeat"])
    assert repeats == {"sync": [1, 2, 3], "async": [1, 2, 3]}
    [verdict] = document["verdicts"]
    rates = {
        name: [run["pages_per_s"] for run in document["runs"] if run["strategy"] == name]
        for name in ("sync", "async")
    }
    # async overlaps 4 requests, sync makes one at a time: the test can only name async.
    clear = min(rates["async"]) > 1.1 * max(rates["sync"])
    assert verdict["outcome"] == ("wins" if clear else "no clear winner")
    assert verdict["winner"] in ("async", None) and verdict["leader"] == "async"
    assert verdict["slowest"] == min(rates["async"])
    assert verdict["runner_up_fastest"] == max(rates["sync"])
    shares = verdict["shares"]
    if (
        verdict["binding"] == "no single limit"
    ):  # none near, or a busy machine the crawl did not fill
        assert "neither latency nor CPU binds" in verdict["why"]
        assert max(shares.values()) < 0.75 or "busy, but" in verdict["why"]
    elif verdict["binding"] == "other programs":  # a machine this busy says so, and no more
        assert "cannot say what would bind" in verdict["why"]
    else:  # the label is the limit its own numbers come closest to
        assert shares[verdict["binding"]] >= max(shares.values()) - 0.05
    assert "Little's law" in verdict["why"] or "cores" in verdict["why"]
    assert f"Why: {verdict['why']}." in verdict["sentence"]
    report = (out / "report.md").read_text()
    assert (
        verdict["sentence"] in report
        and "slowest repeat beats the runner-up's fastest by 10%" in report
    )


def test_charts_are_grids_of_panels_sharing_a_y_axis_from_zero(small: tuple[Path, str]) -> None:
    """Each chart has one title and one legend, y from zero shared, every concurrency ticked, the
    ideal on pages/s, values and min-max error bars on the bars; the PNGs are drawn."""
    out, _ = small
    document = json.loads((out / "results.json").read_text())
    rows = [RunResult(**run) for run in document["runs"]]
    for name in ("pages_per_s.png", "best_per_strategy.png", "peak_memory.png"):
        image = imread(out / name)
        assert image.shape[1] <= 2.2 * image.shape[0] + 200, name  # not one long row
        assert len({tuple(pixel) for pixel in image.reshape(-1, image.shape[2])[::7]}) > 20
    rate = rate_figure(rows, document["grid"]["concurrency"])
    for figure in (rate, memory_figure(rows, [1, 4]), best_figure(rows)):
        assert figure.get_suptitle() and len(figure.legends) == 1
        assert all(not axis.get_legend() for axis in figure.axes)
        assert {axis.get_ylim()[0] for axis in figure.axes} == {0}
    [axis] = rate.axes
    assert [tick.get_text() for tick in axis.get_xticklabels()] == ["1", "4"]
    ideal = [line for line in axis.get_lines() if line.get_color() == IDEAL_COLOUR]
    [marks] = [line for line in ideal if line.get_marker() == "_"]
    assert list(marks.get_ydata()) == [50.0, 200.0]  # concurrency / 20 ms, at each concurrency
    [curve] = [line for line in ideal if line.get_linestyle() == "--"]
    assert list(curve.get_xdata() / 0.02) == pytest.approx(list(curve.get_ydata()))
    [bars] = best_figure(rows).axes
    labels = [text.get_text() for text in bars.texts]
    medians = {row.strategy: row.pages_per_s for row in median_rows(rows)}
    assert labels == [f"{medians['sync']:,.0f}", f"{medians['async']:,.0f}"]
    assert {type(container).__name__ for container in bars.containers} == {
        "BarContainer",
        "ErrorbarContainer",
    }


def test_a_failed_run_never_wins(tmp_path: Path) -> None:
    """When async fails (timed out) and sync finishes, the verdict names no winner and says why."""
    config = tmp_path / "async-fails.toml"
    # sync crawls 10 pages (capped by sync_max_seconds); async, one request at a time, 200: 20 s.
    config.write_text(
        '[compare]\nstrategies = ["sync", "async"]\nconcurrency = [1]\nlatency = ["100ms"]\n'
        'pages = 200\nrepeat = 1\nrun_timeout = "8s"\nsync_max_seconds = "1s"\n'
    )
    out = tmp_path / "out"
    result = run_compare("--config", str(config), "--out", str(out))
    assert result.returncode == 0, result.stderr
    document = json.loads((out / "results.json").read_text())
    runs = {run["strategy"]: run for run in document["runs"]}
    assert runs["async"]["failed"].startswith("timed out") and runs["sync"]["failed"] is None
    [verdict] = document["verdicts"]
    assert verdict["outcome"] == "no verdict" and verdict["winner"] is None
    assert verdict["headline"] == "no verdict (`async` failed)"
    claims_a_win = re.compile(r"(`|<code>)[a-z-]+(`|</code>) wins")
    for text in (result.stderr, (out / "report.md").read_text(), (out / "report.html").read_text()):
        assert not claims_a_win.search(text)
    assert (
        "`sync` ran at" in verdict["why"] and verdict["sentence"] in (out / "report.md").read_text()
    )


def _descendants(root: int) -> dict[int, str]:
    """Return the live descendants of `root` as {pid: start time}, read from /proc."""
    parents: dict[int, int] = {}
    starts: dict[int, str] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                fields = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            parents[int(entry.name)], starts[int(entry.name)] = int(fields[1]), fields[19]
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = starts[pid]
                frontier.append(pid)
    return found


def _alive(pid: int, start: str) -> bool:
    """Is the process `pid` that started at `start` still running (not a zombie)?"""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[19] == start and fields[0] != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.fixture
def stopped_compare(
    tmp_path: Path,
) -> Iterator[tuple[subprocess.Popen[str], Path, dict[int, tuple[str, str]]]]:
    """A comparison of slow runs, interrupted with SIGINT once one run has finished and the next
    crawl is running; yields the process, its output directory and every descendant it had."""
    out = tmp_path / "out"
    process = subprocess.Popen(
        [*COMPARE, "--strategies", "async", "--concurrency", "1", "--latency", "200ms",
         "--pages", "20", "--repeat", "4", "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )  # fmt: skip
    seen: dict[int, tuple[str, str]] = {}  # pid -> (start time, command line)

    def look() -> list[int]:
        for pid, start in _descendants(process.pid).items():
            seen.setdefault(pid, (start, _cmdline(pid)))
        return [pid for pid, (_, cmdline) in seen.items() if " crawl " in cmdline]

    try:
        deadline = time.monotonic() + 240
        crawling: list[int] = []
        while time.monotonic() < deadline and process.poll() is None:
            crawling = [pid for pid in look() if _alive(pid, seen[pid][0])]
            if _finished_runs(out) >= 1 and crawling:
                break
            time.sleep(0.05)
        assert process.poll() is None, "the comparison ended before it could be interrupted"
        assert _finished_runs(out) >= 1 and crawling, "no finished run and crawl in time"
        look()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=120)
        yield process, out, seen
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for pid, (start, _) in seen.items():
            if _alive(pid, start):
                os.kill(pid, signal.SIGKILL)
        if process.stderr:
            process.stderr.close()


def _finished_runs(out: Path) -> int:
    try:
        return len(json.loads((out / "results.json").read_text())["runs"])
    except (OSError, ValueError, KeyError):
        return 0


def test_ctrl_c_keeps_finished_runs_reports_them_and_ends_every_child(
    stopped_compare: tuple[subprocess.Popen[str], Path, dict[int, tuple[str, str]]],
) -> None:
    """After SIGINT part-way: exit 130, the finished runs in results.json/csv and both reports, and
    no crawl or mock-server process left running."""
    process, out, seen = stopped_compare
    assert process.returncode == 130
    document: dict[str, Any] = json.loads((out / "results.json").read_text())
    assert document["stopped_by"] == "SIGINT"
    assert 1 <= document["finished_runs"] == len(document["runs"]) < document["planned_runs"]
    assert all(run["failed"] is None for run in document["runs"])
    csv_lines = (out / "results.csv").read_text().strip().splitlines()
    assert len(csv_lines) == 1 + len(document["runs"])
    for report in ("report.md", "report.html"):
        assert f"Interrupted after {len(document['runs'])} of" in (out / report).read_text()
    assert (out / "pages_per_s.png").exists()
    kinds = {_kind(cmdline) for _, cmdline in seen.values()}
    assert kinds >= {"crawl", "mock server"}, "the test saw no crawl or no server to stop"
    # The compare has exited: every crawl and server it started has ended with it (a crawl left
    # running would go on for seconds). multiprocessing's resource tracker ends on its own when
    # it sees its parent's pipe close, a moment later on a busy machine: that one is waited for.
    survivors = [cmdline for pid, (start, cmdline) in seen.items() if _alive(pid, start)]
    assert [cmdline for cmdline in survivors if "resource_tracker" not in cmdline] == []
    deadline = time.monotonic() + 30
    while survivors and time.monotonic() < deadline:
        time.sleep(0.05)
        survivors = [cmdline for pid, (start, cmdline) in seen.items() if _alive(pid, start)]
    assert not survivors


def _kind(cmdline: str) -> str:
    if " crawl " in cmdline:
        return "crawl"
    if "multiprocessing" in cmdline or "spawn_main" in cmdline:
        return "mock server"
    return "other"
