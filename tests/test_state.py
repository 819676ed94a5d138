"""The state file: the SQLite frontier, resuming after a stop, repairing the output, refusals."""

from __future__ import annotations

import contextlib
import random
import sqlite3
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from command_kit.errors import ResourceError
from crawler.cli import main
from crawler.core.depth import rank_of
from crawler.core.engine import CrawlCore
from crawler.core.frontier import FrontierEntry, MemoryFrontier
from crawler.core.messages import FetchFailure, FetchRequest, FetchResponse, PageAnalysis
from crawler.core.records import ErrorKind
from crawler.settings import load_crawl_settings
from crawler.state import SqliteFrontier, StateStore, reconcile_output
from crawler.state.sqlite_frontier import READ_AHEAD
from crawler.strategies.async_ import crawl
from crawler.strategies.context import RunContext
from mock_server import FaultKind, MockServer, expected_crawl
from mock_server.faults import CLASSIC_FAULTS, TRANSIENT_FAULTS
from tests.conftest import StartServer
from tests.crawling import check_output, expected_outcomes, outcomes, read_records

ORIGINS = ("http://a.test", "http://b.test:81")
# Every fault that answers the same on every attempt: a URL fetched again after a crash must get
# the answer an uninterrupted crawl got (transient faults count attempts server-side; a hang
# only costs time).
STEADY_FAULTS = ",".join(
    kind.value
    for kind in CLASSIC_FAULTS
    if kind not in TRANSIENT_FAULTS and kind is not FaultKind.HANG
)
# Ranks of no, one and many crossings between origins (`crawler.core.depth.rank_of`).
RANKS = (rank_of(0, 0), rank_of(0, 2), rank_of(1, 3), rank_of(0, 1), rank_of(1000, 1000))


def new_store(path: Path, **settings: Any) -> StateStore:
    crawl_settings = load_crawl_settings(overrides={"seeds": ["http://a.test/"], **settings})
    return StateStore.open(path, crawl_settings, resume=True, extra={})[0]


def test_sqlite_frontier_hands_out_urls_as_the_memory_frontier_does(tmp_path: Path) -> None:
    """Through adds, moves to better ranks and pops, and with queues far longer than its
    read-ahead, the SQLite frontier pops the same URLs in the same order as the memory one."""
    rng = random.Random(7)
    memory, durable = MemoryFrontier(), SqliteFrontier(new_store(tmp_path / "s.db"))
    popped: list[tuple[list[FrontierEntry | None], list[FrontierEntry | None]]] = []
    for _ in range(6 * READ_AHEAD):
        url = f"{rng.choice(ORIGINS)}/{rng.randrange(2 * READ_AHEAD)}"
        entry = FrontierEntry(url, rng.choice(RANKS), None)
        assert memory.add(entry) == durable.add(entry)
        if rng.random() < 0.2:
            origin = rng.choice(ORIGINS)
            popped.append(([memory.pop(origin)], [durable.pop(origin)]))
        assert memory.head_rank(ORIGINS[0]) == durable.head_rank(ORIGINS[0])
        assert len(memory) == len(durable)
    for origin in ORIGINS:
        while (entry := memory.pop(origin)) is not None:
            popped.append(([entry], [durable.pop(origin)]))
        assert durable.pop(origin) is None
    assert all(left == right for left, right in popped)
    assert len(popped) > 2 * READ_AHEAD
    assert repr(durable).startswith(f"<SqliteFrontier {tmp_path / 's.db'} [0 waiting")


def test_sqlite_frontier_reloads_waiting_urls_from_its_file(tmp_path: Path) -> None:
    """Committed URLs come back after a restart with their ranks; URLs popped but never
    finished (in flight at a crash) are waiting again, and seen URLs stay seen."""
    store = new_store(tmp_path / "s.db")
    frontier = SqliteFrontier(store)
    for index in range(1000):
        frontier.add(FrontierEntry(f"http://a.test/{index}", RANKS[index % 3], None))
    in_flight = [frontier.pop("http://a.test") for _ in range(10)]
    store.commit()
    store.close()  # the process dies: nothing was finished

    reloaded = SqliteFrontier(new_store(tmp_path / "s.db"))
    assert len(reloaded) == 1000
    assert reloaded.waiting_by_rank() == {
        ("http://a.test", RANKS[0]): 334,
        ("http://a.test", RANKS[1]): 333,
        ("http://a.test", RANKS[2]): 333,
    }
    assert not reloaded.add(FrontierEntry("http://a.test/5", 0, None)).added
    urls = {entry.url for entry in in_flight if entry is not None}
    first = [reloaded.pop("http://a.test") for _ in range(334)]
    assert urls <= {entry.url for entry in first if entry is not None}


