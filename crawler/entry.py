"""The `crawler` command's entry point: the CLI, with a stop signal during start-up made quiet.

The crawl handles stop signals itself once it runs. Before that, while Python imports the
libraries, Python's own Ctrl-C handler would raise KeyboardInterrupt in whatever import code
happens to run, and that is not always catchable: raised inside a weakref callback it is printed
and dropped (the crawl then runs on), and raised inside code an import builds with `exec` it
makes the interpreter kill itself with SIGINT at exit even after the exception was handled.

So the imports run under a handler that only notes the signal; once they are done, a noted
signal ends the command quietly with the shell's status for it. This module imports nothing but
`signal` and `sys`, so only the interpreter's own start-up comes before that handler.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

# What stops the command quietly during start-up; the crawl itself handles the same three.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def main() -> None:
    """Run `crawler`; a stop signal before the crawl could handle it exits 128 + its number."""
    noted: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        noted.append(signum)

    # A signal ignored at start stays ignored (`nohup crawler`), so its disposition is left alone.
    previous = {
        signum: signal.signal(signum, note)
        for signum in _STOP_SIGNALS
        if signal.getsignal(signum) is not signal.SIG_IGN
    }
    try:
        from crawler.cli import main as cli
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if noted:
        _stopped(noted[0])
    try:
        cli(prog_name="crawler")
    except KeyboardInterrupt:
        _stopped(signal.SIGINT)


def _stopped(signum: int) -> None:
    """End the command for a stop signal that came before the crawl could handle it."""
    name = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    sys.stderr.write(f"crawler: {name}\n")
    sys.exit(128 + signum)
