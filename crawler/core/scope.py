"""Which URLs belong to a crawl: the seeds' origins, allowed domains, include/exclude rules."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass

from crawler.core.urls import origin_of


@dataclass(frozen=True, slots=True)
class Scope:
    """The crawl's boundary. A URL is in scope when its origin is allowed and the patterns agree.

    Allowed: the seeds' exact origins (scheme, host and port), plus every `allowed_domains` entry,
    which is a host (any port, any scheme), a `host:port`, or `*.domain`: the domain and every
    host under it, at any port.
    """

    origins: frozenset[str]
    allowed_domains: frozenset[str] = frozenset()
    domain_suffixes: tuple[str, ...] = ()
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
        domains = {domain.lower().rstrip(".") for domain in allowed_domains}
        return cls(
            origins=frozenset(origin_of(seed) for seed in seeds),
            allowed_domains=frozenset(domain for domain in domains if not domain.startswith("*.")),
            # `*.example.com` kept as ".example.com": a suffix test is all a URL costs.
            domain_suffixes=tuple(
                sorted(domain[1:] for domain in domains if domain.startswith("*."))
            ),
            include=tuple(re.compile(pattern) for pattern in include),
            exclude=tuple(re.compile(pattern) for pattern in exclude),
        )

    def allows_origin(self, origin: str) -> bool:
        """Say whether requests to `origin` are allowed at all."""
        if origin in self.origins:
            return True
        if not self.allowed_domains and not self.domain_suffixes:
            return False
        authority = origin.split("://", 1)[1]
        host = authority.rsplit(":", 1)[0] if not authority.endswith("]") else authority
        if authority in self.allowed_domains or host in self.allowed_domains:
            return True
        return any(host.endswith(suffix) or host == suffix[1:] for suffix in self.domain_suffixes)

    def with_origin(self, origin: str) -> Scope:
        """Return this scope with one more allowed origin (where a seed redirected)."""
        return dataclasses.replace(self, origins=self.origins | {origin})

    def allows(self, url: str) -> bool:
        """Say whether a normalized URL is in scope."""
        if not self.allows_origin(origin_of(url)):
            return False
        if self.include and not any(pattern.search(url) for pattern in self.include):
            return False
        return not any(pattern.search(url) for pattern in self.exclude)
