"""Details a new user trips on, each through the real command: what help says is what is sent and
written, a mistyped seed or limit is answered helpfully, and a record explains itself.

Python's own http.server (a server nobody here wrote) serves the pages whose records are checked.
"""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from crawler.strategies import STRATEGIES

CRAWLER = [sys.executable, "-m", "crawler"]


def crawler(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `crawler` in `cwd` to completion."""
    return subprocess.run(
        [*CRAWLER, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )


def closed_port() -> int:
    """Return a port of 127.0.0.1 nothing listens on (a connection to it is refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Recording(http.server.SimpleHTTPRequestHandler):
    """http.server's file handler, noting each request's User-Agent."""

    user_agents: ClassVar[list[str]] = []

    def parse_request(self) -> bool:
        parsed = super().parse_request()
        if parsed:
            self.user_agents.append(self.headers.get("User-Agent", ""))
        return parsed

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test's output quiet."""


def body_of_error(url: str) -> bytes:
    """Return the body the server sends with its error answer to `url`."""
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(url, timeout=30)
    return bytes(error.value.read())


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    """Serve a page linking to one that exists and one that does not, with http.server."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text(
        '<title>home</title><a href="here.html">here</a> <a href="gone.html">gone</a>'
    )
    (root / "here.html").write_text("<title>here</title>")
    _Recording.user_agents = []

    def handler(*args: object) -> _Recording:
        return _Recording(*args, directory=str(root))  # type: ignore[arg-type]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_a_404_records_the_bytes_the_server_sent(tmp_path: Path, site: str, strategy: str) -> None:
    """`bytes` of a 404 is the length of the error page http.server sent, in every strategy."""
    done = crawler(tmp_path, "crawl", site, "-o", "out.jsonl", "-q", "--strategy", strategy)
    assert done.returncode == 0, done.stderr
    records = {
        json.loads(line)["url"].removeprefix(site): json.loads(line)
        for line in (tmp_path / "out.jsonl").read_text().splitlines()
    }
    assert records["gone.html"]["status"] == 404
    assert records["gone.html"]["bytes"] == len(body_of_error(site + "gone.html")) > 0
    assert records["here.html"]["bytes"] == len("<title>here</title>")


def test_the_user_agent_sent_is_the_one_help_shows(tmp_path: Path, site: str) -> None:
    """The help's default User-Agent is exactly the header sent, and names no made-up URL."""
    help_text = " ".join(crawler(tmp_path, "crawl", "--help").stdout.split())
    done = crawler(tmp_path, "crawl", site, "-o", "", "-q", "--max-pages", "1")
    assert done.returncode == 0, done.stderr
    sent = set(_Recording.user_agents)
    assert len(sent) == 1
    (agent,) = sent
    assert f"[default: {agent}]" in help_text
    assert "http" not in agent


def test_record_links_help_names_the_field_records_have(tmp_path: Path, site: str) -> None:
    """--record-links's help names the field its records carry."""
    help_text = crawler(tmp_path, "crawl", "--help").stdout
    done = crawler(tmp_path, "crawl", site, "-o", "out.jsonl", "-q", "--record-links")
    assert done.returncode == 0, done.stderr
    first = json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])
    assert "outlinks" in first and "(`outlinks`)" in help_text


def test_an_unreachable_seed_counts_the_attempts_that_failed(tmp_path: Path) -> None:
    """A seed whose robots.txt cannot be reached says how many tries failed, not 0."""
    url = f"http://127.0.0.1:{closed_port()}/"
    done = crawler(tmp_path, "crawl", url, "-o", "out.jsonl", "-q", "--retries", "2")
    assert done.returncode == 1
    (record,) = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert (record["error"], record["attempts"]) == ("connect", 3)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["example.com"],
            "seeds: 'example.com' is not an http(s) URL; did you mean http://example.com/ ?",
        ),
        (["--max-pages", "0"], "--max-pages: must be at least 1 ('none' for no limit)"),
    ],
)
def test_a_mistyped_seed_or_limit_is_answered_in_one_line(
    tmp_path: Path, args: list[str], line: str
) -> None:
    """A bare host name is answered with the URL it probably meant; `--max-pages 0` (which used to
    mean no limit, silently) is refused, saying how to ask for no limit."""
    done = crawler(tmp_path, "crawl", *args)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"crawler crawl: error: {line}"]


def test_a_resume_with_other_settings_names_the_option(tmp_path: Path, site: str) -> None:
    """Resuming with another --max-depth names the option as typed, not the setting's field."""
    first = crawler(tmp_path, "crawl", site, "--state", "c.db", "-q", "--max-depth", "3")
    assert first.returncode == 0, first.stderr
    second = crawler(
        tmp_path, "crawl", site, "--state", "c.db", "--resume", "-q", "--max-depth", "4"
    )
    assert second.returncode == 2
    assert "holds a crawl with --max-depth 3, not 4;" in second.stderr


def test_a_busy_port_of_the_embedded_site_is_named_as_its_config_key(tmp_path: Path) -> None:
    """The embedded site's `port` belongs to `[mock_server]`: an error found once the crawl has
    started names it as it is, not as a key of `[crawl]`."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = tmp_path / "crawl.toml"
        config.write_text(f"[mock_server]\nport = {port}\n")
        done = crawler(tmp_path, "crawl", "--config", str(config), "-o", "out.jsonl")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"crawler crawl: error: port: 127.0.0.1:{port} is already in use"
    ]
