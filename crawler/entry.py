"""The `crawler` command's entry point: the CLI, with a stop signal during start-up made quiet.

The crawl handles stop signals itself once it runs. Before that, while Python imports the
libraries, Python's own Ctrl-C handler would raise KeyboardInterrupt in whatever import code
happens to run, and that is not always catchable: raised inside a weakref callback it is printed
and dropped (the crawl then runs on), and raised inside code an import builds with `exec` it
makes the interpreter kill itself with SIGINT at exit even after the exception was handled.

So the imports run under a handler that only notes the signal (`StopSignalsNoted`); once they are
done, a noted signal ends the command quietly with the shell's status for it. This module imports
nothing but `signal` and `sys`, so only the interpreter's own start-up comes before that handler.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

# What stops the command quietly during start-up; the crawl itself handles the same three.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def main() -> None:
    """Run `crawler`; a stop signal before the crawl could handle it exits 128 + its number."""
    with StopSignalsNoted():
        from crawler.cli import main as cli
    try:
        cli(prog_name="crawler")
    except KeyboardInterrupt:
        _stopped(signal.SIGINT)


class StopSignalsNoted:
    """While in force, a stop signal is only noted; on leaving, a noted one ends the command.

    `crawler crawl` imports what only a crawl needs (the status line, the state file, the mock
    site) when it runs, under this again. Outside the main thread, where Python delivers no
    signals, it does nothing.
    """

    def __init__(self) -> None:
        self.noted: list[int] = []

    def _note(self, signum: int, frame: FrameType | None) -> None:
        self.noted.append(signum)

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
        if self.noted and exc_type is None:
            _stopped(self.noted[0])


def _stopped(signum: int) -> None:
    """End the command for a stop signal that came before the crawl could handle it."""
    name = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    sys.stderr.write(f"crawler: {name}\n")
    sys.exit(128 + signum)
