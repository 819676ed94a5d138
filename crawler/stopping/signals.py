"""The process's stop signals, in one place: which they are, handling them and putting the previous
handlers back, noting them while the command starts, and the exit status they end it with.

Every command that handles a signal does it through `handled` (or `handled_on_loop` for an
asyncio loop), so no code saves and restores handlers by hand, and a signal ignored when the
process started stays ignored everywhere (`nohup crawler crawl` outlives its terminal). This
module imports only a few small standard modules: the console script loads it before anything
else, and `crawler --help` loads it too.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # only an annotation: a crawl of the blocking strategies never loads asyncio
    import asyncio

# What signal.signal accepts: a function of the signal and frame, or SIG_DFL / SIG_IGN.
Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers

# What stops a crawl cleanly: Ctrl-C, a polite kill, and the terminal going away (a closed ssh
# session must not lose the records still buffered).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def stop_signals() -> tuple[int, ...]:
    """Return the stop signals this process may handle: those it was not told to ignore.

    A signal ignored when the process started stays ignored, as POSIX tools do: `nohup crawler`
    must survive its terminal, and a background job of a script its Ctrl-C.
    """
    return tuple(
        signum for signum in STOP_SIGNALS if signal.getsignal(signum) is not signal.SIG_IGN
    )


def exit_status(signum: int) -> int:
    """Return the exit status of a command a signal stopped, as shells report it: 128 + its
    number (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP)."""
    return 128 + signum


@contextlib.contextmanager
def handled(handler: Handler, signums: Iterable[int] | None = None) -> Iterator[bool]:
    """Handle `signums` (the stop signals by default) with `handler` inside the block, and put
    the previous handlers back on leaving it.

    Yields whether the handlers are in force: outside the main thread, where Python delivers no
    signals and refuses handlers, nothing is installed.
    """
    previous: dict[int, Any] = {}
    # Outside the main thread the first signal.signal refuses (ValueError) and none is set.
    with contextlib.suppress(ValueError):
        for signum in stop_signals() if signums is None else signums:
            previous[signum] = signal.signal(signum, handler)
    try:
        yield bool(previous)
    finally:
        for signum, old in previous.items():
            if (
                old is not None
            ):  # None: a handler installed outside Python, which cannot be put back
                signal.signal(signum, old)


@contextlib.contextmanager
def handled_on_loop(
    loop: asyncio.AbstractEventLoop, handler: Callable[[int], None], signums: Iterable[int]
) -> Iterator[None]:
    """Handle `signums` with `handler(signum)` on the event loop inside the block, and put the
    previous handlers back on leaving it.

    `remove_signal_handler` resets a signal to Python's default, which would leave a Ctrl-C
    between the loop's end and the end of the crawl to kill it; the previous handler (the crawl's
    own, which notes a stop) is put back instead.
    """
    previous = {signum: signal.getsignal(signum) for signum in signums}
    for signum in previous:
        loop.add_signal_handler(signum, handler, signum)
    try:
        yield
    finally:
        for signum, old in previous.items():
            loop.remove_signal_handler(signum)
            if old is not None:
                signal.signal(signum, old)


class StopSignalsNoted:
    """While in force, a stop signal is only noted; on leaving, a noted one ends the command.

    Before a command handles signals itself, while Python imports the libraries, Python's own
    Ctrl-C handler would raise KeyboardInterrupt in whatever import code happens to run, and that
    is not always catchable: raised inside a weakref callback it is printed and dropped (the
    crawl then runs on), and raised inside code an import builds with `exec` it makes the
    interpreter kill itself with SIGINT at exit even after the exception was handled. So the
    console script runs the whole command under this, and `crawler crawl` imports what only a
    crawl needs under it again; a command that handles signals installs its handlers over it and
    takes over what was noted (`take`). Outside the main thread it does nothing.
    """

    # The signals noted and not yet taken over, shared by nested uses.
    _pending: ClassVar[list[int]] = []

    @classmethod
    def take(cls) -> list[int]:
        """Return the signals noted so far and forget them: the caller now answers for them."""
        taken = list(cls._pending)
        cls._pending.clear()
        return taken

    def _note(self, signum: int, frame: FrameType | None) -> None:
        StopSignalsNoted._pending.append(signum)

    def __enter__(self) -> None:
        self._handlers = handled(self._note)
        self._handlers.__enter__()

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        self._handlers.__exit__(None, None, None)
        # A command that ends (or exits) with a signal noted and not taken over ends by it.
        if StopSignalsNoted._pending and (exc_type is None or issubclass(exc_type, SystemExit)):
            exit_stopped(StopSignalsNoted.take()[0])


def exit_stopped(signum: int) -> None:
    """End the command for a stop signal that came before it could handle it: one line, and
    the shell's status for the signal."""
    name = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    sys.stderr.write(f"crawler: {name}\n")
    sys.exit(exit_status(signum))


@contextlib.contextmanager
def stopped_at_once() -> Iterator[None]:
    """Let a stop signal end the block at once, as Python's own handlers do (for a command with
    nothing to finish cleanly, such as an export); the handlers in force before come back after.
    """
    defaults: dict[int, Handler] = {signal.SIGINT: signal.default_int_handler}
    with contextlib.ExitStack() as stack:
        for signum in stop_signals():
            stack.enter_context(handled(defaults.get(signum, signal.SIG_DFL), [signum]))
        yield


__all__ = [
    "STOP_SIGNALS",
    "StopSignalsNoted",
    "exit_status",
    "exit_stopped",
    "handled",
    "handled_on_loop",
    "stop_signals",
    "stopped_at_once",
]