async def run_durable(
    server: MockServer, output: Path, state: Path, **settings: Any
) -> tuple[CrawlCore, StateStore]:
    """Crawl with a state file, as `crawler crawl --state --resume` does, in this loop."""
    crawl_settings = load_crawl_settings(
        overrides={
            "seeds": [server.base_url],
            "quiet": True,
            "analysis_cost": 0,
            "output": str(output),
            "state": str(state),
            "resume": True,
            **settings,
        }
    )
    store, resumed = StateStore.open(state, crawl_settings, resume=True, extra={})
    if resumed:
        reconcile_output(str(output), store)
    core = CrawlCore(crawl_settings.policy, SqliteFrontier(store))
    context = RunContext(str(output), handle_signals=False, before_write=store.commit)
    await crawl(core, crawl_settings, context)
    store.close()
    check_output(output, store.records, state)
    return core, store


async def test_a_crawl_cut_short_resumes_to_exactly_the_model_records(
    start_server: StartServer, tmp_path: Path
) -> None:
    """A crawl stopped by --max-pages, resumed with a higher limit, then resumed to the end,
    writes one record per URL of the model: none lost, none twice."""
    # The robots fault's Crawl-delay (10 ms by default) would space the three crawls' 500
    # requests over five seconds; that it is obeyed is checked in test_crawl_limits.
    server = await start_server(pages=400, faults=STEADY_FAULTS, robots_crawl_delay="2ms")
    output, state = tmp_path / "out.jsonl", tmp_path / "crawl.db"
    first, _ = await run_durable(server, output, state, max_pages=120, retries=1)
    second, _ = await run_durable(server, output, state, max_pages=250, retries=1)
    _, store = await run_durable(server, output, state, retries=1)
    assert (first.stats.records, second.stats.records) == (120, 130)
    records = read_records(output)
    assert len(records) == len({record.url for record in records}) == store.records
    assert outcomes(records) == expected_outcomes(
        expected_crawl(server.site, max_depth=10, retries=1)
    )


def test_urls_cut_off_by_a_stop_are_left_waiting_not_recorded(tmp_path: Path) -> None:
    """With a durable frontier, a request interrupted by a stop makes no record: its URL stays
    waiting in the file for the resumed crawl (without one, it is recorded as interrupted)."""
    settings = load_crawl_settings(overrides={"seeds": ["http://a.test/"], "ignore_robots": True})
    store = StateStore.open(tmp_path / "s.db", settings, resume=True, extra={})[0]
    core = CrawlCore(settings.policy, SqliteFrontier(store))
    request = core.next_request(0.0)
    assert isinstance(request, FetchRequest)
    core.stop()
    core.complete(request, FetchFailure(ErrorKind.INTERRUPTED, 0.0), 0.1)
    assert core.take_records() == [] and core.stats.deferred == 1 and core.finished
    store.close()
    resumed = SqliteFrontier(new_store(tmp_path / "s.db", ignore_robots=True))
    assert resumed.pop("http://a.test") == FrontierEntry("http://a.test/", 0, None)

    plain = CrawlCore(settings.policy)
    request = plain.next_request(0.0)
    assert isinstance(request, FetchRequest)
    plain.stop()
    plain.complete(request, FetchFailure(ErrorKind.INTERRUPTED, 0.0), 0.1)
    assert [record.error for record in plain.take_records()] == [ErrorKind.INTERRUPTED]


async def test_a_torn_last_line_is_repaired_and_a_foreign_output_refused(
    start_server: StartServer, tmp_path: Path
) -> None:
    """A crash mid-line leaves a torn last line: resuming cuts it and appends its record again.
    An output that is not this crawl's is refused, not mixed in."""
    server = await start_server(pages=60)
    output, state = tmp_path / "out.jsonl", tmp_path / "crawl.db"
    await run_durable(server, output, state)
    whole = output.read_bytes()
    output.write_bytes(whole[: len(whole) - 40])  # the last record, cut

    store = new_store(state, seeds=[server.base_url])
    assert reconcile_output(str(output), store) == 1
    assert output.read_bytes() == whole

    other = tmp_path / "other.jsonl"
    other.write_text('{"url": "http://elsewhere.test/"}\n')
    try:
        reconcile_output(str(other), store)
    except ResourceError as error:
        assert "does not hold the records" in str(error)
    else:
        raise AssertionError("a foreign output was accepted")
    store.close()


