"""`CrawlPolicy`: everything the core decides with, and nothing else.

The crawler's settings (`crawler.settings.CrawlSettings`) also say where records go, how the
strategies fetch, log and stop; the core needs none of that. It takes this small frozen object
instead, so the pure core imports no settings machinery (no click, no TOML) and its tests build
exactly the policy they mean (`CrawlPolicy(seeds=("http://a.test/",), per_host=2)`).

The defaults are written here once: the settings declare theirs as `DEFAULT_POLICY.per_host`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CrawlPolicy:
    """Where a crawl starts, what it stays within, how hard it pushes each origin."""

    seeds: tuple[str, ...]  # normalized absolute URLs
    concurrency: int = 32
    per_host: int = 16
    # Each origin's limit found from its answers, between 1 and per_host (crawler.core.adaptive):
    # by the rule named (the crawler's own, or a peer's for comparison), starting from so many.
    adaptive: bool = False
    adaptive_rule: str = "crawler"
    adaptive_start: int = 1
    delay: float = 0.0  # seconds between two requests to one origin (robots may ask for more)
    max_depth: int = 10
    max_pages: int | None = None
    allow_domains: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    ignore_robots: bool = False
    respect_nofollow: bool = False
    robots_agent: str = "crawler-lab"  # the product token robots.txt rules are matched against
    retries: int = 2
    backoff: float = 0.25
    max_redirects: int = 10
    max_bytes: int = 2 * 1024 * 1024
    max_url_length: int = 2048
    record_links: bool = False
    # Read each seed origin's sitemaps (robots.txt's Sitemap: lines and /sitemap.xml); with
    # sitemaps_only, crawl what they list and follow no page's links.
    sitemaps: bool = False
    sitemaps_only: bool = False


# The defaults as values, read by the settings (a slotted dataclass keeps no defaults on its class).
DEFAULT_POLICY = CrawlPolicy(seeds=())
