"""`HttpOptions`: what the HTTP clients are told, and nothing else.

A client needs its User-Agent, its timeouts and the size of its pool, not the crawl's settings:
the crawler's settings build this small frozen object (`CrawlSettings.http_options`) and take
their defaults from `DEFAULT_HTTP_OPTIONS`, so each default is written once. How large a body may
be is not here: the core puts it on each request (`FetchRequest.max_bytes`).
"""

from __future__ import annotations

from dataclasses import dataclass

from crawler.core.policy import DEFAULT_POLICY

# The robots.txt product token first, so the rules for "crawler-lab" are the ones obeyed.
# The product token and version only: a contact URL is the user's to give (--user-agent), and a
# made-up one would send site owners nowhere.
DEFAULT_USER_AGENT = f"{DEFAULT_POLICY.robots_agent}/0.1"


@dataclass(frozen=True, slots=True)
class HttpOptions:
    """How a client introduces itself, how long a request may take, how many connections it has."""

    user_agent: str = DEFAULT_USER_AGENT
    timeout: float = 10.0  # seconds for the whole request, from connect to last byte
    connect_timeout: float = 5.0  # seconds to connect; never more than `timeout`
    max_connections: int = DEFAULT_POLICY.concurrency  # of the one aiohttp pool of a crawl
    # The proxies requests go through, by scheme, and NO_PROXY's hosts (see `proxies.routes_from`):
    # resolved once for the crawl, so every process and worker of it takes the same routes.
    proxies: tuple[tuple[str, str], ...] = ()


DEFAULT_HTTP_OPTIONS = HttpOptions()
