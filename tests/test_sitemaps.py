"""`--sitemaps`: what a site's sitemaps list is crawled, in every strategy, and a hostile
sitemap is an error record, never a hang.

The sitemaps are nobody's here: MkDocs, a site generator from PyPI, builds a small documentation
site and writes its `sitemap.xml` and `sitemap.xml.gz`; nginx serves it, with a robots.txt that
names the compressed one, and a page the navigation leaves out (found only through the sitemap).
The pages MkDocs built are the oracle. Beside it, nginx serves hostile files: a billion-laughs
and an XXE sitemap, a gzip bomb, a 10 MB line, indexes that name each other, a file broken part
way and one past the protocol's 50,000 URLs.
"""

from __future__ import annotations

import datetime as dt
import gzip
import resource
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from crawler.core.records import ErrorKind, Record
from crawler.pages.page_options import PageOptions
from crawler.pages.sitemap import (
    MAX_SITEMAP_BYTES,
    MAX_SITEMAP_URLS,
    analyze_sitemap,
    as_since,
    lastmod_time,
)
from crawler.strategies import STRATEGIES
from mock_server import MockServerProcess, load_settings
from mock_server.site import Site
from tests.conformance.servers import LOOPBACK, MissingTool, free_ports, require_program, serving
from tests.crawling import crawl_from_command

