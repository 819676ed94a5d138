"""Where a crawl's records go, and the one way writing them ends a crawl early: JSON Lines in whole
lines only (`jsonl`), every file option checked before any file is touched (`preflight`), an
exclusive lock per output and state file (`locks`), and `CrawlAborted` for a file that refuses
(`aborts`).

Import the module you need: this package loads nothing by itself.
"""
