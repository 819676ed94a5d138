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
    modules = modules_loaded_by("import crawler.run.embedded")
    assert within(modules, "mock_server") and within(modules, "aiohttp.web")


def test_the_core_imports_no_http_client_or_server() -> None:
    """`import crawler.core.engine` loads no aiohttp, no requests, no mock server and no
    asyncio: the core decides, the strategies do the I/O."""
    modules = modules_loaded_by("import crawler.core.engine")
    assert "crawler.core.engine" in modules
    assert within(modules, "aiohttp", "requests", "mock_server", "asyncio") == []
    # It takes its own policy: no settings machinery (click, TOML, the CLI's settings) either.
    assert within(modules, "click", "crawler.settings", "command_kit") == []


def test_the_mock_server_imports_nothing_from_the_crawler() -> None:
    """`import mock_server` (and its command) loads nothing from `crawler`."""
    modules = modules_loaded_by("import mock_server, mock_server.command")
    assert "mock_server.server" in modules
    assert within(modules, "crawler") == []


COMMAND_KIT_MODULES = sorted(
    path.stem
    for path in (Path(__file__).parents[1] / "command_kit").glob("*.py")
    if path.stem != "__init__"
)


@pytest.mark.parametrize("module", COMMAND_KIT_MODULES)
def test_the_command_kit_imports_neither_package(module: str) -> None:
    """Every module of `command_kit` loads neither `crawler` nor `mock_server`."""
    modules = modules_loaded_by(f"import command_kit.{module}")
    assert f"command_kit.{module}" in modules
    assert within(modules, "crawler", "mock_server") == []


def test_the_core_exports_its_public_names_and_loads_them_on_use() -> None:
    """`crawler.core` names every public name a strategy or store needs, each from its own module,
    and importing the package alone loads no engine (so `crawler --help` stays light)."""
    modules = modules_loaded_by(
        "import crawler.core as core\n"
        "assert len(core.__all__) == len(set(core.__all__)) and set(core.__all__) == set(core._HOME)\n"
        "import sys\n"
        "assert 'crawler.core.engine' not in sys.modules\n"
        "for name in core.__all__:\n"
        "    value = getattr(core, name)\n"
        "    module = sys.modules['crawler.core.' + core._HOME[name]]\n"
        "    assert getattr(module, name) is value, name\n"
    )
    assert "crawler.core.engine" in modules


def test_no_two_modules_share_a_file_name() -> None:
    """Each module's file name says which one it is: `grep`, a traceback or an editor tab showing
    `settings.py` never leaves the reader guessing which of several."""
    root = Path(__file__).parents[1]
    seen: dict[str, list[str]] = {}
    for package in ("crawler", "command_kit", "mock_server"):
        for path in sorted((root / package).rglob("*.py")):
            if path.stem not in ("__init__", "__main__"):
                seen.setdefault(path.name, []).append(str(path.relative_to(root)))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}


def test_the_folder_packages_load_nothing_by_themselves() -> None:
    """`crawler.pages`, `crawler.run`, `crawler.stopping` and `crawler.output` are folders, not
    APIs: importing them loads none of their modules, so a module pays only for what it uses."""
    packages = ("crawler.pages", "crawler.run", "crawler.stopping", "crawler.output")
    modules = modules_loaded_by("import " + ", ".join(packages))
    assert within(modules, "crawler") == sorted(["crawler", *packages])
