"""What each entry point imports: dependencies point one way, and a command loads what it uses.

Each check runs a fresh interpreter and reads the modules it had loaded when it exited, so what
this test process has imported already never hides an import.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

# Printed last, on stderr, when the interpreter exits: whatever the code ran, it is all loaded.
_REPORT = (
    "import atexit, json, sys\n"
    "atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))\n"
)


def modules_loaded_by(code: str, cwd: Path | None = None) -> set[str]:
    """Run `code` in a fresh interpreter; return the modules loaded when it exited."""
    done = subprocess.run(
        [sys.executable, "-c", _REPORT + code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )
    assert done.stderr, f"no report (exit {done.returncode})"
    return set(json.loads(done.stderr.splitlines()[-1]))


def within(modules: set[str], *packages: str) -> list[str]:
    """Return the modules that are one of `packages` or inside one, sorted."""
    return sorted(
        name
        for name in modules
        if any(name == package or name.startswith(package + ".") for package in packages)
    )


def closed_port() -> int:
    """Return a port of 127.0.0.1 nothing listens on (a connection to it is refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_cli_imports_no_server_http_client_or_charts() -> None:
    """`import crawler.cli` (all `crawler --help` needs) loads no mock server, no aiohttp or
    requests, no matplotlib, no `crawler.compare`, no rich and no sqlite3."""
    modules = modules_loaded_by("import crawler.cli")
    assert "crawler.cli" in modules
    heavy = ("mock_server", "aiohttp", "requests", "matplotlib", "crawler.compare", "rich")
    assert within(modules, *heavy, "sqlite3") == []


def test_help_imports_no_server_http_client_or_charts() -> None:
    """`crawler --help` and `crawler crawl --help` load neither the mock server, nor aiohttp,
    nor matplotlib, nor `crawler.compare`."""
    for argv in (["--help"], ["crawl", "--help"]):
        modules = modules_loaded_by(
            f"from crawler.cli import main\nmain({argv!r}, prog_name='crawler')"
        )
        assert "click" in modules, argv
        assert within(modules, "mock_server", "aiohttp", "matplotlib", "crawler.compare") == []


def test_a_crawl_of_a_url_imports_no_mock_server(tmp_path: Path) -> None:
    """A crawl of a URL (here one that refuses connections) loads aiohttp's client but not its
    server side, nor the mock server, nor matplotlib, nor `crawler.compare`."""
    argv = ["crawl", f"http://127.0.0.1:{closed_port()}/", "-q", "--retries", "0"]
    modules = modules_loaded_by(
        f"from crawler.cli import main\nmain({argv!r}, prog_name='crawler')", cwd=tmp_path
    )
    assert "aiohttp" in modules and "crawler.strategies.async_" in modules
    assert within(modules, "mock_server", "aiohttp.web", "matplotlib", "crawler.compare") == []


def test_the_embedded_site_module_imports_the_mock_server() -> None:
    """The embedded site's module does load the mock server and aiohttp's server side: the
    checks above would see them."""
    modules = modules_loaded_by("import crawler.embedded")
    assert within(modules, "mock_server") and within(modules, "aiohttp.web")


def test_the_core_imports_no_http_client_or_server() -> None:
    """`import crawler.core.engine` loads no aiohttp, no requests, no mock server and no
    asyncio: the core decides, the strategies do the I/O."""
    modules = modules_loaded_by("import crawler.core.engine")
    assert "crawler.core.engine" in modules
    assert within(modules, "aiohttp", "requests", "mock_server", "asyncio") == []
    # It takes its own policy: no settings machinery (click, TOML, the CLI's settings) either.
    assert within(modules, "click", "crawler.settings", "crawl_basics") == []


def test_the_mock_server_imports_nothing_from_the_crawler() -> None:
    """`import mock_server` (and its command) loads nothing from `crawler`."""
    modules = modules_loaded_by("import mock_server, mock_server.cli")
    assert "mock_server.server" in modules
    assert within(modules, "crawler") == []


@pytest.mark.parametrize(
    "module", ["errors", "units", "config", "cli_errors", "limits", "declared"]
)
def test_the_shared_basics_import_neither_package(module: str) -> None:
    """Every module of `crawl_basics` loads neither `crawler` nor `mock_server`."""
    modules = modules_loaded_by(f"import crawl_basics.{module}")
    assert f"crawl_basics.{module}" in modules
    assert within(modules, "crawler", "mock_server") == []
