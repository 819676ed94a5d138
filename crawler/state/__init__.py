"""Durable crawl state: `--state crawl.db` keeps the frontier, the seen-set and every record in
SQLite, so a crawl killed at any moment resumes with `--resume` and nothing lost or doubled.

`store.py` is the file, `sqlite_frontier.py` the `Frontier` over it, `reconcile.py` the repair of
the JSON Lines output on resume.
"""

from crawler.state.reconcile import reconcile_output
from crawler.state.sqlite_frontier import SqliteFrontier
from crawler.state.store import StateStore

__all__ = ["SqliteFrontier", "StateStore", "reconcile_output"]
