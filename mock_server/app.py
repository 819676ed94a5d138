"""The HTTP face of the site model: an aiohttp application factory.

Each request is answered by `Site.respond()`; this module only adds what happens on the wire: the
time to first byte, a bandwidth limit, a capacity limit, deliveries that misbehave on purpose
(hang, reset, truncate), and the `/_stats` endpoint that tests check crawlers against.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

from mock_server.capacity import CapacityGate
from mock_server.latency import latency_quantile, uniform_draw
from mock_server.request_stats import Stats
from mock_server.server_settings import CapacityPer, Overload, ServerSettings
from mock_server.site import Action, Site, SiteResponse

URL_LOG_LIMIT = 200_000


@dataclass(slots=True)
class ServerState:
    """What one server process keeps between requests."""

    settings: ServerSettings
    site: Site
    stats: Stats
    host_by_endpoint: dict[tuple[str, int], int]
    attempts: Counter[str] = field(default_factory=Counter)
    url_log: Counter[str] = field(default_factory=Counter)
    url_log_truncated: bool = False
    started: float = field(default_factory=time.monotonic)
    gates: dict[int, CapacityGate] = field(default_factory=dict)
    schedule_timers: list[asyncio.TimerHandle] = field(default_factory=list)

    def gate(self, host: int) -> CapacityGate | None:
        """Return the gate that holds `host`'s requests to capacity (None when unlimited)."""
        settings = self.settings
        if not settings.capacity and not settings.capacity_schedule:
            return None
        key = host if settings.capacity_per is CapacityPer.HOST else 0
        gate = self.gates.get(key)
        if gate is None:
            gate = self.gates[key] = CapacityGate(
                lambda: settings.host_capacity(key, time.monotonic() - self.started)
            )
        return gate

    def restart_clock(self) -> None:
        """Count the capacity schedule from now, waking queued requests at each step."""
        self.started = time.monotonic()
        for timer in self.schedule_timers:
            timer.cancel()
        loop = asyncio.get_running_loop()
        self.schedule_timers = [
            loop.call_later(step.at, self._wake_all) for step in self.settings.capacity_schedule
        ]

    def _wake_all(self) -> None:
        for gate in self.gates.values():
            gate.wake()


STATE = web.AppKey("state", ServerState)


def create_app(
    settings: ServerSettings, site: Site, stats: Stats, endpoints: list[tuple[str, int]]
) -> web.Application:
    """Return the application serving `site` on `endpoints`: the (address, port) each host's
    socket is bound to, in host order. Hosts differ by port, by address, or both."""
    app = web.Application()
    state = ServerState(
        settings=settings,
        site=site,
        stats=stats,
        host_by_endpoint={endpoint: host for host, endpoint in enumerate(endpoints)},
    )
    app[STATE] = state

    async def start_clock(_: web.Application) -> None:
        state.restart_clock()

    app.on_startup.append(start_clock)
    app.router.add_get("/_stats", get_stats)
    app.router.add_delete("/_stats", delete_stats)
    app.router.add_get("/{tail:.*}", serve)
    return app


async def get_stats(request: web.Request) -> web.Response:
    """Answer the counters as JSON; `?urls=1` adds how often each URL was requested."""
    state = request.app[STATE]
    payload = state.stats.snapshot()
    if request.query.get("urls") in ("1", "true", "yes"):
        payload["urls"] = dict(state.url_log)
        payload["urls_truncated"] = state.url_log_truncated
    return web.json_response(payload)


async def delete_stats(request: web.Request) -> web.Response:
    """Reset the counters and the per-URL attempt memory, so the site behaves as new."""
    state = request.app[STATE]
    state.stats.reset()
    state.attempts.clear()
    state.url_log.clear()
    state.url_log_truncated = False
    state.restart_clock()
    return web.Response(status=204)


def drawn_latency(settings: ServerSettings, host: int, raw_path: str, attempt: int = 1) -> float:
    """Return the seconds the server waits before answering `raw_path` of its `host`-th origin.

    Keyed by host and path, not port: two servers of one seed wait alike. A pure function, so a
    test knows what the server decided for each URL without timing it from a busy client.
    """
    quantile = uniform_draw(settings.site.seed, "latency", host, raw_path, attempt)
    return latency_quantile(
        settings.latency_distribution, settings.latency, settings.latency_p99, quantile
    )


