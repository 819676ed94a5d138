"""robots.txt per origin: fetched once, parsed with protego, and what to do when it fails.

Failure policy, as Google and Scrapy document it: a 4xx robots.txt (404, 401, 403, ...) means no
rules, so everything is allowed; a 5xx, 429 or network failure is retried like any request, and if
it still fails the origin is treated as disallowing everything: its owner's wishes are unknown.
Bodies past `MAX_ROBOTS_BYTES` are cut there, as Google's parser does with 500 KiB.

Groups as RFC 9309 §2.1 draws them: a group's user-agent lines run until its first allow or
disallow line, and any other line among them (a comment, a blank, Sitemap, Crawl-delay, a key
nobody knows) leaves the run whole, as in Google's reference parser. protego ends the run at any
line it reads as a directive but Sitemap and Host, so such lines are moved after the run's last
user-agent line before protego reads the text (`agents_kept_together`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from protego import Protego

from crawler.core.messages import REDIRECT_STATUSES
from crawler.core.records import ErrorKind
from crawler.core.retry import RetryPolicy

MAX_ROBOTS_BYTES = 512 * 1024
MAX_CRAWL_DELAY = 30.0

# Keys read as Google's parser reads them: a line whose key starts with one of these, in any
# case, with protego's and Google's allowance for frequent typos.
USER_AGENT_KEYS = ("user-agent", "useragent", "user agent")
RULE_KEYS = ("allow", "disallow", "dissallow", "dissalow", "disalow", "diasllow", "disallaw")


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
        parser = Protego.parse(agents_kept_together(text))
        delay = parser.crawl_delay(user_agent)
        return cls(
            parser=parser, allow_all=False, crawl_delay=min(float(delay or 0.0), MAX_CRAWL_DELAY)
        )

    @classmethod
    def deny_all(cls, cause: ErrorKind) -> RobotsRules:
        """Rules for an origin whose robots.txt could not be had, for `cause`."""
        return cls(parser=None, allow_all=False, unavailable=True, cause=cause)

    @property
    def sitemaps(self) -> tuple[str, ...]:
        """Return the URLs of the file's `Sitemap:` lines, as written (relative ones too)."""
        return tuple(self.parser.sitemaps) if self.parser is not None else ()

    def allows(self, url: str, user_agent: str) -> bool:
        """Say whether `user_agent` may fetch `url`."""
        if self.parser is None:
            return self.allow_all
        return bool(self.parser.can_fetch(url, user_agent))


def agents_kept_together(text: str) -> str:
    """Return robots.txt with every line that sits among a group's user-agent lines and is no
    user-agent line itself moved after the group's last user-agent line, where protego reads it.

    Only an allow or disallow line ends a group's run of user-agent lines (RFC 9309 §2.1, and
    §2.2.4: other records "MUST NOT interfere"); what was among them applies to the whole group,
    so a Crawl-delay there holds for every agent the group names.
    """
    kept: list[str] = []
    held: list[str] = []  # other lines met since the run's last user-agent line
    in_run = False
    for line in text.splitlines():
        key = line.split("#", 1)[0].strip().lower()
        if key.startswith(USER_AGENT_KEYS):
            in_run = True
            kept.append(line)
        elif in_run and not key.startswith(RULE_KEYS):
            held.append(line)
        else:
            in_run = False
            kept.extend(held)
            held.clear()
            kept.append(line)
    return "\n".join(kept + held)


# RFC 9309 §2.3.1.2: follow at least five redirects.
MAX_ROBOTS_REDIRECTS = 5


@dataclass(slots=True)
class RobotsGate:
    """One origin's robots.txt, as a small state machine: UNKNOWN → FETCHING → READY.

    No page of the origin is dispatched before the gate is READY. A fetch that fails in a way
    worth retrying (5xx, 429, network) puts the gate back to UNKNOWN until `retry_at`; a redirect
    puts it back at once, pointing at the new location.
    """

    state: RobotsState = RobotsState.UNKNOWN
    rules: RobotsRules | None = None
    failures: int = 0
    retry_at: float = 0.0
    url: str | None = None  # where robots.txt redirected to, if it did
    hops: int = 0

    def __repr__(self) -> str:
        return f"<RobotsGate {self.state.value} | {self.failures} failures | {self.url or '-'}>"

    @property
    def ready(self) -> bool:
        """Say whether the origin's rules are known (pages may be dispatched)."""
        return self.state is RobotsState.READY

    def due(self, now: float) -> bool:
        """Say whether robots.txt should be requested now."""
        return self.state is RobotsState.UNKNOWN and now >= self.retry_at

    def fetching(self, origin: str) -> str:
        """Mark the fetch as started; return the URL to request."""
        self.state = RobotsState.FETCHING
        return self.url or f"{origin}/robots.txt"

    def answered(self, status: int, body: bytes, location: str | None, agent: str) -> bool:
        """Take a response (`location` already resolved against the request, or None); return
        False if it is a failure to retry (a 5xx or 429), True once the gate has decided."""
        if status == 200:
            self.rules = RobotsRules.parse(body, agent)
        elif status in REDIRECT_STATUSES and location is not None:
            # The rules found at the target apply to the origin that asked. Past five hops,
            # robots.txt is "unavailable": no rules.
            if self.hops < MAX_ROBOTS_REDIRECTS:
                self.hops += 1
                self.url = location
                self.state = RobotsState.UNKNOWN
                return True
            self.rules = RobotsRules()
        elif status in REDIRECT_STATUSES or (300 <= status < 500 and status != 429):
            self.rules = RobotsRules()  # no robots.txt: everything is allowed
        else:
            return False
        self.state = RobotsState.READY
        return True

    @property
    def attempt(self) -> int:
        """Return the number of the next request for robots.txt (1 for the first)."""
        return self.failures + 1

    def failed(
        self,
        cause: ErrorKind,
        now: float,
        retry: RetryPolicy,
        retry_after: float | None = None,
        stopping: bool = False,
    ) -> bool:
        """Count a failure (network, 5xx or 429): retry after a backoff if `retry` allows and
        the crawl is not stopping, or deny all for `cause`. Return whether it will be retried."""
        self.failures += 1
        if not stopping and retry.may_retry(self.failures):
            self.state = RobotsState.UNKNOWN
            self.retry_at = now + retry.backoff(self.failures, retry_after)
            return True
        self.rules = RobotsRules.deny_all(cause)
        self.state = RobotsState.READY
        return False
