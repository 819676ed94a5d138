"""Request statistics the server keeps for `/_stats`: counts, concurrency, statuses, gaps per host.

The counters live in one flat array of 64-bit integers, so the same code serves one process (a
plain list) and several `--workers` processes (a shared-memory array under one lock): the numbers a
crawler is checked against stay exact however many processes serve the site.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from collections.abc import Callable, Iterator, MutableSequence, Sequence
from multiprocessing.sharedctypes import SynchronizedArray
from typing import Any

KNOWN_STATUSES = (200, 301, 302, 303, 307, 308, 400, 404, 405, 429, 500, 503)
_FIELDS = (
    "requests",
    "in_flight",
    "max_in_flight",
    "serving",
    "max_serving",
    "rejected",
    "last_arrival_ns",
    "min_gap_ns",
)
_STATUS_BASE = len(_FIELDS)
_OTHER_STATUS = _STATUS_BASE + len(KNOWN_STATUSES)
_BLOCK = _OTHER_STATUS + 1
_NO_GAP = -1


def shared_counters(hosts: int) -> SynchronizedArray[Any]:
    """Return counters that worker processes started afterwards can share."""
    return multiprocessing.get_context("spawn").Array("q", _BLOCK * (hosts + 1), lock=True)


class Stats:
    """Counters for the whole server (block 0) and for each host (block 1 + host)."""

    def __init__(
        self,
        host_names: Sequence[str],
        shared: SynchronizedArray[Any] | None = None,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.host_names = tuple(host_names)
        self._clock = clock
        size = _BLOCK * (len(host_names) + 1)
        self._counters: MutableSequence[int]
        if shared is None:
            self._counters = [0] * size
            self._lock: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        else:
            self._counters = shared  # type: ignore[assignment]  # a ctypes array of int64
            self._lock = shared.get_lock()
        with self._lock:
            if not any(self._counters):
                self._reset_unlocked()

    def _reset_unlocked(self) -> None:
        for index in range(len(self._counters)):
            field = index % _BLOCK
            keep = _FIELDS[field] in ("in_flight", "serving") if field < _STATUS_BASE else False
            if not keep:
                self._counters[index] = _NO_GAP if field == _FIELDS.index("min_gap_ns") else 0
        # Requests still in flight stay counted, so their ends do not drive the gauges negative.
        for block in range(len(self.host_names) + 1):
            base = block * _BLOCK
            self._counters[base + 2] = self._counters[base + 1]
            self._counters[base + 4] = self._counters[base + 3]

    def reset(self) -> None:
        """Start counting afresh (requests in flight stay counted)."""
        with self._lock:
            self._reset_unlocked()

    def _blocks(self, host: int) -> tuple[int, int]:
        return 0, (host + 1) * _BLOCK

    def arrived(self, host: int) -> None:
        """Count a request that reached the server."""
        now = self._clock()
        counters = self._counters
        with self._lock:
            for base in self._blocks(host):
                counters[base] += 1
                counters[base + 1] += 1
                counters[base + 2] = max(counters[base + 2], counters[base + 1])
                last = counters[base + 6]
                if last:
                    gap = now - last
                    if counters[base + 7] == _NO_GAP or gap < counters[base + 7]:
                        counters[base + 7] = gap
                counters[base + 6] = now

    def serving(self, host: int, delta: int) -> None:
        """Count a request entering (+1) or leaving (-1) service past the capacity gate."""
        with self._lock:
            for base in self._blocks(host):
                self._counters[base + 3] += delta
                self._counters[base + 4] = max(self._counters[base + 4], self._counters[base + 3])

    def rejected(self, host: int) -> None:
        """Count a request turned away because the server was at capacity."""
        with self._lock:
            for base in self._blocks(host):
                self._counters[base + 5] += 1

    def finished(self, host: int, status: int | None) -> None:
        """Count a request that left the server, with the status it was answered (None: none)."""
        with self._lock:
            for base in self._blocks(host):
                self._counters[base + 1] -= 1
                if status is not None:
                    slot = (
                        _STATUS_BASE + KNOWN_STATUSES.index(status)
                        if status in KNOWN_STATUSES
                        else _OTHER_STATUS
                    )
                    self._counters[base + slot] += 1

    @contextlib.contextmanager
    def in_service(self, host: int) -> Iterator[None]:
        """Count a request as being served for the duration of the block."""
        self.serving(host, +1)
        try:
            yield
        finally:
            self.serving(host, -1)

    def snapshot(self) -> dict[str, Any]:
        """Return the counters as the JSON `/_stats` answers."""
        with self._lock:
            values = list(self._counters)
        result = _block_view(values, 0)
        result["hosts"] = {
            name: _block_view(values, (index + 1) * _BLOCK)
            for index, name in enumerate(self.host_names)
        }
        return result


def _block_view(values: Sequence[int], base: int) -> dict[str, Any]:
    by_status = {
        str(status): values[base + _STATUS_BASE + index]
        for index, status in enumerate(KNOWN_STATUSES)
        if values[base + _STATUS_BASE + index]
    }
    if values[base + _OTHER_STATUS]:
        by_status["other"] = values[base + _OTHER_STATUS]
    min_gap = values[base + 7]
    return {
        "requests": values[base],
        "in_flight": values[base + 1],
        "max_in_flight": values[base + 2],
        "serving": values[base + 3],
        "max_serving": values[base + 4],
        "rejected": values[base + 5],
        "by_status": by_status,
        "min_gap_ms": None if min_gap == _NO_GAP else round(min_gap / 1e6, 3),
    }
