"""The crawler's one settings object: TOML `[crawl]` tables and CLI flags both map onto it.

Validation lives here and raises `SettingsError` naming the setting and what is allowed, so a bad
flag, a bad config key and a bad API argument all read the same.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crawl_basics.config import read_config_table
from crawl_basics.errors import SettingsError
from crawl_basics.units import parse_duration, parse_int, parse_size
from crawler.core.urls import normalize_url

__all__ = ["CrawlSettings", "EventLoop", "load_crawl_settings"]

DEFAULT_USER_AGENT = "crawler-lab/0.1 (+https://github.com/crawler-lab)"


class EventLoop(enum.StrEnum):
    """The asyncio event loop implementation the async strategies run on."""

    UVLOOP = "uvloop"
    ASYNCIO = "asyncio"


@dataclass(frozen=True, slots=True)
class CrawlSettings:
    """Everything a crawl is told: where to start, what to stay within, how hard to push."""

    seeds: tuple[str, ...] = ()
    strategy: str = "async"
    loop: EventLoop = EventLoop.UVLOOP
    concurrency: int = 32
    per_host: int = 16
    delay: float = 0.0
    max_depth: int = 10
    max_pages: int | None = None
    allow_domains: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    ignore_robots: bool = False
    respect_nofollow: bool = False
    retries: int = 2
    backoff: float = 0.25
    timeout: float = 10.0
    connect_timeout: float | None = None  # None: DEFAULT_CONNECT_TIMEOUT, or timeout if shorter
    max_redirects: int = 10
    max_bytes: int = 2 * 1024 * 1024
    max_url_length: int = 2048
    max_outlinks: int = 6000  # Heritrix's default: a page's links past these are not followed
    output: str = "crawl.jsonl"
    stats_json: str | None = None
    quiet: bool = False
    user_agent: str = DEFAULT_USER_AGENT
    grace: float = 2.0
    analysis_cost: int = 0  # rounds of plain-Python SimHash on top of the fingerprint: the CPU dial
    workers: int = 0
    state: str | None = None
    resume: bool = False

    def __post_init__(self) -> None:
        normalized = []
        for seed in self.seeds:
            url = normalize_url(seed, self.max_url_length)
            _require(url is not None, "seeds", f"{seed!r} is not an http(s) URL")
            normalized.append(url)
        object.__setattr__(self, "seeds", tuple(dict.fromkeys(normalized)))
        _require(
            self.concurrency >= 1, "concurrency", f"must be at least 1 (got {self.concurrency})"
        )
        _require(self.per_host >= 1, "per_host", f"must be at least 1 (got {self.per_host})")
        _require(
            self.per_host <= self.concurrency,
            "per_host",
            f"{self.per_host} exceeds concurrency {self.concurrency}: it could never be reached",
        )
        _require(self.delay >= 0, "delay", "must not be negative")
        _require(0 <= self.max_depth <= 1000, "max_depth", "must be 0 to 1000")
        _require(self.max_pages is None or self.max_pages >= 1, "max_pages", "must be at least 1")
        _require(self.retries >= 0, "retries", "must not be negative")
        _require(self.backoff >= 0, "backoff", "must not be negative")
        _require(self.timeout > 0, "timeout", "must be above 0")
        if self.connect_timeout is not None:
            _require(self.connect_timeout > 0, "connect_timeout", "must be above 0")
            _require(
                self.connect_timeout <= self.timeout,
                "connect_timeout",
                f"{self.connect_timeout:g}s exceeds the total timeout {self.timeout:g}s",
            )
        _require(self.max_redirects >= 0, "max_redirects", "must not be negative")
        _require(self.max_bytes >= 1024, "max_bytes", "must be at least 1KiB")
        _require(self.max_url_length >= 32, "max_url_length", "must be at least 32")
        _require(self.max_outlinks >= 1, "max_outlinks", "must be at least 1")
        _require(self.grace >= 0, "grace", "must not be negative")
        _require(0 <= self.analysis_cost <= 100, "analysis_cost", "must be 0 to 100")
        _require(0 <= self.workers <= 256, "workers", "must be 0 (one per core) to 256")
        _require(bool(self.user_agent.strip()), "user_agent", "must not be empty")
        _require(
            not self.resume or bool(self.state),
            "resume",
            "needs --state: the file the crawl to resume was kept in",
        )
        for name in ("include", "exclude"):
            for pattern in getattr(self, name):
                try:
                    re.compile(pattern)
                except re.error as error:
                    raise SettingsError(
                        name, f"bad regular expression {pattern!r}: {error}"
                    ) from None
        for domain in self.allow_domains:
            _require(
                bool(re.fullmatch(r"(?:\*\.)?[A-Za-z0-9.\-\[\]:]+", domain)),
                "allow_domains",
                f"{domain!r} is not a host, host:port or *.domain",
            )

    @property
    def connect_seconds(self) -> float:
        """Return how long a connection may take: as set, or the default cut to `timeout`
        (a `--timeout 1s` alone must not be refused for the default connect timeout)."""
        if self.connect_timeout is not None:
            return self.connect_timeout
        return min(DEFAULT_CONNECT_TIMEOUT, self.timeout)

    @property
    def process_workers(self) -> int:
        """Return the size of a strategy's process pool: `workers`, or one per core."""
        return self.workers or os.cpu_count() or 1

    @property
    def robots_agent(self) -> str:
        """Return the product token robots.txt rules are matched against."""
        return self.user_agent.split("/", 1)[0].strip()


