"""Whole-request deadlines for blocking clients: one thread that shuts a socket down on time.

A blocking client (requests, over http.client) bounds each socket operation, never the request:
a server that drips its status line one byte per second keeps every `recv` under the timeout and
holds the request for as long as it likes. The only thing that ends a blocked `recv` from outside
is the socket being shut down, so that is what happens here, at the request's deadline, or when
the crawl gives up on the request (the end of a stop's grace period). The blocked read then sees
the connection end, and the client reports the request by the reason it was cut.

One daemon thread serves every request of the process from a heap of deadlines; watching a
request costs a heap push, not a timer thread. A strategy holds `in_use()` for its crawl, and the
thread ends with the last crawl that used it, so none is left behind.
"""

from __future__ import annotations

import contextlib
import enum
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator


class CutReason(enum.Enum):
    """Why a request's socket was shut down under it."""

    DEADLINE = "deadline"  # the total --timeout passed
    STOPPED = "stopped"  # the crawl gave up on it (a stop's grace period ended)


class InFlight:
    """One request's connection, to be cut at its deadline or when the crawl gives up on it.

    The socket is attached once the request is on the wire; a cut before that is remembered and
    applied the moment it is attached.
    """

    __slots__ = ("_done", "_lock", "_socket", "cut_by", "deadline")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline  # time.monotonic() seconds
        self.cut_by: CutReason | None = None
        self._socket: socket.socket | None = None
        self._done = False
        self._lock = threading.Lock()

    def attach(self, sock: socket.socket | None) -> None:
        """Say which socket carries the request (a pooled connection's, or a new one)."""
        with self._lock:
            if self._done:
                return
            self._socket = sock
            if self.cut_by is not None:
                self._shut_down()

    def cut(self, reason: CutReason) -> None:
        """Shut the request's socket down, unless the request is over: a blocked read returns."""
        with self._lock:
            if self._done or self.cut_by is not None:
                return
            self.cut_by = reason
            self._shut_down()

    def finish(self) -> None:
        """Mark the request over: its connection may now carry another and must not be cut."""
        with self._lock:
            self._done = True
            self._socket = None

    @property
    def done(self) -> bool:
        return self._done

    def _shut_down(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):  # already closed by the client: nothing to end
                self._socket.shutdown(socket.SHUT_RDWR)


class Watchdog:
    """Cuts every watched request whose deadline has passed, from one daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, InFlight]] = []
        self._order = itertools.count()  # ties on a deadline never compare two InFlights
        self._thread: threading.Thread | None = None
        self._users = 0

    @contextlib.contextmanager
    def in_use(self) -> Iterator[Watchdog]:
        """Use the watchdog for a crawl; when the last crawl using it ends, its thread ends."""
        with self._lock:
            self._users += 1
        try:
            yield self
        finally:
            with self._lock:
                self._users -= 1
                ending = self._thread if self._users == 0 else None
                if ending is not None:
                    self._thread = None  # tells the thread to end
                    self._heap.clear()
                    self._wake.notify()
            if ending is not None:
                ending.join()

    def watch(self, request: InFlight) -> None:
        """Cut `request` at its deadline unless it finishes first."""
        with self._lock:
            heapq.heappush(self._heap, (request.deadline, next(self._order), request))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="crawler-deadlines", daemon=True
                )
                self._thread.start()
            elif self._heap[0][2] is request:
                self._wake.notify()  # sooner than what the thread sleeps towards

    def _run(self) -> None:
        me = threading.current_thread()
        with self._lock:
            while self._thread is me:
                now = time.monotonic()
                while self._heap and (self._heap[0][2].done or self._heap[0][0] <= now):
                    _, _, request = heapq.heappop(self._heap)
                    request.cut(CutReason.DEADLINE)  # a no-op for a finished request
                wait = self._heap[0][0] - now if self._heap else None
                self._wake.wait(wait)


# The process's one watchdog; its thread starts with the first request watched.
WATCHDOG = Watchdog()
