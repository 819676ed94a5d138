"""One crawl end to end around a strategy: its files (output, locks, the open-file limit), its log
and status line, the embedded mock site, and what a strategy is given (`context`).

Import the module you need: this package loads nothing by itself, so `crawler --help` stays light.
"""
