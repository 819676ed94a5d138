"""Run the mock site: in this process (`MockServer`), in its own process (`MockServerProcess`),
or as several worker processes sharing each port through SO_REUSEPORT (`serve_forever`).

Tests use the in-process server for speed; measurements use a separate process so that the
server's CPU never mixes with the crawler's.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import multiprocessing
import resource
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
from mock_server.app import create_app
from mock_server.request_stats import Stats, shared_counters
from mock_server.server_settings import HostsOn, ServerSettings
from mock_server.site import Site

T = TypeVar("T")
LISTEN_BACKLOG = 4096


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on uvloop when it is installed, else on the default asyncio loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


# Descriptors a server keeps besides its listening sockets: its event loop's, its pipes, and
# room for the first connections (each connection a crawler holds open costs one more).
RESERVED_DESCRIPTORS = 64
FREE_PORT_ATTEMPTS = 10


class PortInUse(ResourceError):
    """The port asked for is taken on one of the addresses to bind."""


def bind_sockets(settings: ServerSettings, ports: list[int] | None = None) -> list[socket.socket]:
    """Bind one listening socket per host (to the ports given, one per host, if any), raising
    ResourceError for a port already in use, an address not of this machine, or too few files."""
    addresses = settings.host_addresses()
    _require_open_files(len(addresses))
    if ports is None and settings.hosts_on is HostsOn.ADDRESSES and not settings.port:
        return _bind_on_one_free_port(settings, addresses)
    wanted = ports if ports is not None else _asked_ports(settings)
    return _bind_each(settings, list(zip(addresses, wanted, strict=True)))


def _asked_ports(settings: ServerSettings) -> list[int]:
    """Return the port each host asks for (0: any free one)."""
    hosts = settings.site.hosts
    if settings.hosts_on is HostsOn.PORTS and settings.port:
        return [settings.port + index for index in range(hosts)]
    return [settings.port] * hosts


def _require_open_files(listening: int) -> None:
    """Refuse, in one line, more listening sockets than the open-file limit leaves room for."""
    limit = raise_open_file_limit()
    needed = listening + RESERVED_DESCRIPTORS
    if limit != resource.RLIM_INFINITY and needed > limit:
        raise ResourceError(
            "hosts",
            f"{listening:,} listening sockets need {needed:,} open files, past this process's"
            f" limit of {limit:,} (raise it with ulimit -n)",
        )


def _bind_on_one_free_port(settings: ServerSettings, addresses: list[str]) -> list[socket.socket]:
    """Bind every address to one port the kernel picks for the first: that port may be taken on
    another address, so a few ports are tried before giving up."""
    for attempt in range(1, FREE_PORT_ATTEMPTS + 1):
        first = _listening_socket(settings, addresses[0], 0)
        port = first.getsockname()[1]
        try:
            return [first, *_bind_each(settings, [(address, port) for address in addresses[1:]])]
        except PortInUse:
            first.close()
            if attempt == FREE_PORT_ATTEMPTS:
                raise
    raise AssertionError("unreachable: the last attempt returns or raises")


def _bind_each(settings: ServerSettings, endpoints: list[tuple[str, int]]) -> list[socket.socket]:
    """Bind a listening socket to each (address, port); on any failure, close those bound."""
    sockets: list[socket.socket] = []
    try:
        for address, port in endpoints:
            sockets.append(_listening_socket(settings, address, port))
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _listening_socket(settings: ServerSettings, address: str, port: int) -> socket.socket:
    """Return a non-blocking socket listening on (address, port), or raise ResourceError."""
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    except OSError as error:
        raise ResourceError("hosts", f"cannot open a socket: {error.strerror}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if settings.workers > 1:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((address, port))
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except OSError as error:
        sock.close()
        raise _bind_error(settings, address, port, error) from None
    return sock


def _bind_error(settings: ServerSettings, address: str, port: int, error: OSError) -> ResourceError:
    """Name what went wrong binding (address, port) as the setting the user can change."""
    if error.errno == errno.EADDRINUSE:
        return PortInUse("port", f"{address}:{port} is already in use")
    if error.errno == errno.EADDRNOTAVAIL:
        # Linux routes all of 127.0.0.0/8 to the loopback interface; macOS only 127.0.0.1.
        hint = (
            f" (on macOS: sudo ifconfig lo0 alias {address})"
            if settings.hosts_on is HostsOn.ADDRESSES
            else ""
        )
        return ResourceError("host", f"{address} is not an address of this machine{hint}")
    return ResourceError("port", f"cannot bind {address}:{port}: {error.strerror}")


def origins_of(settings: ServerSettings, sockets: list[socket.socket]) -> list[str]:
    """Return the origin (`http://host:port`) each bound socket serves, in host order."""
    return [
        f"http://{address}:{sock.getsockname()[1]}"
        for address, sock in zip(settings.host_addresses(), sockets, strict=True)
    ]


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