DEFAULT_CONNECT_TIMEOUT = 5.0


def _require(condition: bool, setting: str, problem: str) -> None:
    if not condition:
        raise SettingsError(setting, problem)


def _as_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(item) for item in value)
    raise ValueError("use a string or a list of strings")


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
        return value.lower() in ("true", "yes", "1")
    raise ValueError(f"not true or false: {value!r}")


def _optional_int(value: Any) -> int | None:
    return None if value in (None, "", "none", 0) else parse_int(value)


_PARSERS: dict[str, Any] = {
    "seeds": _as_tuple,
    "strategy": str,
    "loop": EventLoop,
    "concurrency": parse_int,
    "per_host": parse_int,
    "delay": parse_duration,
    "max_depth": parse_int,
    "max_pages": _optional_int,
    "allow_domains": _as_tuple,
    "include": _as_tuple,
    "exclude": _as_tuple,
    "ignore_robots": _as_bool,
    "respect_nofollow": _as_bool,
    "retries": parse_int,
    "backoff": parse_duration,
    "timeout": parse_duration,
    "connect_timeout": parse_duration,
    "max_redirects": parse_int,
    "max_bytes": parse_size,
    "max_url_length": parse_int,
    "max_outlinks": parse_int,
    "output": str,
    "stats_json": str,
    "quiet": _as_bool,
    "user_agent": str,
    "grace": parse_duration,
    "analysis_cost": parse_int,
    "workers": parse_int,
    "state": str,
    "resume": _as_bool,
}
assert set(_PARSERS) == {field.name for field in dataclasses.fields(CrawlSettings)}


def crawl_settings_from_mapping(values: Mapping[str, Any]) -> CrawlSettings:
    """Build validated settings from user-facing names to raw values."""
    parsed: dict[str, Any] = {}
    for name, raw in values.items():
        key = name.replace("-", "_")
        if key not in _PARSERS:
            raise SettingsError(key, f"unknown setting (known: {', '.join(sorted(_PARSERS))})")
        try:
            parsed[key] = _PARSERS[key](raw)
        except ValueError as error:
            raise SettingsError(key, str(error)) from None
    return CrawlSettings(**parsed)


def load_crawl_settings(
    config: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> CrawlSettings:
    """Merge a config file's `[crawl]` table with overrides (flags win) and validate."""
    values = read_config_table(config, "crawl") if config is not None else {}
    values.update(overrides or {})
    return crawl_settings_from_mapping(values)
