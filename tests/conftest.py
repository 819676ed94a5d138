"""Shared fixtures: mock sites served in-process, and an HTTP client to talk to them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from mock_server import MockServer, load_settings

StartServer = Callable[..., Awaitable[MockServer]]


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
    """Return the server's /_stats JSON."""
    async with http.get(server.origins[0] + "/_stats", params=query) as response:
        return await response.json()
