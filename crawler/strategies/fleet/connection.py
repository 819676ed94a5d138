"""The one way the fleet connects to Redis, and the errors that mean "wait for it to come back".

Both ends use redis-py's asyncio client. A socket timeout longer than any blocking read (one
second) turns a network partition into an error within seconds instead of a read that waits for
ever; redis-py reconnects by itself on the next command, so riding out an outage is retrying.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError

# Blocking reads wait at most this long, so a stop or an outage is noticed soon.
BLOCK_MILLISECONDS = 1000
SOCKET_TIMEOUT = 5.0

# A server gone, restarting, still loading its AOF, or out of reach: the same command later may
# succeed. Anything else (a refused password, a wrong type) is a real error.
TRANSIENT: tuple[type[Exception], ...] = (
    ConnectionError,
    TimeoutError,
    BusyLoadingError,
    OSError,
)


def connect(url: str) -> aioredis.Redis:
    """Return a client of the Redis at `url` (no connection is made until the first command)."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        # No retries inside redis-py: an outage is the fleet's to ride out, where it knows
        # what a command that may or may not have happened means.
        retry=Retry(NoBackoff(), 0),
    )


__all__ = ["BLOCK_MILLISECONDS", "SOCKET_TIMEOUT", "TRANSIENT", "connect"]
