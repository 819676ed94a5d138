"""Allow `python -m crawler`."""

from crawler.cli import main

main(prog_name="crawler")
