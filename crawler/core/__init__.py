"""The sans-I/O crawl core: every decision of a crawl, none of its I/O.

`CrawlCore` owns the frontier, URL rules, scope, limits, politeness, robots, retries and records.
A strategy asks it what to fetch now (`next_request`), performs the request however it likes, and
reports back (`complete`). No sockets, event loops, threads or clocks live here: time is passed in.

The names a strategy or a durable store works with are importable from here, as h11 exports its
whole public API from its package (`from crawler.core import CrawlCore, FetchRequest`). They are
loaded on first use (PEP 562), so `crawler --help`, which needs only the policy and URL rules, does
not pay for the engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crawler.core.engine import CrawlCore
    from crawler.core.frontier import Frontier, FrontierEntry, MemoryFrontier
    from crawler.core.messages import (
        DONE,
        WAIT_FOR_COMPLETION,
        Done,
        FetchFailure,
        FetchRequest,
        FetchResponse,
        PageAnalysis,
        RequestKind,
        Wait,
        WaitForCompletion,
    )
    from crawler.core.policy import DEFAULT_POLICY, CrawlPolicy
    from crawler.core.records import ErrorKind, Record
    from crawler.core.stats import CrawlStats
    from crawler.core.urls import LinkResolver, normalize_url, origin_of, resolve_link

# Each public name and the module that defines it.
_HOME = {
    "CrawlCore": "engine",
    "Frontier": "frontier",
    "FrontierEntry": "frontier",
    "MemoryFrontier": "frontier",
    "DONE": "messages",
    "WAIT_FOR_COMPLETION": "messages",
    "Done": "messages",
    "FetchFailure": "messages",
    "FetchRequest": "messages",
    "FetchResponse": "messages",
    "PageAnalysis": "messages",
    "RequestKind": "messages",
    "Wait": "messages",
    "WaitForCompletion": "messages",
    "DEFAULT_POLICY": "policy",
    "CrawlPolicy": "policy",
    "ErrorKind": "records",
    "Record": "records",
    "CrawlStats": "stats",
    "LinkResolver": "urls",
    "normalize_url": "urls",
    "origin_of": "urls",
    "resolve_link": "urls",
}

__all__ = [
    "DEFAULT_POLICY",
    "DONE",
    "WAIT_FOR_COMPLETION",
    "CrawlCore",
    "CrawlPolicy",
    "CrawlStats",
    "Done",
    "ErrorKind",
    "FetchFailure",
    "FetchRequest",
    "FetchResponse",
    "Frontier",
    "FrontierEntry",
    "LinkResolver",
    "MemoryFrontier",
    "PageAnalysis",
    "Record",
    "RequestKind",
    "Wait",
    "WaitForCompletion",
    "normalize_url",
    "origin_of",
    "resolve_link",
]


def __getattr__(name: str) -> Any:
    """Load a public name from its module the first time it is asked for."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
