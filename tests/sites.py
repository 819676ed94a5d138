"""Tiny hand-written sites served by aiohttp, for cases the generated mock site cannot express."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from aiohttp import web

Page = tuple[int, str, bytes]  # status, content type, body


def html(*links: str, title: str = "page") -> Page:
    """Return a 200 HTML page linking to `links`."""
    anchors = "".join(f'<p><a href="{link}">{link}</a></p>' for link in links)
    body = f"<html><head><title>{title}</title></head><body>{anchors}</body></html>"
    return 200, "text/html; charset=utf-8", body.encode()


def robots(text: str) -> Page:
    """Return a 200 robots.txt."""
    return 200, "text/plain", text.encode()


@asynccontextmanager
async def serve(
    pages: Mapping[str, Page],
    host: str = "127.0.0.1",
    redirects: Mapping[str, str] | None = None,
) -> AsyncIterator[str]:
    """Serve `pages` (path -> page; any other path is a 404) and yield the base URL.

    A path in `redirects` answers 301 to its Location instead.
    """

    async def handle(request: web.Request) -> web.Response:
        if redirects and request.path in redirects:
            return web.Response(status=301, headers={"Location": redirects[request.path]})
        status, content_type, body = pages.get(request.path, (404, "text/plain", b"not found"))
        return web.Response(status=status, body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://{host}:{port}/"
    finally:
        await runner.cleanup()
