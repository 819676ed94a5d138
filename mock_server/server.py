"""Run the mock site: in this process (`MockServer`), in its own process (`MockServerProcess`),
or as several worker processes sharing each port through SO_REUSEPORT (`serve_forever`).

Tests use the in-process server for speed; measurements use a separate process so that the
server's CPU never mixes with the crawler's.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import signal
import socket
import time
from collections.abc import Callable, Coroutine
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import SynchronizedArray
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import web

from command_kit.errors import ResourceError
from command_kit.open_file_limit import raise_open_file_limit
from mock_server.app import STATE, create_app
from mock_server.listening import LISTEN_BACKLOG, bind_sockets, origins_of
from mock_server.request_stats import Stats, shared_counters
from mock_server.server_settings import ServerSettings
from mock_server.site import Site

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on uvloop when it is installed, else on the default asyncio loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


class MockServer:
    """The mock site served from this process's event loop, on free ports by default.

    Usage: `async with MockServer(settings) as server: ... server.base_url ... server.site`.
    """

    def __init__(self, settings: ServerSettings | None = None) -> None:
        self.settings = settings or ServerSettings()
        self._runner: web.AppRunner | None = None
        self.origins: list[str] = []
        self.site: Site | None = None
        self.stats: Stats | None = None

    def __repr__(self) -> str:
        where = self.base_url if self._runner else "not started"
        site = self.settings.site
        return f"<MockServer {where} pages={site.pages} hosts={site.hosts}>"

    @property
    def base_url(self) -> str:
        """Return the home page URL of the first host."""
        if not self.origins:
            raise RuntimeError("the server is not started")
        return self.origins[0] + "/"

    def schedule_elapsed(self) -> float:
        """Return the seconds since the capacity schedule's clock started (start or reset)."""
        if self._runner is None:
            raise RuntimeError("the server is not started")
        return time.monotonic() - self._runner.app[STATE].started

    async def start(
        self,
        shared: SynchronizedArray[Any] | None = None,
        sockets: list[socket.socket] | None = None,
    ) -> None:
        """Bind and start serving."""
        raise_open_file_limit()
        sockets = sockets or bind_sockets(self.settings)
        self.origins = origins_of(self.settings, sockets)
        self.site = Site(self.settings.site, self.origins)
        self.stats = Stats([origin.removeprefix("http://") for origin in self.origins], shared)
        endpoints = [sock.getsockname()[:2] for sock in sockets]
        app = create_app(self.settings, self.site, self.stats, endpoints)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        for sock in sockets:
            # aiohttp listens again with its own backlog (128 by default): a crawl opening
            # thousands of connections at once would overflow it and wait out SYN retries.
            await web.SockSite(self._runner, sock, backlog=LISTEN_BACKLOG).start()

    async def stop(self) -> None:
        """Stop serving and close every connection."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def _serve_in_child(
    settings: ServerSettings,
    sockets_ports: list[int],
    shared: SynchronizedArray[Any] | None,
    ready: Connection,
) -> None:
    """Entry point of a server process: serve until SIGTERM or SIGINT."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        server = MockServer(settings)
        try:
            await server.start(shared, bind_sockets(settings, sockets_ports or None))
        except ResourceError as error:
            ready.send(("error", str(error)))
            return
        ready.send(("ready", server.origins))
        try:
            await stop.wait()
        finally:
            await server.stop()

    run(main())


class MockServerProcess:
    """The mock site served by its own process (or `settings.workers` processes).

    Usage: `with MockServerProcess(settings) as server: ... server.base_url ...`; the processes
    are terminated on exit. The CPU the server burns never shows in the caller's accounting.
    """

    def __init__(self, settings: ServerSettings | None = None) -> None:
        self.settings = settings or ServerSettings()
        self.origins: list[str] = []
        self._processes: list[multiprocessing.process.BaseProcess] = []

    def __repr__(self) -> str:
        alive = sum(process.is_alive() for process in self._processes)
        where = self.origins[0] if self.origins else "not started"
        return f"<MockServerProcess {where} [{alive} workers alive]>"

    @property
    def base_url(self) -> str:
        """Return the home page URL of the first host."""
        if not self.origins:
            raise RuntimeError("the server is not started")
        return self.origins[0] + "/"

    @property
    def pids(self) -> list[int]:
        """Return the process ids of the serving processes."""
        return [process.pid for process in self._processes if process.pid is not None]

    def start(self, timeout: float = 30.0) -> None:
        """Start the worker processes and wait until every one serves."""
        context = multiprocessing.get_context("spawn")
        workers = self.settings.workers
        ports: list[int] = []
        placeholders: list[socket.socket] = []
        if workers > 1:
            # Hold the ports (bound, not listening) until every worker has bound them too.
            placeholders = bind_sockets(self.settings)
            ports = [sock.getsockname()[1] for sock in placeholders]
        shared = shared_counters(self.settings.site.hosts) if workers > 1 else None
        try:
            pipes = []
            for _ in range(workers):
                receiver, sender = context.Pipe(duplex=False)
                process = context.Process(
                    target=_serve_in_child,
                    args=(self.settings, ports, shared, sender),
                    daemon=True,
                )
                process.start()
                self._processes.append(process)
                pipes.append(receiver)
            deadline = time.monotonic() + timeout
            for started, receiver in zip(self._processes, pipes, strict=True):
                while not receiver.poll(0.05):
                    if not started.is_alive():
                        raise RuntimeError(
                            f"the mock server process exited with status {started.exitcode}"
                        )
                    if time.monotonic() > deadline:
                        raise RuntimeError("the mock server process did not start in time")
                kind, payload = receiver.recv()
                if kind == "error":
                    raise ResourceError("port", str(payload).removeprefix("port: "))
                self.origins = list(payload)
        except BaseException:
            self.stop()
            raise
        finally:
            for sock in placeholders:
                sock.close()

    def stop(self) -> None:
        """Terminate the worker processes and reap them."""
        for process in self._processes:
            if process.is_alive():
                process.terminate()
        for process in self._processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
        self._processes.clear()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


async def serve_until_stopped(
    settings: ServerSettings, announce: Callable[[list[str]], None]
) -> None:
    """Serve in this process until SIGINT or SIGTERM, after announcing the origins."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with MockServer(settings) as server:
        announce(server.origins)
        with contextlib.suppress(asyncio.CancelledError):
            await stop.wait()
