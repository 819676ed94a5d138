"""The event loop written from scratch: generator tasks, sockets, timers, wake-ups, cancelling."""

from __future__ import annotations

import socket
import time
from collections.abc import Generator, Iterator

import pytest

from crawler.loop import Park, Readable, SelectorLoop, Writable
from crawler.loop.scheduler import Wait


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    left, right = socket.socketpair()
    left.setblocking(False)
    right.setblocking(False)
    yield left, right
    left.close()
    right.close()


def test_tasks_take_turns_only_where_they_yield() -> None:
    """Two tasks that read a counter, wait, and write it back lose an update; the same two with
    no wait between the read and the write lose none: a task is switched out only at a yield."""
    counter = {"n": 0}

    def bump(times: int, wait_between: bool) -> Generator[Wait, None, None]:
        for _ in range(times):
            seen = counter["n"]
            if wait_between:
                yield Park(time.monotonic())
            counter["n"] = seen + 1
            yield Park(time.monotonic())

    def main(wait_between: bool) -> Generator[Wait, None, int]:
        counter["n"] = 0
        loop.spawn(bump(50, wait_between))
        loop.spawn(bump(50, wait_between))
        yield Park(time.monotonic() + 0.05)
        return counter["n"]

    loop = SelectorLoop()
    assert loop.run(main(wait_between=False)) == 100
    assert loop.run(main(wait_between=True)) < 100
    loop.close()


def test_a_socket_wait_resumes_when_data_arrives(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    loop = SelectorLoop()

    def reader() -> Generator[Wait, None, bytes]:
        while True:
            try:
                return left.recv(100)
            except BlockingIOError:
                yield Readable(left, time.monotonic() + 5)

    def writer() -> Generator[Wait, None, None]:
        yield Park(time.monotonic() + 0.02)
        yield Writable(right, time.monotonic() + 5)
        right.send(b"hello")

    def main() -> Generator[Wait, None, bytes]:
        loop.spawn(writer())
        return (yield from reader())

    assert loop.run(main()) == b"hello"
    loop.close()


def test_a_deadline_throws_timeout_into_the_waiting_task(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    left, _ = pair
    loop = SelectorLoop()

    def main() -> Generator[Wait, None, float]:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            yield Readable(left, started + 0.05)
        return time.monotonic() - started

    assert loop.run(main()) >= 0.05
    assert loop.run(_parked_then(0.0)) == "done"  # the stale socket wait left nothing behind
    loop.close()


def _parked_then(seconds: float) -> Generator[Wait, None, str]:
    yield Park(time.monotonic() + seconds)
    return "done"


def test_wake_ends_a_park_early_and_a_wake_before_it_is_not_lost() -> None:
    loop = SelectorLoop()
    sleeper = None

    def sleep_long() -> Generator[Wait, None, float]:
        started = time.monotonic()
        yield Park(started + 30)
        return time.monotonic() - started

    def waker() -> Generator[Wait, None, None]:
        yield Park(time.monotonic() + 0.01)
        assert sleeper is not None
        loop.wake(sleeper)

    def main() -> Generator[Wait, None, float]:
        nonlocal sleeper
        sleeper = loop.spawn(sleep_long())
        loop.spawn(waker())
        while not sleeper.done:
            yield Park(time.monotonic() + 0.01)
        return float(sleeper.result)

    assert loop.run(main()) < 5

    def woken_first() -> Generator[Wait, None, str]:
        assert loop.current is not None
        loop.wake(loop.current)  # woken while running: the next park returns at once
        yield Park(time.monotonic() + 30)
        return "not lost"

    assert loop.run(woken_first()) == "not lost"
    loop.close()


def test_cancel_runs_the_task_s_cleanup_and_it_never_runs_again(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    left, _ = pair
    loop = SelectorLoop()
    cleaned: list[str] = []

    def stuck() -> Generator[Wait, None, None]:
        try:
            yield Readable(left)
        finally:
            cleaned.append("closed")

    def main() -> Generator[Wait, None, None]:
        task = loop.spawn(stuck())
        yield Park(time.monotonic() + 0.01)
        loop.cancel(task)
        yield Park(time.monotonic() + 0.01)

    loop.run(main())
    assert cleaned == ["closed"]
    loop.close()


def test_a_failing_task_ends_the_run() -> None:
    loop = SelectorLoop()

    def broken() -> Generator[Wait, None, None]:
        yield Park(time.monotonic())
        raise ValueError("boom")

    def main() -> Generator[Wait, None, None]:
        loop.spawn(broken())
        yield Park(time.monotonic() + 5)

    with pytest.raises(ValueError, match="boom"):
        loop.run(main())
    loop.close()
