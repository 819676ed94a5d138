"""One crawl end to end around a strategy: the wiring (`crawl`), its log and status line, the
summary, stderr that outlives a terminal's hangup, the embedded mock site, and the open-file
limit it fits its concurrency to.

Import the module you need: this package loads nothing by itself, so `crawler --help` stays light.
"""