BASE = "http://site.test"
URLSET = '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{}</urlset>'
INDEX = '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{}</sitemapindex>'
BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>/&lol9;</loc></url></urlset>
"""
XXE = """<?xml version="1.0"?>
<!DOCTYPE urlset [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>/&secret;</loc></url></urlset>
"""


def analysed(body: bytes | str, since: str | None = None) -> tuple[Any, ...]:
    """Return (pages, lastmods, sitemaps, entries, error) of a sitemap at BASE/sitemap.xml."""
    data = body.encode() if isinstance(body, str) else body
    options = PageOptions(sitemap_since=as_since(since) if since else None)
    page = analyze_sitemap(data, f"{BASE}/sitemap.xml", "application/xml", options)
    pages = [url for url, _ in page.links]
    return pages, list(page.lastmods or ()), list(page.sitemaps), page.link_count, page.error


def test_urlsets_indexes_and_text_sitemaps_are_read_with_their_lastmod() -> None:
    """A urlset's entries (namespaced or not, relative locs resolved, an image extension's
    <image:loc> not taken for the page), an index's sitemaps, a text sitemap's lines."""
    urlset = URLSET.format(
        "<url><loc> /a </loc><lastmod>2026-11-01</lastmod>"
        '<image:image xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">'
        "<image:loc>/img.png</image:loc></image:image></url>"
        "<url><loc>http://site.test/b?x=1&amp;y=2</loc></url>"
        "<url><lastmod>2026-01-01</lastmod></url>"  # no loc: counted, nothing taken
    )
    assert analysed(urlset) == (
        [f"{BASE}/a", f"{BASE}/b?x=1&y=2"],
        ["2026-11-01", None],
        [],
        2,
        None,
    )
    plain = "<urlset><url><loc>/c</loc></url></urlset>"  # no namespace, as many sites write it
    assert analysed(plain)[0] == [f"{BASE}/c"]
    index = INDEX.format(
        "<sitemap><loc>/s1.xml.gz</loc><lastmod>2026-10-01</lastmod></sitemap>"
        "<sitemap><loc>/s2.txt</loc></sitemap>"
    )
    assert analysed(index) == ([], [], [f"{BASE}/s1.xml.gz", f"{BASE}/s2.txt"], 2, None)
    text = "\ufeffhttp://site.test/t1\r\n\n   /t2  \nnot a url at all\n"
    assert analysed(text)[0] == [f"{BASE}/t1", f"{BASE}/t2", f"{BASE}/not%20a%20url%20at%20all"]
    assert analysed(gzip.compress(urlset.encode())) == analysed(urlset)
    utf16 = '<?xml version="1.0" encoding="UTF-16"?>' + plain
    assert analysed(utf16.encode("utf-16"))[0] == [f"{BASE}/c"]


def test_since_takes_what_changed_and_what_has_no_date() -> None:
    """`--sitemap-since`: entries and an index's sitemaps dated before are skipped; undated
    entries and dates that are not W3C datetimes are taken."""
    urlset = URLSET.format(
        "<url><loc>/old</loc><lastmod>2026-10-31T23:59:59Z</lastmod></url>"
        "<url><loc>/new</loc><lastmod>2026-11-01T08:00:00+01:00</lastmod></url>"
        "<url><loc>/undated</loc></url>"
        "<url><loc>/odd</loc><lastmod>last tuesday</lastmod></url>"
        "<url><loc>/month</loc><lastmod>2026-11</lastmod></url>"
    )
    pages = analysed(urlset, since="2026-11-01")[0]
    assert pages == [f"{BASE}/new", f"{BASE}/undated", f"{BASE}/odd", f"{BASE}/month"]
    index = INDEX.format(
        "<sitemap><loc>/a.xml</loc><lastmod>2025-01-01</lastmod></sitemap>"
        "<sitemap><loc>/b.xml</loc><lastmod>2026-12-01</lastmod></sitemap>"
    )
    assert analysed(index, since="2026-11-01T00:00Z")[2] == [f"{BASE}/b.xml"]
    assert lastmod_time("2026") == dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()
    assert lastmod_time("2026-11-01T08:00") == lastmod_time("2026-11-01T08:00Z")
    assert as_since(dt.date(2026, 11, 1)) == as_since("2026-11-01")
    with pytest.raises(ValueError, match="not a date"):
        as_since("yesterday")


def test_hostile_sitemaps_are_refused_or_cut_at_their_limits() -> None:
    """No DTD (billion laughs, XXE: `parse`, nothing taken), the 50 MB and 50,000-URL limits
    (`too_large`, what came before kept), a 10 MB loc dropped, a file broken part way (what
    came before kept), an HTML page at /sitemap.xml, a broken or cut gzip stream."""
    assert analysed(BILLION_LAUGHS) == ([], [], [], 0, ErrorKind.PARSE)
    assert analysed(XXE) == ([], [], [], 0, ErrorKind.PARSE)
    bomb = gzip.compress(b"<urlset><url><loc>/first</loc></url>" + b" " * (MAX_SITEMAP_BYTES + 1))
    assert len(bomb) < 100_000
    assert analysed(bomb) == ([f"{BASE}/first"], [None], [], 1, ErrorKind.TOO_LARGE)
    many = "".join(f"<url><loc>/p{index}</loc></url>" for index in range(MAX_SITEMAP_URLS + 5))
    pages, _, _, entries, error = analysed(URLSET.format(many))
    assert (len(pages), entries, error) == (MAX_SITEMAP_URLS, MAX_SITEMAP_URLS, ErrorKind.TOO_LARGE)
    long_loc = URLSET.format(f"<url><loc>/{'x' * 10_000_000}</loc></url><url><loc>/ok</loc></url>")
    assert analysed(long_loc) == ([f"{BASE}/ok"], [None], [], 2, None)
    long_line = "/" + "y" * 10_000_000 + "\n/ok\n"
    assert analysed(long_line)[0] == [f"{BASE}/ok"]
    broken = URLSET.format("<url><loc>/a</loc></url><url><loc>/b</loc></url>")[:-9] + "<<>>"
    assert analysed(broken)[0] == [f"{BASE}/a", f"{BASE}/b"]
    assert analysed(broken)[4] is ErrorKind.PARSE
    assert analysed("<!DOCTYPE html><html><a href='/x'>x</a></html>")[4] is ErrorKind.PARSE
    assert analysed("<html><body>not a sitemap</body></html>")[4] is ErrorKind.PARSE
    assert analysed(b"\x1f\x8b\x08\x00garbage")[4] is ErrorKind.PARSE
    assert analysed(gzip.compress(URLSET.format("").encode())[:-12])[4] is ErrorKind.PARSE


# -- Through nginx -------------------------------------------------------------------------

MKDOCS_PAGES = {
    "index.md": "# Home\n\nSee [the guide](guide/install.md).\n",
    "guide/install.md": "# Install\n\nRun it.\n",
    "guide/configure.md": "# Configure\n\nSet it.\n",
    "reference/api.md": "# API\n\nCall it.\n",
    "reference/cli.md": "# CLI\n\nType it.\n",
    "about.md": "# About\n",
    "private/notes.md": "# Notes\n\nrobots.txt disallows these.\n",
    "orphan.md": "# Orphan\n\nNo page links here: only the sitemap lists it.\n",
}


@dataclass(frozen=True, slots=True)
class Sites:
    """nginx serving a MkDocs site (`docs`) and hostile sitemaps (`hostile`)."""

    docs: str
    hostile: str
    built: Path  # MkDocs' output: the oracle of what the sitemap lists


def build_docs(root: Path, site_url: str) -> Path:
    """Build MkDocs' site for `site_url` (sitemap.xml and .gz included); return its folder."""
    docs = root / "docs"
    for name, text in MKDOCS_PAGES.items():
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        (docs / name).write_text(text)
    nav = [name for name in MKDOCS_PAGES if name != "orphan.md"]
    (root / "mkdocs.yml").write_text(
        f"site_name: Sitemap test\nsite_url: {site_url}\nnav:\n"
        + "".join(f"  - {name}\n" for name in nav)
    )
    site = root / "site"
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--quiet", "--site-dir", str(site)],
        cwd=root, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    (site / "robots.txt").write_text(
        "User-agent: *\nDisallow: /private/\nSitemap: /sitemap.xml.gz\n"
    )
    return site


