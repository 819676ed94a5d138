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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crawl_basics.config import read_config_table
from crawl_basics.declared import (
    BOOLEAN,
    DURATION,
    FILE,
    INTEGER,
    SIZE,
    TEXT,
    choice_of,
    declare,
    optional,
    repeatable_text,
    settings_from,
)
from crawl_basics.errors import SettingsError
from crawl_basics.units import format_duration
from crawler.core.policy import CrawlPolicy
from crawler.core.urls import normalize_url
from crawler.strategies import STRATEGIES

__all__ = ["CrawlSettings", "EventLoop", "LogLevel", "load_crawl_settings"]

DEFAULT_USER_AGENT = "crawler-lab/0.1 (+https://github.com/crawler-lab)"
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_PER_HOST = 16


class LogLevel(enum.StrEnum):
    """How much the crawl logs: `debug` adds a line per request to `info`'s progress lines."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class EventLoop(enum.StrEnum):
    """The asyncio event loop implementation the async strategies run on."""

    UVLOOP = "uvloop"
    ASYNCIO = "asyncio"


@dataclass(frozen=True, slots=True)
class CrawlSettings:
    """Everything a crawl is told: where to start, what to stay within, how hard to push.

    Each field is declared once, with its kind and help: `crawler crawl`'s options, the keys of a
    config's `[crawl]` table and the README's option table all come from these lines.
    """

    seeds: tuple[str, ...] = field(
        default=(),
        metadata=declare(
            repeatable_text("URL"),
            "Seeds; each must be an http(s) URL.",
            shown_default="the embedded site",
            on_command_line=False,
        ),
    )
    strategy: str = field(
        default="async", metadata=declare(choice_of(sorted(STRATEGIES)), "Concurrency model.")
    )
    loop: EventLoop = field(
        default=EventLoop.UVLOOP,
        metadata=declare(
            choice_of([loop.value for loop in EventLoop], EventLoop),
            "Event loop of the async strategies.",
        ),
    )
    concurrency: int = field(default=32, metadata=declare(INTEGER, "Requests in flight overall."))
    per_host: int = field(
        default=DEFAULT_PER_HOST,
        metadata=declare(
            INTEGER,
            "Requests in flight per origin; a lower --concurrency lowers it too.",
        ),
    )
    delay: float = field(
        default=0.0,
        metadata=declare(
            DURATION,
            "Minimum gap between requests to one origin; a larger robots Crawl-delay wins.",
        ),
    )
    max_depth: int = field(
        default=10, metadata=declare(INTEGER, "Links followed from a seed; bounds spider traps.")
    )
    max_pages: int | None = field(
        default=None,
        metadata=declare(
            optional(INTEGER, ("", "none", 0)),
            "Records written: never more than this.",
            shown_default="no limit",
        ),
    )
    time_limit: float | None = field(
        default=None,
        metadata=declare(
            optional(DURATION),
            "Stop scheduling after this long, then finish like a Ctrl-C (--grace applies).",
            shown_default="no limit",
        ),
    )
    allow_domains: tuple[str, ...] = field(
        default=(),
        metadata=declare(
            repeatable_text("HOST"),
            "Also crawl this host (any port), host:port, or *.example.com. Repeatable.",
            option="--allow-domain",
        ),
    )
    include: tuple[str, ...] = field(
        default=(),
        metadata=declare(repeatable_text("REGEX"), "Only crawl URLs matching this. Repeatable."),
    )
    exclude: tuple[str, ...] = field(
        default=(),
        metadata=declare(repeatable_text("REGEX"), "Never crawl URLs matching this. Repeatable."),
    )
    ignore_robots: bool = field(
        default=False, metadata=declare(BOOLEAN, "Neither fetch nor obey robots.txt.")
    )
    respect_nofollow: bool = field(
        default=False,
        metadata=declare(
            BOOLEAN, "Skip rel=nofollow links, and the links of meta robots nofollow pages."
        ),
    )
    retries: int = field(
        default=2,
        metadata=declare(
            INTEGER, "Retries after a timeout, connection error, reset, truncated body, 5xx or 429."
        ),
    )
    backoff: float = field(
        default=0.25,
        metadata=declare(
            DURATION, "First retry delay; doubles each retry, jittered, at least Retry-After."
        ),
    )
    timeout: float = field(
        default=10.0,
        metadata=declare(DURATION, "Total time for one request, from connect to last byte."),
    )
    connect_timeout: float | None = field(
        default=None,
        metadata=declare(
            optional(DURATION),
            "Time to connect.",
            shown_default=f"{DEFAULT_CONNECT_TIMEOUT:g}s, or --timeout if shorter",
        ),
    )
    max_redirects: int = field(
        default=10, metadata=declare(INTEGER, "Redirect hops followed per URL.")
    )
    max_bytes: int = field(
        default=2 * 1024 * 1024,
        metadata=declare(
            SIZE, "Largest body kept (decompressed); a larger page is recorded as too_large."
        ),
    )
    max_url_length: int = field(
        default=2048, metadata=declare(INTEGER, "Longer links are skipped.")
    )
    max_outlinks: int = field(
        default=6000,  # Heritrix's default: a page's links past these are not followed
        metadata=declare(
            INTEGER, "Distinct links taken from one page, in document order; the rest are not."
        ),
    )
    record_links: bool = field(
        default=False,
        metadata=declare(
            BOOLEAN, "Keep each page's outgoing links in its record (`links`), for the link graph."
        ),
    )
    output: str = field(
        default="crawl.jsonl",
        metadata=declare(FILE, "JSON Lines records file; '-' is stdout, '' is none.", short="-o"),
    )
    stats_json: str | None = field(
        default=None,
        metadata=declare(
            optional(FILE, ()), "Also write the summary as JSON to this file; '-' is stdout."
        ),
    )
    quiet: bool = field(
        default=False,
        metadata=declare(BOOLEAN, "No status line, no summary, no report.", short="-q"),
    )
    log_level: LogLevel = field(
        default=LogLevel.INFO,
        metadata=declare(
            choice_of([level.value for level in LogLevel], LogLevel),
            "debug: one line per request; info: progress and warnings; warning: warnings only.",
        ),
    )
    log_file: str | None = field(
        default=None,
        metadata=declare(
            optional(FILE, ()),
            "Write log lines to this file (appended) instead of stderr.",
        ),
    )
    stats_interval: float = field(
        default=10.0,
        metadata=declare(
            DURATION, "When stderr is not a terminal, log a stats line this often; 0 is never."
        ),
    )
    user_agent: str = field(
        default=DEFAULT_USER_AGENT,
        metadata=declare(
            TEXT,
            "User-Agent header; its product token is matched against robots.txt.",
            shown_default="crawler-lab/0.1",
        ),
    )
    grace: float = field(
        default=2.0,
        metadata=declare(
            DURATION, "After a first Ctrl-C (or SIGTERM, SIGHUP), time given to requests in flight."
        ),
    )
    analysis_cost: int = field(
        default=0,  # rounds of plain-Python SimHash on top of the fingerprint: the CPU dial
        metadata=declare(INTEGER, "Extra rounds of plain-Python SimHash per page: CPU on purpose."),
    )
    workers: int = field(
        default=0,
        metadata=declare(INTEGER, "Processes of async-procs' analysis pool; 0 is one per core."),
    )
    state: str | None = field(
        default=None,
        metadata=declare(
            optional(FILE),
            "Keep the crawl's frontier and records in this SQLite file, so it can be resumed.",
        ),
    )
    resume: bool = field(
        default=False,
        metadata=declare(
            BOOLEAN,
            "Continue the crawl kept in --state (or start it if the file does not exist yet).",
        ),
    )
    # Which settings the user chose (a flag or a config key), and so which ones may conflict.
    chosen: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

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
        if self.per_host > self.concurrency:
            if "per_host" not in self.chosen:  # the default follows a lower --concurrency down
                object.__setattr__(self, "per_host", self.concurrency)
            _require(
                self.per_host <= self.concurrency,
                "per_host",
                f"{self.per_host} exceeds {{concurrency}} {self.concurrency}:"
                " it could never be reached",
                mentions=("concurrency",),
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
                f"{format_duration(self.connect_timeout)} exceeds {{timeout}}"
                f" {format_duration(self.timeout)}",
                mentions=("timeout",),
            )
        _require(self.max_redirects >= 0, "max_redirects", "must not be negative")
        _require(self.max_bytes >= 1024, "max_bytes", "must be at least 1KiB")
        _require(self.max_url_length >= 32, "max_url_length", "must be at least 32")
        _require(self.max_outlinks >= 1, "max_outlinks", "must be at least 1")
        _require(self.grace >= 0, "grace", "must not be negative")
        _require(self.time_limit is None or self.time_limit > 0, "time_limit", "must be above 0")
        _require(self.stats_interval >= 0, "stats_interval", "must not be negative")
        _require(0 <= self.analysis_cost <= 100, "analysis_cost", "must be 0 to 100")
        _require(0 <= self.workers <= 256, "workers", "must be 0 (one per core) to 256")
        _require(bool(self.user_agent.strip()), "user_agent", "must not be empty")
        _require(
            not self.resume or bool(self.state),
            "resume",
            "needs {state}: the file the crawl to resume was kept in",
            mentions=("state",),
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
    def policy(self) -> CrawlPolicy:
        """Return what the crawl core decides with (see `crawler.core.policy`)."""
        # Every field of the policy, read from the setting (or property) of the same name: a
        # field added to the policy cannot be left at its default by a forgotten copy.
        return CrawlPolicy(
            **{field.name: getattr(self, field.name) for field in dataclasses.fields(CrawlPolicy)}
        )

    @property
    def process_workers(self) -> int:
        """Return the size of a strategy's process pool: `workers`, or one per core."""
        return self.workers or os.cpu_count() or 1

    @property
    def robots_agent(self) -> str:
        """Return the product token robots.txt rules are matched against."""
        return self.user_agent.split("/", 1)[0].strip()


def _require(condition: bool, setting: str, problem: str, mentions: tuple[str, ...] = ()) -> None:
    if not condition:
        raise SettingsError(setting, problem, mentions)


def crawl_settings_from_mapping(
    values: Mapping[str, Any], config: Path | None = None, config_values: Mapping[str, Any] = {}
) -> CrawlSettings:
    """Build validated settings from a config table and user-facing names to raw values (flags
    and API arguments win over the config)."""

    def build(parsed: dict[str, Any], chosen: frozenset[str]) -> CrawlSettings:
        return CrawlSettings(**parsed, chosen=chosen)

    built: CrawlSettings = settings_from(
        (CrawlSettings,), "crawl", config, config_values, values, build
    )
    return built


def load_crawl_settings(
    config: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> CrawlSettings:
    """Merge a config file's `[crawl]` table with overrides (flags win) and validate."""
    values = read_config_table(config, "crawl") if config is not None else {}
    return crawl_settings_from_mapping(overrides or {}, config, values)
