"""How much load an origin takes: a capacity that may differ per origin and change on a schedule.

A crawler that finds an origin's limit by itself is only tested if the limit is known and can
move. So the capacity here is a pure function of the settings, the host and the time since the
site was (re)started — a benchmark reads the same function to know the true limit at each moment
— and `CapacityGate` admits requests up to it, queueing or refusing the rest.
"""

from __future__ import annotations

import asyncio
import collections
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from command_kit.units import format_duration, parse_duration
from mock_server.latency import uniform_draw


@dataclass(frozen=True, slots=True)
class CapacityStep:
    """From `at` seconds after the start on, an origin serves `capacity` requests at once."""

    at: float
    capacity: int


def parse_capacity_schedule(text: object) -> tuple[CapacityStep, ...]:
    """Read `20s=5,50s=10` (or a TOML table `{"20s" = 5}`) into steps in time order."""
    if isinstance(text, dict):
        pairs = [(str(at), value) for at, value in text.items()]
    elif isinstance(text, str):
        pairs = []
        for part in filter(None, (piece.strip() for piece in text.split(","))):
            at, equals, value = part.partition("=")
            if not equals:
                raise ValueError(f"{part!r} is not TIME=CAPACITY (e.g. 20s=5)")
            pairs.append((at.strip(), value.strip()))
    else:
        raise ValueError("use text like '20s=5,50s=10': from 20 s on 5 at once, from 50 s on 10")
    steps = []
    for at, value in pairs:
        try:
            capacity = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"capacity {value!r} at {at} is not a whole number") from None
        if capacity < 1:
            raise ValueError(f"capacity at {at} must be at least 1 (got {capacity})")
        steps.append(CapacityStep(parse_duration(at), capacity))
    if len({step.at for step in steps}) != len(steps):
        raise ValueError("two steps at the same time")
    return tuple(sorted(steps, key=lambda step: step.at))


def format_capacity_schedule(steps: Sequence[CapacityStep]) -> str:
    """Write steps back as `--capacity-schedule` reads them."""
    return ",".join(f"{format_duration(step.at)}={step.capacity}" for step in steps) or "none"


def host_capacity(base: int, spread: float, seed: int, host: int) -> int:
    """Return the `host`-th origin's capacity before any schedule: `base` when `spread` is 1,
    else drawn log-uniformly from base/spread up to base, the same for the same seed."""
    if not base or spread <= 1:
        return base
    fraction = uniform_draw(seed, "capacity", host)
    return max(1, round(base / math.pow(spread, 1 - fraction)))


def capacity_at(base: int, steps: Sequence[CapacityStep], elapsed: float) -> int:
    """Return the capacity `elapsed` seconds after the start: the last step begun, or `base`.

    A step's capacity scales each origin alike: an origin of base 8 on a server of base 10 gets
    4 from a step to 5, so a spread of capacities keeps its shape as the server slows.
    """
    current = base
    for step in steps:
        if step.at > elapsed:
            break
        current = step.capacity
    return current


def scaled(own_base: int, server_base: int, capacity: int) -> int:
    """Return an origin's share of a stepped capacity (see `capacity_at`)."""
    if not server_base or own_base == server_base:
        return capacity
    return max(1, math.floor(own_base * capacity / server_base + 0.5))


class CapacityGate:
    """Admit requests up to a capacity read at each admission; queue the rest in arrival order.

    `asyncio.Semaphore` holds a fixed count; this one asks `capacity()` every time, so a schedule
    can shrink the capacity (requests in service finish, no new one starts until there is room)
    or grow it (`wake()` lets queued requests in at once).
    """

    def __init__(self, capacity: Callable[[], int]) -> None:
        self._capacity = capacity
        self.serving = 0
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()

    def full(self) -> bool:
        """Return whether one more request would go past the capacity."""
        limit = self._capacity()
        return bool(limit) and self.serving >= limit

    async def acquire(self) -> None:
        """Wait until there is room (after every request that came first), then take it."""
        if not self._waiting and not self.full():
            self.serving += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # admitted and cancelled in the same moment: give the room back
            else:
                self._waiting.remove(waiter)
            raise

    def release(self) -> None:
        """Give one request's room back and admit whoever it lets in."""
        self.serving -= 1
        self.wake()

    def wake(self) -> None:
        """Admit queued requests while there is room (after a release or a capacity change)."""
        while self._waiting and not self.full():
            waiter = self._waiting.popleft()
            if not waiter.done():
                self.serving += 1
                waiter.set_result(None)