def write_hostile(root: Path, origin: str) -> None:
    """Write the hostile sitemaps, and a robots.txt that names every one."""
    root.mkdir()
    files: dict[str, bytes] = {
        "bomb.xml": BILLION_LAUGHS.encode(),
        "xxe.xml": XXE.encode(),
        "gzbomb.xml.gz": gzip.compress(
            URLSET.format("<url><loc>/page</loc></url>" + " " * (MAX_SITEMAP_BYTES + 1)).encode()
        ),
        "long.txt": ("/" + "z" * 10_000_000 + "\n/page\n").encode(),
        "loop-a.xml": INDEX.format(
            f"<sitemap><loc>{origin}/loop-b.xml</loc></sitemap>"
            f"<sitemap><loc>{origin}/loop-a.xml</loc></sitemap>"
        ).encode(),
        "loop-b.xml": INDEX.format(f"<sitemap><loc>{origin}/loop-a.xml</loc></sitemap>").encode(),
        "broken.xml": URLSET.format("<url><loc>/page</loc></url>").encode()[:-9] + b"<<<",
        # Entries out of scope (counted, never fetched), past the protocol's limit.
        "many.txt": "".join(
            f"http://elsewhere.test/{index}\n" for index in range(MAX_SITEMAP_URLS + 10)
        ).encode(),
    }
    for name, body in files.items():
        (root / name).write_bytes(body)
    (root / "page").write_text("<html><title>the page</title></html>")
    (root / "index.html").write_text("<html><title>home</title></html>")
    (root / "robots.txt").write_text(
        "User-agent: *\n" + "".join(f"Sitemap: /{name}\n" for name in files)
    )


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    try:
        nginx = require_program("nginx")
    except MissingTool as missing:
        pytest.fail(str(missing), pytrace=False)
    workdir = tmp_path_factory.mktemp("sitemaps")

    def prepare() -> tuple[list[str], list[int], Path, Sites]:
        ports = free_ports(2)
        docs_origin, hostile_origin = (f"http://{LOOPBACK}:{port}" for port in ports)
        attempt = workdir / f"on-{ports[0]}"
        attempt.mkdir()
        built = build_docs(attempt, docs_origin + "/")
        write_hostile(attempt / "hostile", hostile_origin)
        servers = "".join(
            f"    server {{ listen {LOOPBACK}:{port}; root {root}; }}\n"
            for port, root in zip(ports, (built, attempt / "hostile"), strict=True)
        )
        config = attempt / "nginx.conf"
        config.write_text(
            textwrap.dedent(f"""\
            daemon off;
            master_process off;
            worker_processes 1;
            pid {attempt / "nginx.pid"};
            error_log {attempt / "error.log"} warn;
            events {{ worker_connections 256; }}
            http {{
                include /etc/nginx/mime.types;
                types {{ application/gzip gz; text/plain txt; }}
                access_log off;
                client_body_temp_path {attempt / "body"};
                proxy_temp_path {attempt / "proxy"};
                fastcgi_temp_path {attempt / "fastcgi"};
                uwsgi_temp_path {attempt / "uwsgi"};
                scgi_temp_path {attempt / "scgi"};
            """)
            + servers
            + "}\n"
        )
        log = attempt / "error.log"
        command = [nginx, "-p", str(attempt), "-c", str(config), "-e", str(log)]
        return command, ports, log, Sites(docs_origin, hostile_origin, built)

    with serving(prepare) as running:
        yield running


