"""`--warc`: what the crawl fetched, as WARC/1.1 records every archive tool reads and replays.

The archives are read by tools nobody here wrote: warcio's own `check` (every digest) and
`index`, and pywb, Webrecorder's replay server, which serves them back for the crawler to crawl
again. The sites are real servers: nginx serving Debian's documentation (plainly and gzipped),
Python's http.server serving generated files, and the mock site out of process, killed under a
crawl with SIGKILL.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from warcio.archiveiterator import ArchiveIterator

from crawler.archive.files import cut_torn_tail, whole_members_end
from crawler.core.records import Record
from crawler.strategies import STRATEGIES, StrategyName
from mock_server import MockServerProcess, load_settings
from tests.conformance.servers import (
    DOC_SETS,
    LOOPBACK,
    MissingTool,
    Nginx,
    free_ports,
    running_nginx,
    serving,
)
from tests.crawling import check_output, crawl_from_command, read_records
from tests.test_state_kill_resume import committed_records

ROOT = Path(__file__).resolve().parent.parent
PYWB = ROOT / ".venv-pywb" / "bin"
WARCIO = Path(sys.executable).parent / "warcio"
ARCHIVING = [name for name in map(str, STRATEGIES) if name != StrategyName.BROKER]


@dataclass(frozen=True, slots=True)
class WarcRecord:
    """One record of an archive, read by warcio, its payload whole."""

    type: str
    headers: dict[str, str]
    status: int | None
    http_headers: list[tuple[str, str]]
    http_line: str
    payload: bytes

    def field(self, name: str) -> str | None:
        """Return the first HTTP header field called `name` (any case)."""
        return next((v for k, v in self.http_headers if k.lower() == name.lower()), None)


def read_archive(*paths: Path) -> list[WarcRecord]:
    """Return every record of `paths`, in order, as warcio reads them."""
    found = []
    for path in paths:
        with path.open("rb") as file:
            for record in ArchiveIterator(file):
                http = record.http_headers
                status = None
                if http is not None and record.rec_type in ("response", "revisit"):
                    status = int(http.get_statuscode())
                found.append(
                    WarcRecord(
                        record.rec_type,
                        dict(record.rec_headers.headers),
                        status,
                        list(http.headers) if http is not None else [],
                        f"{http.protocol} {http.statusline}" if http is not None else "",
                        record.raw_stream.read(),
                    )
                )
    return found


def warcio(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run warcio's own command line."""
    return subprocess.run(
        [str(WARCIO), *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def crawl(seed: str, out: Path, *flags: str) -> tuple[list[Record], dict[str, Any]]:
    """Crawl `seed` with `flags` into `out`; return its records and summary (it must succeed)."""
    return crawl_from_command(seed, out, *flags, timeout=300)


def comparable(records: list[Record]) -> dict[str, tuple[Any, ...]]:
    return {r.url: (r.status, r.depth, r.parent, r.error, r.links, r.bytes) for r in records}


def sha1_digest(payload: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(payload).digest()).decode()


def decoded(record: WarcRecord) -> bytes:
    """Return a response's payload with its Content-Encoding undone."""
    coding = (record.field("content-encoding") or "").lower()
    return gzip.decompress(record.payload) if coding == "gzip" else record.payload


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    try:
        with running_nginx(tmp_path_factory.mktemp("nginx")) as server:
            yield server
    except MissingTool as missing:
        pytest.fail(str(missing))


# -- Every strategy, through nginx ---------------------------------------------------------------


def test_every_strategy_archives_each_exchange_as_it_came(nginx: Nginx, tmp_path: Path) -> None:
    """diffutils' manual through nginx's gzip server, crawled by every strategy that archives:
    the same records each time, and an archive warcio checks whole, holding a response and its
    request for every answer (robots.txt too), each payload the file nginx sent, still gzipped,
    with its digest, the server's address, and a warcinfo record first."""
    doc_set = next(d for d in DOC_SETS if d.name == "diffutils")
    origin = nginx.origin("diffutils", gzip=True)
    found = {}
    for strategy in ARCHIVING:
        archive = tmp_path / f"{strategy}.warc.gz"
        processes = ["--processes", "2"] if strategy == StrategyName.PROCESSES else []
        records, summary = crawl(
            origin + "/", tmp_path / strategy, "--strategy", strategy, "--warc", str(archive),
            *processes,
        )  # fmt: skip
        found[strategy] = comparable(records)
        checked = warcio("check", "-v", archive)
        assert checked.returncode == 0, checked.stdout[-2000:]
        assert "digest pass" in checked.stdout
        entries = warcio("index", "-f", "warc-type,warc-target-uri", archive)
        assert entries.returncode == 0, entries.stderr

        warc = read_archive(archive)
        assert warc[0].type == "warcinfo"
        info = warc[0].payload.decode()
        assert "software: crawler-lab/" in info and f"seeds: {origin}/" in info
        assert f'"strategy": "{strategy}"' in info
        # "/" and "/index.html" are one payload: the second of them is a revisit.
        responses = {
            r.headers["WARC-Target-URI"]: r for r in warc if r.type in ("response", "revisit")
        }
        requests = {r.headers["WARC-Concurrent-To"]: r for r in warc if r.type == "request"}
        answered = {r.url: r for r in records if r.status is not None}
        assert set(responses) == set(answered) | {f"{origin}/robots.txt"}, strategy
        counts = summary["warc"]["records"]
        assert counts["response"] + counts["revisit"] == counts["request"] == len(responses)
        assert counts["revisit"] == 1
        assert summary["warc"]["files"] == [str(archive)]
        for url, response in responses.items():
            assert response.headers["WARC-IP-Address"] == LOOPBACK
            if response.type == "revisit":
                assert {url, response.headers["WARC-Refers-To-Target-URI"]} == {
                    f"{origin}/",
                    f"{origin}/index.html",
                }
                continue
            assert response.headers["WARC-Payload-Digest"] == sha1_digest(response.payload)
            assert response.http_line.startswith("HTTP/1.1 ")
            assert not any(name.lower() == "transfer-encoding" for name, _ in response.http_headers)
            request = requests[response.headers["WARC-Record-ID"]]
            assert request.http_line.startswith(f"GET {urlsplit(url).path} HTTP/1.1")
            assert request.field("user-agent") == "crawler-lab/0.1"
            if url in answered:
                assert response.status == answered[url].status
            if response.status == 200 and url.endswith(".html"):
                assert response.field("content-encoding") == "gzip", url
                on_disk = doc_set.root / urlsplit(url).path.lstrip("/")
                assert decoded(response) == on_disk.read_bytes(), url
    for strategy, records in found.items():
        assert records == found["sync"], strategy


# -- Replay: pywb serves the archive, and the crawler crawls the replay -------------------------


@contextlib.contextmanager
def running_pywb(workdir: Path, *archives: Path) -> Iterator[str]:
    """Serve `archives` with pywb in collection `crawl`; yield the collection's replay prefix."""
    wayback, manager = PYWB / "wayback", PYWB / "wb-manager"
    if not wayback.exists():
        pytest.fail(f"{wayback} not found: run `make replay-tools` first")
    subprocess.run([manager, "init", "crawl"], cwd=workdir, check=True, capture_output=True)
    subprocess.run(
        [manager, "add", "crawl", *map(str, archives)], cwd=workdir, check=True, capture_output=True
    )

    def prepare() -> tuple[list[str], list[int], Path, str]:
        (port,) = free_ports(1)
        log = workdir / f"wayback-{port}.log"
        command = ["sh", "-c", f'cd "{workdir}" && exec "{wayback}" -b {LOOPBACK} -p {port} '
                   f'> "{log}" 2>&1']  # fmt: skip
        return command, [port], log, f"http://{LOOPBACK}:{port}/crawl/mp_/"

    with serving(prepare) as prefix:
        yield prefix


def test_the_archive_replays_in_pywb_and_its_replay_crawls_to_the_same_pages(
    nginx: Nginx, tmp_path: Path
) -> None:
    """Requests' Sphinx manual archived through nginx, then served by pywb: a crawl of the
    replay (pywb rewriting every link into the collection) finds the very pages, with the same
    titles, the first crawl found."""
    origin = nginx.origin("requests")
    archive = tmp_path / "requests.warc.gz"
    direct, _ = crawl(origin + "/", tmp_path / "direct", "--warc", str(archive), "--max-depth", "2")
    pages = {r.url: r.title for r in direct if r.status == 200}
    assert len(pages) > 20
    replay_dir = tmp_path / "replay"
    replay_dir.mkdir()
    with running_pywb(replay_dir, archive) as prefix:
        replayed, _ = crawl(
            prefix + origin + "/", tmp_path / "through-pywb", "--max-depth", "2", "--max-pages",
            "2000",
        )  # fmt: skip
    found = {}
    for record in replayed:
        if record.status != 200 or not record.url.startswith(prefix):
            continue
        original = record.url[len(prefix) :]
        if original.startswith("//"):  # pywb writes some links scheme-relative
            original = "http:" + original
        if original.startswith(origin):
            found[original] = record.title
    assert found == pages


# -- Revisits, rotation and a hostile body, through http.server ----------------------------------


@contextlib.contextmanager
def http_server(root: Path) -> Iterator[str]:
    """Serve `root` with Python's http.server; yield its origin."""

    def prepare() -> tuple[list[str], list[int], Path, str]:
        (port,) = free_ports(1)
        log = root.parent / f"http-server-{port}.log"
        command = ["sh", "-c", f'exec "{sys.executable}" -m http.server -b {LOOPBACK} '
                   f'-d "{root}" {port} > "{log}" 2>&1']  # fmt: skip
        return command, [port], log, f"http://{LOOPBACK}:{port}"

    with serving(prepare) as origin:
        yield origin


def write_site(root: Path, pages: int, size: int, copies: int = 0) -> None:
    """Write an index linking `pages` pages of `size` bytes each (incompressible), the first
    `copies` of them byte-for-byte the same."""
    root.mkdir(parents=True)
    links = "".join(f'<a href="p{n}.html">{n}</a>' for n in range(pages))
    (root / "index.html").write_text(f"<html><title>index</title><body>{links}</body></html>")
    same = base64.b64encode(os.urandom(size)).decode()[:size]
    for n in range(pages):
        filler = same if n < copies else base64.b64encode(os.urandom(size)).decode()[:size]
        body = f"<html><title>copy</title><body><p>{filler}</p></body></html>"
        (root / f"p{n}.html").write_text(body)


def test_an_identical_payload_is_archived_once_then_revisited(tmp_path: Path) -> None:
    """Five pages with one body: one response holds it, four revisits (identical-payload-digest,
    WARC/1.1's profile) name it, and pywb replays every one of them."""
    root = tmp_path / "site"
    write_site(root, pages=8, size=2000, copies=5)
    archive = tmp_path / "site.warc.gz"
    with http_server(root) as origin:
        crawl(origin + "/", tmp_path / "crawl", "--warc", str(archive))
    warc = read_archive(archive)
    copies = {f"{origin}/p{n}.html" for n in range(5)}
    holding = [r for r in warc if r.type == "response" and r.headers["WARC-Target-URI"] in copies]
    revisits = [r for r in warc if r.type == "revisit"]
    assert len(holding) == 1 and len(revisits) == 4
    first = holding[0]
    for revisit in revisits:
        assert revisit.headers["WARC-Target-URI"] in copies
        assert revisit.headers["WARC-Profile"].endswith(
            "/warc/1.1/revisit/identical-payload-digest"
        )
        assert revisit.headers["WARC-Refers-To-Target-URI"] == first.headers["WARC-Target-URI"]
        assert revisit.headers["WARC-Refers-To-Date"] == first.headers["WARC-Date"]
        assert revisit.headers["WARC-Payload-Digest"] == first.headers["WARC-Payload-Digest"]
        assert revisit.status == 200 and revisit.payload == b""
    assert warcio("check", archive).returncode == 0
    replay_dir = tmp_path / "replay"
    replay_dir.mkdir()
    with running_pywb(replay_dir, archive) as prefix:
        replayed, _ = crawl(prefix + origin + "/", tmp_path / "replayed")
    titles = {r.url[len(prefix) :]: r.title for r in replayed if r.status == 200}
    assert all(titles.get(url) == "copy" for url in copies), titles


def test_the_archive_rotates_at_its_size_into_numbered_files(tmp_path: Path) -> None:
    """--warc-max-size 1MiB over 3 MB of pages: numbered files, each opening with its warcinfo,
    each but the last past the size by less than one exchange, every record in exactly one."""
    root = tmp_path / "site"
    write_site(root, pages=60, size=50_000)
    base = tmp_path / "crawl.warc.gz"
    with http_server(root) as origin:
        records, summary = crawl(
            origin + "/", tmp_path / "crawl", "--warc", str(base), "--warc-max-size", "1MiB"
        )
    files = sorted(tmp_path.glob("crawl-*.warc.gz"))
    assert [f.name for f in files] == [f"crawl-{n:05d}.warc.gz" for n in range(len(files))]
    assert len(files) >= 3 and not base.exists()
    assert summary["warc"]["files"] == [str(f) for f in files]
    responses = []
    for number, file in enumerate(files):
        warc = read_archive(file)
        assert warc[0].type == "warcinfo" and warc[0].headers["WARC-Filename"] == file.name
        assert warcio("check", file).returncode == 0
        if number < len(files) - 1:
            assert 1024 * 1024 <= file.stat().st_size < 1024 * 1024 + 100_000
        responses += [r.headers["WARC-Target-URI"] for r in warc if r.type == "response"]
    assert sorted(responses) == sorted([r.url for r in records] + [f"{origin}/robots.txt"])


def test_a_body_past_max_bytes_is_archived_cut_and_marked_truncated(tmp_path: Path) -> None:
    """A 3 MB PDF (a body the crawl would not read without --warc) and a 3 MB page under
    --max-bytes 1MiB: each response holds the first MiB, WARC-Truncated: length."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text('<a href="big.html">b</a><a href="doc.pdf">d</a>')
    (root / "big.html").write_bytes(b"<p>" + os.urandom(3_000_000).hex().encode())
    (root / "doc.pdf").write_bytes(b"%PDF-1.4\n" + os.urandom(3_000_000))
    archive = tmp_path / "cut.warc.gz"
    with http_server(root) as origin:
        crawl(origin + "/", tmp_path / "crawl", "--warc", str(archive), "--max-bytes", "1MiB")
    warc = {r.headers["WARC-Target-URI"]: r for r in read_archive(archive) if r.type == "response"}
    for name in ("big.html", "doc.pdf"):
        response = warc[f"{origin}/{name}"]
        assert response.headers["WARC-Truncated"] == "length"
        assert len(response.payload) == 1024 * 1024
        assert (root / name).read_bytes().startswith(response.payload)
    assert "WARC-Truncated" not in warc[f"{origin}/"].headers
    assert warcio("check", archive).returncode == 0


# -- Kill -9, then resume ---------------------------------------------------------------------


def test_a_crawl_killed_mid_archive_resumes_to_a_valid_archive_of_every_record(
    tmp_path: Path,
) -> None:
    """A durable crawl of the mock site, SIGKILLed once records are committed, its archive's
    last record torn further by hand, then run again to its end: each record once in the output,
    the torn bytes cut, warcio checks the archive whole, and every recorded answer is in it."""
    settings = load_settings(overrides={"pages": 300, "latency": "20ms", "links": 8})
    state, output, archive = tmp_path / "c.db", tmp_path / "c.jsonl", tmp_path / "c.warc.gz"
    with MockServerProcess(settings) as server:
        command = [sys.executable, "-m", "crawler", "crawl", server.base_url, "--state",
                   str(state), "--resume", "-o", str(output), "--warc", str(archive), "-q",
                   "--concurrency", "8", "--stats-json", str(tmp_path / "stats.json")]  # fmt: skip
        process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while committed_records(state) < 60 and process.poll() is None:
                assert time.monotonic() < deadline, "the crawl committed nothing in two minutes"
                time.sleep(0.02)
            process.send_signal(signal.SIGKILL)
        finally:
            process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL, "the crawl ended before it was killed"
        whole = archive.stat().st_size
        member = zlib.compress(b"WARC/1.1\r\nWARC-Type: response\r\n" * 40, wbits=31)
        with archive.open("ab") as file:
            file.write(member[: len(member) // 2])  # the last record, torn
        finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert finished.returncode == 0, finished.stderr
    summary = json.loads((tmp_path / "stats.json").read_text())
    assert summary["warc"]["torn_bytes_cut"] == len(member) // 2
    assert archive.stat().st_size > whole
    records = read_records(output)
    check_output(output, len(records), state)
    assert len({r.url for r in records}) == len(records)
    checked = warcio("check", archive)
    assert checked.returncode == 0, checked.stdout[-2000:]
    warc = read_archive(archive)
    assert [r.type for r in warc].count("warcinfo") == 1
    archived = {r.headers["WARC-Target-URI"] for r in warc if r.type in ("response", "revisit")}
    assert {r.url for r in records if r.status is not None} <= archived


def test_a_torn_last_record_is_cut_wherever_the_crash_tore_it(tmp_path: Path) -> None:
    """An archive cut at every offset inside its last record is cut back to the record before,
    and warcio reads what is left whole; a whole file is left alone."""
    from crawler.archive.archive_options import ArchiveOptions
    from crawler.archive.warc import WarcArchive
    from crawler.http.exchange import Exchange

    path = tmp_path / "a.warc.gz"
    archive = WarcArchive(ArchiveOptions(str(path), info={"software": "test"}))
    archive.open()
    for n in range(3):
        archive.add(
            Exchange(
                f"http://x.test/{n}",
                time.time(),
                "GET /",
                (("Host", "x.test"),),
                "HTTP/1.1",
                "200 OK",
                (("Content-Type", "text/html"),),
                os.urandom(3000),
                None,
                "127.0.0.1",
            )
        )
    archive.drain()
    archive.close()
    data = path.read_bytes()
    assert whole_members_end(str(path)) == len(data)
    # The last exchange is two members (response, request): find where the request's begins.
    offsets = []
    with path.open("rb") as file:
        iterator = ArchiveIterator(file)
        for _ in iterator:
            offsets.append(iterator.get_record_offset())
    start = offsets[-1]
    for cut in range(start + 1, len(data), 37):
        torn = tmp_path / f"torn-{cut}.warc.gz"
        torn.write_bytes(data[:cut])
        assert cut_torn_tail(str(torn)) == cut - start
        assert torn.read_bytes() == data[:start]
        assert len(read_archive(torn)) == len(offsets) - 1
    assert cut_torn_tail(str(path)) == 0 and path.read_bytes() == data


# -- Bounded memory ------------------------------------------------------------------------


def test_memory_stays_bounded_however_much_is_archived(tmp_path: Path) -> None:
    """300 MiB of 2 MiB pages archived: the crawl's peak memory stays far below what it wrote
    (each body is held once, while it is written, and the bodies waiting are bounded)."""
    from tests.crawling import run_measuring_peak_rss

    settings = load_settings(overrides={"pages": 150, "page_size": "2MiB", "links": 4})
    archive = tmp_path / "big.warc.gz"
    with MockServerProcess(settings) as server:
        status, peak_mb = run_measuring_peak_rss(
            [
                sys.executable,
                "-m",
                "crawler",
                "crawl",
                server.base_url,
                "-q",
                "-o",
                str(tmp_path / "big.jsonl"),
                "--warc",
                str(archive),
                "--max-bytes",
                "4MiB",
                "--stats-json",
                str(tmp_path / "stats.json"),
            ],
            tmp_path,
        )
    assert status == 0
    payload = sum(len(r.payload) for r in read_archive(archive) if r.type == "response")
    assert payload > 250 * 1024 * 1024
    assert peak_mb < 250, f"peak {peak_mb:.0f} MiB for {payload / 2**20:.0f} MiB archived"


# -- Bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--warc", "out.warc"], "--warc: must name a .warc.gz file"),
        (["--warc", "/no/such/folder/a.warc.gz"], "cannot write /no/such/folder/a.warc.gz"),
        (["--warc-max-size", "5MiB"], "--warc-max-size: applies with --warc only"),
        (["--warc", "a.warc.gz", "--warc-max-size", "10"], "must be at least 1MiB"),
        (["--warc", "a.warc.gz", "--strategy", "broker", "--broker", "redis://127.0.0.1:1"],
         "--warc: is not written by --strategy broker"),
    ],
)  # fmt: skip
def test_bad_archive_settings_are_one_line_before_the_crawl(
    flags: list[str], says: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "crawler", "crawl", "http://127.0.0.1:9/", "-q", *flags],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert not list(tmp_path.iterdir())


# -- A full disk -----------------------------------------------------------------------------


def test_a_full_disk_for_the_archive_stops_the_crawl_and_a_resume_completes_it(
    tmp_path: Path,
) -> None:
    """The archive's disk fills: one line naming the file, exit 1, an archive of whole records
    (warcio checks it); once there is room, the same command finishes with every record once
    and every answer archived."""
    from tests.test_output_nothing_lost import SmallDisk, one_error_line

    disk = SmallDisk(tmp_path / "disk", "400k")
    try:
        settings = load_settings(overrides={"pages": 400, "links": 8, "latency": "2ms"})
        state, output, archive = tmp_path / "c.db", tmp_path / "c.jsonl", disk.path / "c.warc.gz"
        with MockServerProcess(settings) as server:
            command = [sys.executable, "-m", "crawler", "crawl", server.base_url, "--state",
                       str(state), "--resume", "-o", str(output), "--warc", str(archive),
                       "-q"]  # fmt: skip
            full = subprocess.run(command, capture_output=True, text=True, timeout=300)
            assert full.returncode == 1, full.stderr
            assert one_error_line(full.stderr) == (
                f"crawler: error: cannot write {archive}: No space left on device"
            )
            assert warcio("check", archive).returncode == 0
            assert whole_members_end(str(archive)) == archive.stat().st_size
            kept = read_records(output)
            assert len(kept) < 400  # the records of the answers it could not archive are not out
            disk.grow()
            finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
            assert finished.returncode == 0, finished.stderr
        records = read_records(output)
        check_output(output, len(records), state)
        assert len({r.url for r in records}) == len(records) > len(kept)
        assert warcio("check", archive).returncode == 0
        archived = {
            r.headers["WARC-Target-URI"]
            for r in read_archive(archive)
            if r.type in ("response", "revisit")
        }
        assert {r.url for r in records if r.status is not None} <= archived
    finally:
        disk.unmount()
