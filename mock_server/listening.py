"""The sockets a mock server listens on: one per host, bound before the server starts.

Hosts on ports share one address and take a port each (`--port P` gives P, P+1, ...); hosts on
addresses share one port and take a loopback address each (127.0.0.1, 127.0.0.2, ...), so a crawl
meets up to 10,000 origins as distinct hosts. Either way each host has a socket of its own, and
the server tells a request's host by the local address and port its connection reached. Every
failure to bind is a one-line `ResourceError` naming the setting to change.
"""

from __future__ import annotations

import errno
import resource
import socket

from command_kit.errors import ResourceError
from command_kit.open_file_limit import raise_open_file_limit
from mock_server.server_settings import HostsOn, ServerSettings

LISTEN_BACKLOG = 4096
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
