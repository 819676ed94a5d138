"""Shared fixtures: mock sites served in-process, and an HTTP client to talk to them."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from crawler.settings import BROKER_ENVIRONMENT
from mock_server import MockServer, load_settings
from tests.redis_server import REDIS_SERVER, shared_broker_url

StartServer = Callable[..., Awaitable[MockServer]]

# Tests stop crawls with Ctrl-C, SIGTERM and SIGHUP, and a crawl keeps ignoring a stop signal it
# was started ignoring (as `nohup` asks). A suite run in the background of a script inherits
# SIGINT ignored (shells do that to background jobs), or SIGHUP under nohup, and would pass that
# on to every crawl it starts: the suite hears them again, so its crawls do too.
for _signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    if signal.getsignal(_signum) is signal.SIG_IGN:
        signal.signal(
            _signum, signal.default_int_handler if _signum == signal.SIGINT else signal.SIG_DFL
        )


def pytest_configure(config: pytest.Config) -> None:
    """Give every `--strategy broker` crawl of the suite a real Redis, through the variable a
    user would set: the tests that run each strategy then run the broker's too, in-process and
    as `crawler crawl` commands alike (each crawl has its own crawl id)."""
    if REDIS_SERVER is not None and BROKER_ENVIRONMENT not in os.environ:
        os.environ[BROKER_ENVIRONMENT] = shared_broker_url()


@pytest.fixture
async def start_server() -> AsyncIterator[StartServer]:
    """Start mock servers with settings given as user-facing names; stop them after the test."""
    servers: list[MockServer] = []

    async def start(**settings: Any) -> MockServer:
        server = MockServer(load_settings(overrides=settings))
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp session that does not follow redirects, so tests see each hop."""
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def get_stats(http: aiohttp.ClientSession, server: MockServer, **query: str) -> Any:
    """Return the server's /_stats JSON once every request has left the server.

    A request counts as in flight until its handler returns, a moment after its last byte is
    sent: a client holding every response may still read it in flight (on a loaded machine, or
    with worker processes, for milliseconds or more). The wait is bounded; after it, the last
    reading is returned as it is, and an assertion on it will say what it saw.
    """
    deadline = time.monotonic() + 10
    while True:
        async with http.get(server.origins[0] + "/_stats", params=query) as response:
            stats = await response.json()
        if stats["in_flight"] == 0 or time.monotonic() > deadline:
            return stats
        await asyncio.sleep(0.01)
