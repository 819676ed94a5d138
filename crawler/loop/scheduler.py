"""`SelectorLoop`: generator coroutines, a ready queue, a timer heap and a selector.

Each turn of the loop runs every task that is ready, then asks the selector which sockets became
ready, waiting at most until the next timer, then fires the timers that are due. A task runs
until it yields a wait, so it can be switched out only there: between two yields it has the loop,
and the program, to itself (cooperative multitasking; a thread may be switched out anywhere).

A wait is one of:
- `Readable(sock, deadline)` / `Writable(sock, deadline)`: resume when the socket is ready, or
  throw `TimeoutError` into the task at `deadline`;
- `Park(until)`: resume at `until`, or earlier when another task calls `wake` on it.

A task that ends with an exception ends `run` with it: nothing fails unseen.
"""

from __future__ import annotations

import heapq
import itertools
import selectors
import socket
import time
from collections import deque
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, NamedTuple


class Readable(NamedTuple):
    """Wait until `sock` can be read (or `deadline`, on time.monotonic(), passes)."""

    sock: socket.socket
    deadline: float | None = None


class Writable(NamedTuple):
    """Wait until `sock` can be written (or `deadline` passes)."""

    sock: socket.socket
    deadline: float | None = None


class Park(NamedTuple):
    """Wait until `until` (time.monotonic()), or until another task wakes this one."""

    until: float


Wait = Readable | Writable | Park
Coroutine = Generator[Wait, None, Any]


@dataclass(eq=False, slots=True)
class Task:
    """A coroutine the loop runs, and what it waits for now."""

    coroutine: Coroutine
    name: str
    done: bool = False
    result: Any = None
    waiting_on: socket.socket | None = None
    wait_number: int = 0  # which wait a timer belongs to: a timer of an earlier one is stale
    parked: bool = False
    woken: bool = False  # woken while running: its next Park returns at once

    def __repr__(self) -> str:
        state = "done" if self.done else "parked" if self.parked else "waiting"
        return f"<Task {self.name} [{state}]>"


class SelectorLoop:
    """Runs tasks until the first one given to `run` ends."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._ready: deque[tuple[Task, BaseException | None]] = deque()
        self._timers: list[tuple[float, int, Task, int]] = []
        self._order = itertools.count()
        self._waits = itertools.count(1)
        self.current: Task | None = None

    def __repr__(self) -> str:
        waiting = len(self._selector.get_map())
        return f"<SelectorLoop [{len(self._ready)} ready | {waiting} on sockets]>"

    def spawn(self, coroutine: Coroutine, name: str = "task") -> Task:
        """Start `coroutine` as a task: it first runs on the loop's next turn."""
        task = Task(coroutine, name)
        self._ready.append((task, None))
        return task

    def wake(self, task: Task) -> None:
        """End `task`'s Park now (or make its next one return at once)."""
        if task.done:
            return
        if task.parked:
            task.parked = False
            task.wait_number = next(self._waits)  # its timer is stale from now
            self._ready.append((task, None))
        else:
            task.woken = True

    def cancel(self, task: Task) -> None:
        """Stop `task` where it waits: its `finally` blocks run (closing its socket), and it
        never runs again."""
        if task.done:
            return
        self._forget_socket(task)
        task.done, task.parked = True, False
        task.wait_number = next(self._waits)
        task.coroutine.close()

    def run(self, main: Coroutine) -> Any:
        """Run `main` and every task it starts until `main` ends; return what it returns."""
        first = self.spawn(main, "main")
        while not first.done:
            while self._ready:
                task, error = self._ready.popleft()
                if not task.done:
                    self._step(task, error)
            if first.done:
                break
            self._poll()
        return first.result

    def close(self) -> None:
        """Stop every task still waiting and let go of the selector."""
        for key in list(self._selector.get_map().values()):
            self.cancel(key.data)
        for _, _, task, _ in self._timers:
            self.cancel(task)
        self._selector.close()

    def _step(self, task: Task, error: BaseException | None) -> None:
        """Run `task` to its next wait (throwing `error` into it, if any)."""
        self.current = task
        try:
            wait = task.coroutine.throw(error) if error else task.coroutine.send(None)
        except StopIteration as finished:
            task.done, task.result = True, finished.value
            return
        except BaseException:
            task.done = True
            raise
        finally:
            self.current = None
        self._suspend(task, wait)

    def _suspend(self, task: Task, wait: Wait) -> None:
        """Put `task` where it waits for `wait`."""
        task.wait_number = number = next(self._waits)
        if isinstance(wait, Park):
            if task.woken:
                task.woken = False
                self._ready.append((task, None))
                return
            task.parked = True
            heapq.heappush(self._timers, (wait.until, next(self._order), task, number))
            return
        event = selectors.EVENT_READ if isinstance(wait, Readable) else selectors.EVENT_WRITE
        self._selector.register(wait.sock, event, task)
        task.waiting_on = wait.sock
        if wait.deadline is not None:
            heapq.heappush(self._timers, (wait.deadline, next(self._order), task, number))

    def _poll(self) -> None:
        """Wait for a socket or the next timer, then resume what became ready."""
        # Every wait is on a socket or has a timer, so a loop with neither has nothing waiting.
        timeout = max(0.0, self._timers[0][0] - time.monotonic()) if self._timers else None
        for key, _ in self._selector.select(timeout):
            task: Task = key.data
            self._forget_socket(task)
            task.wait_number = next(self._waits)  # its deadline is stale from now
            self._ready.append((task, None))
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, task, number = heapq.heappop(self._timers)
            if task.done or number != task.wait_number:
                continue  # the wait ended some other way
            if task.parked:
                task.parked = False
                self._ready.append((task, None))
            else:
                self._forget_socket(task)
                self._ready.append((task, TimeoutError("the deadline passed")))

    def _forget_socket(self, task: Task) -> None:
        if task.waiting_on is not None:
            self._selector.unregister(task.waiting_on)
            task.waiting_on = None
