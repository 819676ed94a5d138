"""robots.txt per origin: fetched once, parsed with protego, and what to do when it fails.

Failure policy, as Google and Scrapy document it: a 4xx robots.txt (404, 401, 403, ...) means no
rules, so everything is allowed; a 5xx, 429 or network failure is retried like any request, and if
it still fails the origin is treated as disallowing everything: its owner's wishes are unknown.
Bodies past `MAX_ROBOTS_BYTES` are cut there, as Google's parser does with 500 KiB.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from protego import Protego

from crawler.core.records import ErrorKind

MAX_ROBOTS_BYTES = 512 * 1024
MAX_CRAWL_DELAY = 30.0


class RobotsState(enum.Enum):
    """Where an origin's robots.txt stands."""

    UNKNOWN = "unknown"
    FETCHING = "fetching"
    READY = "ready"


@dataclass(slots=True)
class RobotsRules:
    """The parsed rules of one origin, or a blanket allow or deny."""

    parser: Protego | None = None
    allow_all: bool = True
    crawl_delay: float = 0.0
    unavailable: bool = False
    # Why robots.txt could not be had (a failed fetch's error: connect, http_5xx...).
    cause: ErrorKind | None = None

    @classmethod
    def parse(cls, body: bytes, user_agent: str) -> RobotsRules:
        """Parse a robots.txt body (undecodable bytes are replaced, as browsers do)."""
        text = body[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace")
        # RFC 9309 §2.3.1 allows a UTF-8 byte-order mark; protego would read it as part of the
        # first line and drop that group's rules.
        text = text.removeprefix("\ufeff")
        parser = Protego.parse(text)
        delay = parser.crawl_delay(user_agent)
        return cls(
            parser=parser, allow_all=False, crawl_delay=min(float(delay or 0.0), MAX_CRAWL_DELAY)
        )

    @classmethod
    def deny_all(cls, cause: ErrorKind) -> RobotsRules:
        """Rules for an origin whose robots.txt could not be had, for `cause`."""
        return cls(parser=None, allow_all=False, unavailable=True, cause=cause)

    def allows(self, url: str, user_agent: str) -> bool:
        """Say whether `user_agent` may fetch `url`."""
        if self.parser is None:
            return self.allow_all
        return bool(self.parser.can_fetch(url, user_agent))
