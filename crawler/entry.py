"""The `crawler` command's entry point: the CLI, with a Ctrl-C during start-up made quiet.

The crawl handles stop signals itself once it runs; before that, while Python imports the
libraries, a Ctrl-C would print a KeyboardInterrupt traceback. This module imports nothing heavy,
so almost all of start-up happens inside the guard below.
"""

from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130


def main() -> None:
    """Run `crawler`; a Ctrl-C before the crawl could handle it exits 130 with one line."""
    try:
        from crawler.cli import main as cli

        cli(prog_name="crawler")
    except KeyboardInterrupt:
        sys.stderr.write("crawler: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