def crawl(seed: str, out: Path, *flags: str) -> tuple[list[Record], dict[str, Any]]:
    """Crawl `seed` with `flags`; return the records and the summary (the crawl must succeed)."""
    return crawl_from_command(seed, out, *flags, timeout=180)


def built_pages(sites: Sites) -> set[str]:
    """Return the URL of every page MkDocs built (a folder's index.html)."""
    urls = set()
    for page in sites.built.rglob("index.html"):
        folder = page.parent.relative_to(sites.built).as_posix()
        urls.add(f"{sites.docs}/" if folder == "." else f"{sites.docs}/{folder}/")
    return urls


def comparable(records: list[Record]) -> dict[str, tuple[Any, ...]]:
    return {
        r.url: (r.status, r.depth, r.parent, r.error, r.kind, r.lastmod, r.links) for r in records
    }


def test_every_strategy_crawls_what_a_generators_sitemap_lists(
    sites: Sites, tmp_path: Path
) -> None:
    """`--sitemaps-only` on MkDocs' site: robots.txt names sitemap.xml.gz, whose pages (the
    orphan too) are crawled at depth 1 with MkDocs' lastmod, robots.txt's Disallow holds for
    them, /sitemap.xml is read as well; every strategy writes the same records."""
    found: dict[str, dict[str, tuple[Any, ...]]] = {}
    for strategy in map(str, STRATEGIES):
        records, summary = crawl(
            sites.docs + "/", tmp_path / strategy, "--strategy", strategy, "--sitemaps-only"
        )
        found[strategy] = comparable(records)
        assert summary["sitemaps"]["read"] == 2
    reference = found["sync"]
    pages = built_pages(sites)
    assert f"{sites.docs}/orphan/" in pages and f"{sites.docs}/private/notes/" in pages
    seed = f"{sites.docs}/"
    listed = {url for url, (_, depth, *_rest) in reference.items() if depth == 1}
    assert listed == pages - {seed}
    compressed, plain = f"{sites.docs}/sitemap.xml.gz", f"{sites.docs}/sitemap.xml"
    assert reference[compressed][:5] == (200, 0, f"{sites.docs}/robots.txt", None, "sitemap")
    assert reference[compressed][6] == len(pages)
    assert reference[plain][:5] == (200, 0, None, None, "sitemap")
    assert reference[f"{sites.docs}/private/notes/"][3] is ErrorKind.ROBOTS
    today = dt.date.today().isoformat()
    for url in listed:
        status, _, parent, error, kind, lastmod, _ = reference[url]
        assert parent == plain and kind is None and lastmod is not None, url
        assert lastmod[:4] == today[:4]
        assert (status, error) == ((None, ErrorKind.ROBOTS) if "private" in url else (200, None))
    for strategy, records in found.items():
        assert records == reference, strategy


def test_sitemaps_add_to_the_links_and_since_takes_what_changed(
    sites: Sites, tmp_path: Path
) -> None:
    """Without --sitemaps the orphan is never found; with it, it is, beside every linked page.
    `--sitemap-since` a day ahead of MkDocs' lastmod takes none of its pages."""
    seed = sites.docs + "/"
    linked, _ = crawl(seed, tmp_path / "links")
    both, _ = crawl(seed, tmp_path / "both", "--sitemaps")
    orphan = f"{sites.docs}/orphan/"
    assert orphan not in {record.url for record in linked}
    assert orphan in {record.url for record in both}
    assert {record.url for record in linked} < {record.url for record in both}
    assert all(record.kind is None and record.lastmod is None for record in linked)
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    since, _ = crawl(seed, tmp_path / "since", "--sitemaps-only", "--sitemap-since", tomorrow)
    assert {record.url for record in since} == {
        seed,
        f"{sites.docs}/sitemap.xml",
        f"{sites.docs}/sitemap.xml.gz",
    }


