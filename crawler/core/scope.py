"""Which URLs belong to a crawl: the seeds' origins, allowed domains, include/exclude rules."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from crawler.core.urls import origin_of


@dataclass(frozen=True, slots=True)
class Scope:
    """The crawl's boundary. A URL is in scope when its origin is allowed and the patterns agree.

    Allowed: the seeds' exact origins (scheme, host and port), plus every `allowed_domains` entry,
    which is a host (any port, any scheme) or a `host:port`.
    """

    origins: frozenset[str]
    allowed_domains: frozenset[str] = frozenset()
    include: tuple[re.Pattern[str], ...] = ()
    exclude: tuple[re.Pattern[str], ...] = ()

    @classmethod
    def build(
        cls,
        seeds: Iterable[str],
        allowed_domains: Iterable[str] = (),
        include: Iterable[str] = (),
        exclude: Iterable[str] = (),
    ) -> Scope:
        """Return the scope of a crawl from its seeds and options (patterns already validated)."""
        return cls(
            origins=frozenset(origin_of(seed) for seed in seeds),
            allowed_domains=frozenset(domain.lower().rstrip(".") for domain in allowed_domains),
            include=tuple(re.compile(pattern) for pattern in include),
            exclude=tuple(re.compile(pattern) for pattern in exclude),
        )

    def allows_origin(self, origin: str) -> bool:
        """Say whether requests to `origin` are allowed at all."""
        if origin in self.origins:
            return True
        if not self.allowed_domains:
            return False
        authority = origin.split("://", 1)[1]
        host = authority.rsplit(":", 1)[0] if not authority.endswith("]") else authority
        return authority in self.allowed_domains or host in self.allowed_domains

    def allows(self, url: str) -> bool:
        """Say whether a normalized URL is in scope."""
        if not self.allows_origin(origin_of(url)):
            return False
        if self.include and not any(pattern.search(url) for pattern in self.include):
            return False
        return not any(pattern.search(url) for pattern in self.exclude)