def test_state_misuse_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """--resume without --state, an existing state without --resume, changed seeds or scope, and
    a file that is not a state file are each refused in one line."""
    runner = CliRunner()
    state = tmp_path / "crawl.db"
    settings = load_crawl_settings(overrides={"seeds": ["http://a.test/"]})
    StateStore.open(state, settings, resume=True, extra={})[0].close()
    (tmp_path / "junk.db").write_text("not a database")
    cases = {
        ("--resume",): "--resume: needs --state",
        ("--state", str(state), "http://a.test/"): "add --resume to continue it",
        ("--state", str(state), "--resume", "http://b.test/"): "holds a crawl with seeds",
        (
            "--state",
            str(state),
            "--resume",
            "--allow-domain",
            "b.test",
            "http://a.test/",
        ): "holds a crawl with --allow-domain [], not",
        ("--state", str(tmp_path / "junk.db"), "--resume"): "is not a crawl state file",
    }
    for arguments, message in cases.items():
        result = runner.invoke(main, ["crawl", "-q", *arguments])
        assert result.exit_code == 2, (arguments, result.output)
        assert message in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_the_embedded_site_crawl_resumes_from_the_command_line(tmp_path: Path) -> None:
    """`crawler crawl --state --resume` with no seeds crawls the embedded site, and a second run
    serves it on the same port, goes on to the higher --max-pages and appends to the output."""
    runner = CliRunner()
    output, state = tmp_path / "out.jsonl", tmp_path / "crawl.db"
    common = ["crawl", "--state", str(state), "--resume", "-o", str(output), "--analysis-cost", "0"]
    first = runner.invoke(main, [*common, "--max-pages", "50"])
    assert first.exit_code == 0, first.output
    assert "state" in first.output and "50 records" in first.output
    second = runner.invoke(main, [*common, "--max-pages", "80"])
    assert second.exit_code == 0, second.output
    assert "80 records (50 from earlier runs)" in second.output
    records = read_records(output)
    assert len(records) == len({record.url for record in records}) == 80
    check_output(output, 80, state)
    assert len({record.url.split("/")[2] for record in records}) == 1  # one host:port throughout


def test_a_state_file_killed_while_being_created_starts_afresh(tmp_path: Path) -> None:
    """A file killed before its first table, or before its settings were written, is a new
    crawl to --resume, not a foreign file."""
    settings = load_crawl_settings(overrides={"seeds": ["http://a.test/"]})
    bare = tmp_path / "bare.db"
    with contextlib.closing(sqlite3.connect(bare)) as db:
        db.execute("PRAGMA journal_mode = WAL")
    assert StateStore.read_meta(bare) == {}
    store, resumed = StateStore.open(bare, settings, resume=True, extra={})
    assert not resumed
    store.close()
    assert StateStore.read_meta(bare)["seeds"] == ["http://a.test/"]
    assert StateStore.open(bare, settings, resume=True, extra={})[1]


def test_a_resumed_crawl_keeps_the_origin_its_seed_redirected_to(tmp_path: Path) -> None:
    """A seed's redirect to another origin widens the scope; the state file keeps that origin,
    so the resumed crawl still follows links there (without it, the scope is the seeds' alone)."""
    settings = load_crawl_settings(overrides={"seeds": ["http://a.test/"], "ignore_robots": True})
    store = StateStore.open(tmp_path / "s.db", settings, resume=True, extra={})[0]
    core = CrawlCore(settings.policy, SqliteFrontier(store))
    seed = core.next_request(0.0)
    assert isinstance(seed, FetchRequest)
    core.complete(seed, FetchResponse(301, 0.01, location="https://www.a.test/"), 0.1)
    assert core.stats.scope_added == ["https://www.a.test"]
    moved = core.next_request(0.1)
    assert isinstance(moved, FetchRequest) and moved.url == "https://www.a.test/"
    links = (("https://www.a.test/page", False),)
    home = FetchResponse(200, 0.01, "text/html", page=PageAnalysis("t", links, 1))
    core.complete(moved, home, 0.2)
    assert len(core.take_records()) == 2  # /page is left waiting in the file
    store.close()
    resumed = CrawlCore(
        settings.policy, SqliteFrontier(new_store(tmp_path / "s.db", ignore_robots=True))
    )
    assert resumed.scope.allows("https://www.a.test/page")
    assert resumed.stats.scope_added == ["https://www.a.test"]
    page = resumed.next_request(0.0)
    assert isinstance(page, FetchRequest) and page.url == "https://www.a.test/page"