def test_a_resumed_crawl_keeps_what_its_sitemaps_said(sites: Sites, tmp_path: Path) -> None:
    """With --state, a crawl cut at 5 pages and resumed writes the records of one whole crawl:
    which URLs are sitemaps, and each page's lastmod, live in the state file."""
    seed = sites.docs + "/"
    whole, _ = crawl(seed, tmp_path / "whole", "--sitemaps-only")
    state = str(tmp_path / "crawl.db")
    output = ["-o", str(tmp_path / "resumed.jsonl")]
    first = [sys.executable, "-m", "crawler", "crawl", seed, "-q", "--sitemaps-only", *output]
    run = subprocess.run(
        [*first, "--state", state, "--max-pages", "5"], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    run = subprocess.run(
        [*first, "--state", state, "--resume"], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    lines = (tmp_path / "resumed.jsonl").read_text().splitlines()
    assert comparable([Record.from_json(line) for line in lines]) == comparable(whole)


def test_hostile_sitemaps_end_as_error_records(sites: Sites, tmp_path: Path) -> None:
    """Every hostile sitemap robots.txt names ends as a record, in two strategies (parsing on
    the loop, and in a process pool): bombs refused or cut, the loop read once per index, the
    URLs past 50,000 not taken; the crawl ends by itself and its memory stays small."""
    origin = sites.hostile
    for strategy in ("async", "async-procs"):
        records, summary = crawl(
            origin + "/", tmp_path / strategy, "--strategy", strategy, "--sitemaps-only",
            "--max-bytes", "20MiB",
        )  # fmt: skip
        by_url = {record.url.removeprefix(origin): record for record in records}
        errors = {url: (record.error, record.links) for url, record in by_url.items()}
        assert errors["/bomb.xml"] == (ErrorKind.PARSE, 0)
        assert errors["/xxe.xml"] == (ErrorKind.PARSE, 0)
        assert errors["/gzbomb.xml.gz"] == (ErrorKind.TOO_LARGE, 1)
        assert errors["/long.txt"] == (None, 2)
        assert errors["/broken.xml"] == (ErrorKind.PARSE, 1)
        assert errors["/many.txt"] == (ErrorKind.TOO_LARGE, MAX_SITEMAP_URLS)
        assert errors["/loop-a.xml"] == (None, 2) and errors["/loop-b.xml"] == (None, 1)
        assert by_url["/page"].status == 200 and by_url["/page"].depth == 1
        assert sorted(by_url) == sorted(
            ["/", "/page", "/sitemap.xml", "/bomb.xml", "/xxe.xml", "/gzbomb.xml.gz",
             "/long.txt", "/loop-a.xml", "/loop-b.xml", "/broken.xml", "/many.txt"]
        )  # fmt: skip
        assert by_url["/sitemap.xml"].error is ErrorKind.HTTP_4XX
        assert summary["broken"]["total"] == 0  # a missing /sitemap.xml nobody named
        assert summary["sitemaps"]["read"] == 9
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert peak_kib < 1024 * 1024  # a GiB: a billion laughs expanded would be 3 GB


def test_a_bad_since_is_one_line_before_the_crawl() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "crawler", "crawl", "http://127.0.0.1:9/", "--sitemap-since",
         "yesterday"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--sitemap-since" in result.stderr and "not a date" in result.stderr


def test_the_mock_sites_sitemap_lists_every_page(tmp_path: Path) -> None:
    """The mock site's `--sitemaps` (what benchmarks/sitemaps.py crawls): /sitemap.xml lists
    every page with a lastmod, and `--sitemaps-only` finds each one at depth 1."""
    settings = load_settings(overrides={"pages": 40, "faults": "none", "sitemaps": True})
    site = Site(settings.site)
    with MockServerProcess(settings) as server:
        records, summary = crawl(server.base_url, tmp_path, "--sitemaps-only")
        origin = server.base_url.rstrip("/")
    assert summary["sitemaps"] == {"read": 1, "entries": 40, "too_deep": 0}
    listed = {record.url for record in records if record.depth == 1}
    home = site.page_url(0)
    expected = {site.page_url(page) for page in range(40)} - {home}
    assert {url.replace(site.origins[0], origin) for url in expected} == listed
    assert all(record.lastmod is not None and record.lastmod.startswith("2026-")
               for record in records if record.depth == 1)  # fmt: skip
