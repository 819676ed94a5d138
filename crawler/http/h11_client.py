"""One GET as a generator coroutine for `crawler.loop`: a non-blocking socket, HTTP by h11.

h11 is sans-I/O: it turns bytes into events (`Response`, `Data`, `EndOfMessage`) and events into
bytes, and never touches a socket, so this module does the I/O and nobody writes an HTTP parser.
Every socket operation that would block yields a wait instead (`Readable`, `Writable`), and every
wait carries the request's deadline (`--timeout` for the whole request, `--connect-timeout` for
the connection), so the loop throws `TimeoutError` in when it passes.

Each request opens its own connection and asks the server to close it (`Connection: close`):
a pool of kept-alive connections is what asyncio's and requests' clients add, and is left out to
keep this to the idea. Host names are resolved with a blocking `getaddrinfo` (cached per crawl):
asyncio runs it on a thread; this loop has no threads, and the crawls it is measured on name
their hosts by address. Failures get the same names as under aiohttp and requests, through the
same `responses` helpers, so records agree across strategies.
"""

from __future__ import annotations

import base64
import errno
import socket
import ssl
import time
from collections.abc import Callable, Generator
from typing import Any
from urllib.parse import urlsplit

import h11

from crawler.core.messages import (
    FetchFailure,
    FetchRequest,
    FetchResponse,
    body_is_incidental,
    should_read_body,
)
from crawler.core.records import ErrorKind
from crawler.http.decoding import ACCEPT_ENCODING
from crawler.http.exchange import Capture, Exchange, request_of, response_fields
from crawler.http.options import HttpOptions
from crawler.http.proxies import credentials, proxy_for
from crawler.http.responses import (
    CappedBody,
    failure_from,
    head_from,
    is_local_exhaustion,
    response_from,
)
from crawler.loop.scheduler import Readable, Wait, Writable

READ_CHUNK = 64 * 1024
# http.client's bounds on a response head, which requests reads through: at most 100 fields of at
# most 64 KiB. h11 bounds only the head's size, at 16 KiB by default: a page behind 90 cookies of
# 3 KB would fail here and be read by the other two clients.
MAX_HEADERS = 100
MAX_HEAD_BYTES = MAX_HEADERS * 64 * 1024
# What getaddrinfo gives for one address: family, socket type, protocol, name, address.
Address = tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[Any, ...]]
Fetching = Generator[Wait, None, FetchResponse | FetchFailure]


class PeerClosed(Exception):
    """The server closed the connection before the response was complete."""

    def __init__(self, status: int | None) -> None:
        super().__init__("the server closed the connection before the response ended")
        self.status = status


class BadHead(Exception):
    """A response head refused: both Transfer-Encoding and Content-Length, or too many fields."""


