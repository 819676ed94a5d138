"""The `crawler` console script: the CLI, with a stop signal during start-up made quiet.

The whole command runs under `StopSignalsNoted` (see `crawler.stopping.signals` for why), so
only the interpreter's own start-up comes before a handler of the crawler's.
"""

from __future__ import annotations

import signal

from crawler.stopping.signals import StopSignalsNoted, exit_stopped


def main() -> None:
    """Run `crawler`; a stop signal before the command could handle it exits 128 + its number."""
    try:
        with StopSignalsNoted():
            from crawler.cli import main as cli

            cli(prog_name="crawler")
    except KeyboardInterrupt:  # Python's own handler, before ours or under `stopped_at_once`
        exit_stopped(signal.SIGINT)
