"""Fixtures of the conformance tests: real servers run as child processes on loopback ports.

A missing system package fails the tests that need it, with the command that installs it: a
conformance suite that skips itself quietly would look green while checking nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance.servers import (
    MissingTool,
    Nginx,
    require_program,
    running_httpbin,
    running_nginx,
)

HERE = Path(__file__).parent


def pytest_configure(config: pytest.Config) -> None:
    """Register the `conformance` marker (the project runs pytest with --strict-markers)."""
    config.addinivalue_line(
        "markers", "conformance: crawls real servers (nginx, httpbin) and compares with wget"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this directory `conformance`, so `-m conformance` selects the suite
    and `-m "not conformance"` leaves it out."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.conformance)


@pytest.fixture(scope="session")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    """nginx serving each documentation set on its own port, plainly and gzip-compressed."""
    try:
        with running_nginx(tmp_path_factory.mktemp("nginx")) as server:
            yield server
    except MissingTool as missing:
        pytest.fail(str(missing), pytrace=False)


@pytest.fixture(scope="session")
def wget() -> str:
    """The path of wget, the reference crawler."""
    try:
        return require_program("wget")
    except MissingTool as missing:
        pytest.fail(str(missing), pytrace=False)


@pytest.fixture(scope="session")
def httpbin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The origin of httpbin served by gunicorn."""
    try:
        with running_httpbin(tmp_path_factory.mktemp("httpbin")) as origin:
            yield origin
    except MissingTool as missing:
        pytest.fail(str(missing), pytrace=False)