class H11Client:
    """GETs for one crawl: its options, and the addresses of the hosts it resolved."""

    def __init__(self, options: HttpOptions, capture: Capture | None = None) -> None:
        self.options = options
        # An archived crawl's: every body read, to max_bytes, and each exchange handed to it.
        self.capture = capture
        self._addresses: dict[tuple[str, int], list[Address]] = {}
        self._tls = ssl.create_default_context()

    def fetch(self, request: FetchRequest, on_sent: Callable[[], None] | None = None) -> Fetching:
        """Perform one request; never raises but for the loop's own stopping of it.

        `on_sent` is called once the request's head has been written to the socket.
        """
        started, started_at = time.perf_counter(), time.time()
        deadline = time.monotonic() + self.options.timeout
        status: int | None = None
        sock: socket.socket | None = None
        try:
            parts = urlsplit(request.url)
            host = parts.hostname or ""
            port = parts.port or (443 if parts.scheme == "https" else 80)
            authority = parts.netloc.rsplit("@", 1)[-1]
            proxy = proxy_for(self.options.proxies, request.url)
            if proxy is None:
                sock = yield from self._connect(host, port, deadline)
            else:
                through = urlsplit(proxy)
                sock = yield from self._connect(
                    through.hostname or "", through.port or 80, deadline
                )
                if parts.scheme == "https":
                    yield from _tunnel(sock, authority, _proxy_login(proxy), deadline)
            if parts.scheme == "https":
                # The TLS socket takes the connection over: from here it is the one to close.
                sock = self._tls.wrap_socket(
                    sock, server_hostname=host, do_handshake_on_connect=False
                )
                yield from _tls_handshake(sock, deadline)
            wire = _Wire(sock, deadline)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            sent_fields = [
                ("Host", authority),
                ("User-Agent", self.options.user_agent),
                ("Accept-Encoding", ACCEPT_ENCODING),
                ("Connection", "close"),
            ]
            if proxy is not None and parts.scheme == "http":
                # To a proxy, the whole URL (RFC 9112 §3.2.2, absolute-form), and who asks.
                target = f"http://{authority}{target}"
                sent_fields += _proxy_login(proxy)
            head = h11.Request(method="GET", target=target, headers=sent_fields)
            yield from wire.send(head)
            yield from wire.send(h11.EndOfMessage())
            if on_sent is not None:
                on_sent()
            response = yield from wire.response()
            status = response.status_code
            head_fields = head_from(status, response.headers)
            fields = head_fields.headers
            if "transfer-encoding" in fields and "content-length" in fields:
                raise BadHead("both Transfer-Encoding and Content-Length")  # RFC 9112 §6.3
            if len(response.headers) > MAX_HEADERS:
                raise BadHead(f"more than {MAX_HEADERS} header fields")
            incidental = body_is_incidental(request, status)
            capped = CappedBody(request.max_bytes)
            capture = self.capture
            if capture is not None or should_read_body(request, status, fields.get("content-type")):
                try:
                    yield from wire.body(capped, status)
                except Exception:
                    if not incidental:
                        raise
                    capped.cut = True
            if capture is not None:
                line, sent = request_of(request.url, sent_fields)
                peer = sock.getpeername() if sock is not None else None
                capture(
                    Exchange(
                        url=request.url,
                        started_at=started_at,
                        request_line=line,
                        request_fields=sent,
                        protocol=f"HTTP/{response.http_version.decode()}",
                        status_line=f"{status} {response.reason.decode('latin-1')}".rstrip(),
                        response_fields=response_fields(response.headers.raw_items()),
                        body=capped.body(),
                        truncated="length"
                        if capped.too_large
                        else "disconnect"
                        if capped.cut
                        else None,
                        ip=str(peer[0]) if peer else None,
                    )
                )
            return response_from(
                head_fields, capped.body(), capped.too_large, request.max_bytes, started, incidental
            )
        except Exception as error:
            return failure_from(classify(error), error, status, started)
        finally:
            if sock is not None:
                sock.close()

    def _connect(
        self, host: str, port: int, deadline: float
    ) -> Generator[Wait, None, socket.socket]:
        """Open a connection to the first of the host's addresses that answers."""
        connect_by = min(deadline, time.monotonic() + self.options.connect_timeout)
        addresses = self._addresses.get((host, port))
        if addresses is None:
            addresses = list(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
            self._addresses[host, port] = addresses
        failure: OSError | None = None
        for family, kind, protocol, _, address in addresses:
            sock = socket.socket(family, kind, protocol)
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                code = sock.connect_ex(address)
                if code == errno.EINPROGRESS:
                    yield Writable(sock, connect_by)
                    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code == 0:
                    return sock
                failure = OSError(code, f"connect to {address}: {errno.errorcode.get(code, code)}")
            except BaseException:
                sock.close()
                raise
            sock.close()
        raise ConnectFailed(failure or OSError(f"no address for {host}"))


class ConnectFailed(Exception):
    """No address of the host accepted a connection."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.__cause__ = cause


class ProxyRefused(Exception):
    """The proxy answered a CONNECT with something other than 2xx."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the proxy refused the tunnel: {status}")
        self.status = status


def _proxy_login(proxy: str) -> list[tuple[str, str]]:
    """Return the Proxy-Authorization field for a proxy URL's credentials (none without)."""
    login = credentials(proxy)
    if login is None:
        return []
    token = base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode("ascii")
    return [("Proxy-Authorization", f"Basic {token}")]