def _host_of(request: web.Request, state: ServerState) -> int:
    """Return which host a request came to: the local address and port of its connection."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return state.host_by_endpoint.get(tuple(sockname[:2]), 0) if sockname else 0


async def serve(request: web.Request) -> web.StreamResponse:
    """Answer one request for a page of the site, counting it in the stats."""
    state = request.app[STATE]
    host = _host_of(request, state)
    url = state.site.origins[host] + request.raw_path
    state.stats.arrived(host)
    status: int | None = None
    try:
        gate = state.gate(host)
        if gate is not None and state.settings.overload is Overload.REJECT and gate.full():
            state.stats.rejected(host)
            status = 503
            return _overloaded(state.settings.overload_retry_after)
        if gate is not None:
            await gate.acquire()
        try:
            with state.stats.in_service(host):
                stream = await _answer(request, state, host, url)
        finally:
            if gate is not None:
                gate.release()
        status = stream.status if stream.prepared else None
        return stream
    finally:
        state.stats.finished(host, status)


def _overloaded(retry_after: float) -> web.Response:
    """Refuse a request past capacity, as an overloaded origin or a rate limiter does."""
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after else {}
    return web.Response(status=503, text="overloaded\n", headers=headers)


async def _answer(
    request: web.Request, state: ServerState, host: int, url: str
) -> web.StreamResponse:
    """Write the site's response to `url` and return it (unprepared if nothing was sent)."""
    _log_request(state, url)
    attempt = 1
    if state.site.depends_on_attempt(url):
        state.attempts[url] += 1
        attempt = state.attempts[url]
    accept_gzip = "gzip" in request.headers.get("Accept-Encoding", "")
    response = state.site.respond(url, attempt, accept_gzip)
    settings = state.settings
    if settings.latency > 0:
        await asyncio.sleep(drawn_latency(settings, host, request.raw_path, attempt))
    if response.action is Action.HANG:
        await asyncio.sleep(settings.hang_seconds)
        _abort(request)
        return web.StreamResponse(status=504)
    if response.action is Action.RAW:
        if request.transport is not None:
            request.transport.write(response.body)
            request.transport.close()
        return web.StreamResponse(status=response.status)
    try:
        return await _write(request, response, settings.bandwidth)
    except ConnectionError:
        # The client left mid-response: normal for a server, not worth a traceback.
        return web.StreamResponse(status=response.status)


def _log_request(state: ServerState, url: str) -> None:
    if url in state.url_log or len(state.url_log) < URL_LOG_LIMIT:
        state.url_log[url] += 1
    else:
        state.url_log_truncated = True


async def _write(
    request: web.Request, response: SiteResponse, bandwidth: int
) -> web.StreamResponse:
    """Send the response, misbehaving as its action says, at most `bandwidth` bytes/s."""
    stream = web.StreamResponse(status=response.status)
    for name, value in response.headers:
        stream.headers.add(name, value)
    if response.action is Action.ENDLESS:
        return await _write_endless(request, stream, response.body)
    stream.content_length = len(response.body)
    await stream.prepare(request)
    body = response.body
    if response.action is Action.DRIP:
        return await _drip(request, stream, body)
    if response.action is Action.RESET:
        await _write_paced(stream, body[: len(body) // 2], bandwidth)
        _abort(request)
        return stream
    if response.action is Action.TRUNCATE:
        await _write_paced(stream, body[: len(body) * 2 // 3], bandwidth)
        if request.transport is not None:
            request.transport.close()
        return stream
    await _write_paced(stream, body, bandwidth)
    await stream.write_eof()
    return stream


ENDLESS_LIMIT = 1 << 30  # even an endless body ends, so no request loop runs forever
DRIP_LIMIT_SECONDS = 120.0


async def _write_endless(
    request: web.Request, stream: web.StreamResponse, chunk: bytes
) -> web.StreamResponse:
    """Send `chunk` over and over (chunked encoding) until the client leaves, or 1 GiB."""
    stream.enable_chunked_encoding()
    await stream.prepare(request)
    for _ in range(ENDLESS_LIMIT // len(chunk)):
        await stream.write(chunk)
    _abort(request)
    return stream


async def _drip(
    request: web.Request, stream: web.StreamResponse, body: bytes
) -> web.StreamResponse:
    """Send the body one byte a second (a slowloris body), for at most two minutes."""
    for index in range(min(len(body), int(DRIP_LIMIT_SECONDS))):
        await stream.write(body[index : index + 1])
        await asyncio.sleep(1.0)
    _abort(request)
    return stream


async def _write_paced(stream: web.StreamResponse, body: bytes, bandwidth: int) -> None:
    if not bandwidth:
        await stream.write(body)
        return
    # Twenty slices a second: smooth enough to look like a slow link, coarse enough to be cheap.
    chunk = max(1, bandwidth // 20)
    for start in range(0, len(body), chunk):
        await stream.write(body[start : start + chunk])
        await asyncio.sleep(len(body[start : start + chunk]) / bandwidth)


def _abort(request: web.Request) -> None:
    """Reset the connection (RST, not FIN), as a crashed or overloaded origin does."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
