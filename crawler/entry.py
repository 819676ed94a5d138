"""The `crawler` command's entry point: the CLI, with a stop signal during start-up made quiet.

The crawl handles stop signals itself once it runs. Before that, while Python imports the
libraries, Python's own Ctrl-C handler would raise KeyboardInterrupt in whatever import code
happens to run, and that is not always catchable: raised inside a weakref callback it is printed
and dropped (the crawl then runs on), and raised inside code an import builds with `exec` it
makes the interpreter kill itself with SIGINT at exit even after the exception was handled.

So the whole command runs under a handler that only notes the signal (`StopSignalsNoted`), until a
command installs handlers of its own (the crawl takes over a signal noted before it could); a
signal noted and not taken over ends the command quietly with the shell's status for it. This
module imports only a few small standard modules, so only the interpreter's own start-up comes
before that handler.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from types import FrameType
from typing import ClassVar

# What stops the command quietly during start-up; the crawl itself handles the same three.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def main() -> None:
    """Run `crawler`; a stop signal before the command could handle it exits 128 + its number.

    The noting handler stays in force for the whole command, so there is no moment between
    start-up and the crawl's own handlers at which a signal finds Python's default one: a
    command that handles signals installs its handlers over it (and takes over what was noted,
    see `StopSignalsNoted.take`), and puts it back when it is done.
    """
    try:
        with StopSignalsNoted():
            from crawler.cli import main as cli

            cli(prog_name="crawler")
    except KeyboardInterrupt:
        _stopped(signal.SIGINT)


class StopSignalsNoted:
    """While in force, a stop signal is only noted; on leaving, a noted one ends the command.

    `crawler crawl` imports what only a crawl needs (the status line, the state file, the mock
    site) when it runs, under this again. Outside the main thread, where Python delivers no
    signals, it does nothing.
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
        try:
            # A signal ignored at start stays ignored (`nohup crawler`), so it is left alone.
            self._previous = {
                signum: signal.signal(signum, self._note)
                for signum in _STOP_SIGNALS
                if signal.getsignal(signum) is not signal.SIG_IGN
            }
        except ValueError:  # not the main thread: the first signal.signal refused, none was set
            self._previous = {}

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        # A command that ends (or exits) with a signal noted and not taken over ends by it.
        if StopSignalsNoted._pending and (exc_type is None or issubclass(exc_type, SystemExit)):
            _stopped(StopSignalsNoted.take()[0])


@contextlib.contextmanager
def stopped_at_once() -> Iterator[None]:
    """Let a stop signal end the block at once, as Python's own handlers do (for a command
    with nothing to finish cleanly, such as an export); the noting handlers come back after."""
    defaults = {signal.SIGINT: signal.default_int_handler}
    try:
        previous = {
            signum: signal.signal(signum, defaults.get(signum, signal.SIG_DFL))
            for signum in _STOP_SIGNALS
            if signal.getsignal(signum) is not signal.SIG_IGN
        }
    except ValueError:  # not the main thread
        previous = {}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stopped(signum: int) -> None:
    """End the command for a stop signal that came before the crawl could handle it."""
    name = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    sys.stderr.write(f"crawler: {name}\n")
    sys.exit(128 + signum)