def _tunnel(
    sock: socket.socket, authority: str, login: list[tuple[str, str]], deadline: float
) -> Generator[Wait, None, None]:
    """Ask the proxy for a tunnel to `authority` (CONNECT, RFC 9110 §9.3.6) and wait until it
    is open: from then on the socket carries the TLS connection to the server itself."""
    wire = _Wire(sock, deadline)
    fields = [("Host", authority), *login]
    yield from wire.send(h11.Request(method="CONNECT", target=authority, headers=fields))
    yield from wire.send(h11.EndOfMessage())
    response = yield from wire.response()
    if not 200 <= response.status_code < 300:
        raise ProxyRefused(response.status_code)
    if wire.connection.trailing_data[0]:
        raise BadHead("bytes after the proxy's answer to CONNECT")


def _tls_handshake(sock: ssl.SSLSocket, deadline: float) -> Generator[Wait, None, None]:
    while True:
        try:
            sock.do_handshake()
            return
        except ssl.SSLWantReadError:
            yield Readable(sock, deadline)
        except ssl.SSLWantWriteError:
            yield Writable(sock, deadline)
        except ssl.SSLError as error:
            raise ConnectFailed(error) from error


def _send_all(sock: socket.socket, data: bytes, deadline: float) -> Generator[Wait, None, None]:
    view = memoryview(data)
    while view:
        try:
            view = view[sock.send(view) :]
        except (BlockingIOError, ssl.SSLWantWriteError):
            yield Writable(sock, deadline)
        except ssl.SSLWantReadError:
            yield Readable(sock, deadline)


class _Wire:
    """One connection as h11 sees it: bytes in from the socket, events out, and whether the
    server has closed its end (then a response h11 finds incomplete was cut short)."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.connection = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.closed_by_peer = False

    def send(self, event: h11.Event) -> Generator[Wait, None, None]:
        yield from _send_all(self.sock, self.connection.send(event) or b"", self.deadline)

    def next_event(self, status: int | None) -> Generator[Wait, None, h11.Event]:
        """Return the next event, reading from the socket as long as h11 needs more."""
        while True:
            try:
                event = self.connection.next_event()
            except h11.RemoteProtocolError:
                if self.closed_by_peer:
                    raise PeerClosed(status) from None
                raise
            if event is h11.NEED_DATA:
                yield from self._receive()
            elif isinstance(event, h11.Event) and not isinstance(event, h11.ConnectionClosed):
                return event
            else:
                raise PeerClosed(status)  # closed, or paused: nothing more will come

    def _receive(self) -> Generator[Wait, None, None]:
        while True:
            try:
                data = self.sock.recv(READ_CHUNK)
            except (BlockingIOError, ssl.SSLWantReadError):
                yield Readable(self.sock, self.deadline)
            except ssl.SSLWantWriteError:
                yield Writable(self.sock, self.deadline)
            else:
                self.closed_by_peer = not data
                self.connection.receive_data(data)
                return

    def response(self) -> Generator[Wait, None, h11.Response]:
        """Read up to the final response's head, skipping informational (1xx) ones."""
        while True:
            event = yield from self.next_event(None)
            if isinstance(event, h11.Response):
                return event

    def body(self, capped: CappedBody, status: int) -> Generator[Wait, None, None]:
        """Read the body as sent (still coded) into `capped`, up to its limit."""
        while True:
            event = yield from self.next_event(status)
            if isinstance(event, h11.Data):
                if capped.add(bytes(event.data)):
                    return
            elif isinstance(event, h11.EndOfMessage):
                return


def classify(error: BaseException) -> ErrorKind:
    """Name a failure in the crawler's own terms, as the other two clients do."""
    if is_local_exhaustion(error):
        return ErrorKind.LOCAL
    if isinstance(error, TimeoutError):
        return ErrorKind.TIMEOUT
    if isinstance(error, PeerClosed):
        return ErrorKind.RESET if error.status is None else ErrorKind.TRUNCATED
    if isinstance(error, ConnectionResetError | BrokenPipeError):
        return ErrorKind.RESET
    if isinstance(error, ConnectFailed | ProxyRefused | socket.gaierror):
        return ErrorKind.CONNECT
    if isinstance(error, h11.ProtocolError | BadHead | ValueError | UnicodeError):
        return ErrorKind.PROTOCOL
    if isinstance(error, OSError):
        return ErrorKind.CONNECT
    return ErrorKind.OTHER
