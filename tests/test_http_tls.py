"""HTTPS in every strategy: a certificate the system trusts is crawled; one it does not is a
`connect` error for the seed, the same in every strategy."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.core.records import Record

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl tool")

# aiohttp and the loop's client verify with OpenSSL's default paths, which SSL_CERT_FILE moves;
# requests verifies with certifi's bundle, so the trusted case is theirs alone.
OPENSSL_CLIENTS = ["async", "loop"]
EVERY_STRATEGY = ["sync", "threads", "async", "async-procs", "loop"]


@pytest.fixture(scope="module")
def tls_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """Serve two pages over TLS with a self-signed certificate for `localhost`."""
    root = tmp_path_factory.mktemp("tls")
    certificate, key = root / "cert.pem", root / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(certificate), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    pages = root / "pages"
    pages.mkdir()
    (pages / "index.html").write_text('<html><title>home</title><a href="/b.html">b</a></html>')
    (pages / "b.html").write_text("<html><title>b</title></html>")
    handler = functools.partial(QuietHandler, directory=str(pages))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://localhost:{server.server_address[1]}/", certificate
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """A static file server that keeps its request log out of the test's output."""

    def log_message(self, format: str, *args: object) -> None:
        pass


def crawl(seed: str, strategy: str, output: Path, trust: Path | None) -> list[Record]:
    """Crawl `seed` in a fresh process that trusts `trust` (none: only the system's roots)."""
    environment = dict(os.environ)
    environment.pop("SSL_CERT_FILE", None)
    if trust is not None:
        environment["SSL_CERT_FILE"] = str(trust)
    subprocess.run(
        [sys.executable, "-m", "crawler", "crawl", seed, "--strategy", strategy, "-q",
         "--retries", "0", "--workers", "1", "-o", str(output)],
        env=environment, capture_output=True, timeout=120,
    )  # fmt: skip
    return [Record.from_json(line) for line in output.read_text().splitlines()]


@pytest.mark.parametrize("strategy", OPENSSL_CLIENTS)
def test_a_trusted_certificate_is_crawled(
    tls_site: tuple[str, Path], tmp_path: Path, strategy: str
) -> None:
    seed, certificate = tls_site
    records = crawl(seed, strategy, tmp_path / "out.jsonl", certificate)
    assert sorted((record.url.removeprefix(seed), record.status) for record in records) == [
        ("", 200),
        ("b.html", 200),
    ]
    assert {record.title for record in records} == {"home", "b"}


@pytest.mark.parametrize("strategy", EVERY_STRATEGY)
def test_an_untrusted_certificate_is_a_connect_error(
    tls_site: tuple[str, Path], tmp_path: Path, strategy: str
) -> None:
    seed, _ = tls_site
    [record] = crawl(seed, strategy, tmp_path / "out.jsonl", None)
    assert (record.status, record.error and record.error.value) == (None, "connect")
