"""`crawler worker URL --processes N`: N workers on this machine, stopped together.

With one process the worker runs here. With more, each is a process in a group of its own, so a
Ctrl-C at the terminal reaches this process alone; it passes each stop signal on, once, to every
worker (the first lets their requests in hand finish, a second ends them at once).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import types

from crawler.settings import EventLoop
from crawler.stopping.signals import STOP_SIGNALS
from crawler.strategies.fleet import worker

EXIT_INTERRUPTED = 130


def run_workers(url: str, processes: int, loop: EventLoop, wait: float) -> int:
    """Run the workers until they all leave; return the command's exit status."""
    logging.basicConfig(level=logging.INFO, format="crawler worker: %(message)s")
    count = processes or os.cpu_count() or 1
    if count == 1:
        return EXIT_INTERRUPTED if worker.serve(url, loop, wait) else 0
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(
            target=worker.serve_in_group,
            args=(url, loop, wait, os.getpid()),
            name="crawler-worker",
        )
        for _ in range(count)
    ]
    signalled = False

    def pass_on(signum: int, frame: types.FrameType | None) -> None:
        nonlocal signalled
        signalled = True
        for child in children:
            if child.pid is not None and child.is_alive():
                os.kill(child.pid, signum)

    previous = {signum: signal.signal(signum, pass_on) for signum in STOP_SIGNALS}
    try:
        for child in children:
            child.start()
        for child in children:
            child.join()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if signalled or any(child.exitcode == EXIT_INTERRUPTED for child in children):
        return EXIT_INTERRUPTED
    return 0 if all(child.exitcode == 0 for child in children) else 1


__all__ = ["run_workers"]
