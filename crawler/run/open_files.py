"""How many requests this process can have in flight before it runs out of file descriptors.

Every request in flight holds a socket, and a crawl of the embedded site holds the server's end
too. Past the open-file limit, `connect()` fails with EMFILE: the crawl would record healthy pages
as failures of the server. So the crawl raises its soft limit as far as the hard limit allows and,
if that is still too few, lowers its concurrency to fit, saying so once.
"""

from __future__ import annotations

import dataclasses
import os
import resource

from command_kit.open_file_limit import raise_open_file_limit
from crawler.settings import CrawlSettings

# Descriptors kept for everything but sockets: the output, the state file (with its WAL and
# shared memory), locks, the event loop's own, the status line, a pool's pipes, and slack.
RESERVED = 64
PER_POOL_WORKER = 4


def descriptors_in_use() -> int:
    """Return how many file descriptors this process holds (a guess where /proc is missing)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 16


def fit_to_open_files(settings: CrawlSettings, embedded: bool) -> tuple[CrawlSettings, str | None]:
    """Return settings whose concurrency fits the open-file limit, and a warning if it was cut."""
    limit = raise_open_file_limit()
    if limit == resource.RLIM_INFINITY:
        return settings, None
    reserved = descriptors_in_use() + RESERVED
    if settings.strategy == "async-procs":
        reserved += PER_POOL_WORKER * settings.process_workers
    per_request = 2 if embedded else 1  # the embedded site's end of each connection
    fits = max(1, (limit - reserved) // per_request)
    if settings.concurrency <= fits:
        return settings, None
    warning = (
        f"the open-file limit ({limit}) allows {fits} requests in flight:"
        f" --concurrency lowered from {settings.concurrency} to {fits}"
    )
    fitted = dataclasses.replace(settings, concurrency=fits, per_host=min(settings.per_host, fits))
    return fitted, warning
