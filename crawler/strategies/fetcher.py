"""A fetching process of the `processes` strategy: its own event loop, its own aiohttp session,
and the page analysis inline, told what to fetch by the crawl that started it.

It decides nothing: the crawl's one core, in the crawl's process, chooses every request and its
moment. A fetcher says when a request actually leaves, if the crawl asked (a delay applies, and
counts from the wire, as in every strategy), and sends back its outcome with the page already
analysed, never its body, but for robots.txt, which the core reads itself.

Messages in: ("fetch", id, FetchRequest, report sent?), ("cancel", id), ("exit",).
Messages out: ("sent", id), ("exchange", id, Exchange) when the crawl archives (`--warc`),
("done", id, outcome).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import socket
from multiprocessing.connection import Connection

from crawler.core.messages import FetchRequest, PageAnalysis
from crawler.http.aiohttp_client import new_session
from crawler.http.exchange import Exchange
from crawler.http.options import HttpOptions
from crawler.pages.analysis import PageJob
from crawler.pages.page_options import PageOptions
from crawler.settings import EventLoop
from crawler.strategies.async_ import fetch_and_analyse, run_on_loop
from crawler.strategies.frames import read_frame, write_frame
from crawler.strategies.worker_processes import start_worker


def main(
    connection: Connection,
    http_options: HttpOptions,
    page_options: PageOptions,
    loop: EventLoop,
    parent: int,
    archive: bool = False,
) -> None:
    """Serve the crawl at the other end of `connection` until it says exit or goes away;
    `archive`: send it each exchange too, for its archive."""
    start_worker(parent)
    importlib.import_module("crawler.pages.parse")  # now, not when the first page arrives
    sock = socket.socket(fileno=os.dup(connection.fileno()))
    connection.close()
    run_on_loop(_serve(sock, http_options, page_options, archive), loop)


async def _analyse_here(job: PageJob) -> PageAnalysis:
    return job()


async def _serve(
    sock: socket.socket, http_options: HttpOptions, options: PageOptions, archive: bool
) -> None:
    reader, writer = await asyncio.open_connection(sock=sock)
    tasks: dict[int, asyncio.Task[None]] = {}
    async with new_session(http_options) as session:

        async def one(ident: int, request: FetchRequest, report_sent: bool) -> None:
            def sent() -> None:
                write_frame(writer, ("sent", ident))

            def capture(exchange: Exchange) -> None:
                write_frame(writer, ("exchange", ident, exchange))

            try:
                outcome = await fetch_and_analyse(
                    session,
                    request,
                    options,
                    _analyse_here,
                    sent if report_sent else None,
                    http_options.proxies,
                    capture if archive else None,
                )
                write_frame(writer, ("done", ident, outcome))
            finally:
                tasks.pop(ident, None)

        while True:
            try:
                message = await read_frame(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                break  # the crawl has gone
            assert isinstance(message, tuple)
            if message[0] == "fetch":
                _, ident, request, report_sent = message
                tasks[ident] = asyncio.get_running_loop().create_task(
                    one(ident, request, report_sent)
                )
            elif message[0] == "cancel":
                task = tasks.pop(message[1], None)
                if task is not None:
                    task.cancel()
            else:
                break
        for task in list(tasks.values()):
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    with contextlib.suppress(ConnectionError):
        writer.close()
        await writer.wait_closed()


__all__ = ["main"]
