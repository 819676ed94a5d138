"""The crawler's one settings object: TOML `[crawl]` tables and CLI flags both map onto it.

Validation lives here and raises `SettingsError` naming the setting and what is allowed, so a bad
flag, a bad config key and a bad API argument all read the same. A constraint on one setting is
written on its declaration (`validators=`); `__post_init__` holds only the checks across settings.

The defaults of what the core, the page analysis and the HTTP clients are told are theirs
(`DEFAULT_POLICY`, `DEFAULT_PAGE_OPTIONS`, `DEFAULT_HTTP_OPTIONS`): each is written once, there.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from command_kit.config import read_config_table
from command_kit.declared import (
    BOOLEAN,
    DURATION,
    FILE,
    INTEGER,
    SIZE,
    TEXT,
    Kind,
    SettingsSource,
    choice_of,
    declare,
    optional,
    repeatable_text,
    settings_from,
    validate_declared,
)
from command_kit.errors import SettingsError
from command_kit.secrets import redacted_url
from command_kit.units import format_duration
from command_kit.validators import (
    above,
    at_least,
    between,
    each,
    matching,
    not_blank,
    regular_expression,
)
from crawler.archive.archive_options import ArchiveOptions, suffix_problem
from crawler.core.adaptive import parse_rule
from crawler.core.policy import DEFAULT_POLICY, CrawlPolicy
from crawler.core.urls import normalize_url
from crawler.http.options import DEFAULT_HTTP_OPTIONS, HttpOptions
from crawler.http.proxies import proxy_problem, routes_from
from crawler.pages.extract import ExtractRule, as_rules, rules_from_table, shown_rules
from crawler.pages.page_options import DEFAULT_PAGE_OPTIONS, PageOptions
from crawler.pages.sitemap import as_since, shown_since

if TYPE_CHECKING:
    from crawler.pages.callback import PageCallback

__all__ = [
    "BROKER_ENVIRONMENT",
    "CrawlSettings",
    "EventLoop",
    "LogLevel",
    "StrategyName",
    "broker_problem",
    "load_crawl_settings",
    "redacted_url",
]

_NOT_NEGATIVE = (at_least(0),)
# Where `--strategy broker` and `crawler worker` find the broker's URL when it is not given.
BROKER_ENVIRONMENT = "CRAWLER_BROKER"
_ABOVE_ZERO = (above(0),)


class StrategyName(enum.StrEnum):
    """The concurrency models a crawl can run on; `crawler.strategies` maps each to its module."""

    SYNC = "sync"
    THREADS = "threads"
    ASYNC = "async"
    ASYNC_PROCS = "async-procs"
    PROCESSES = "processes"
    BROKER = "broker"
    LOOP = "loop"


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


class AnalysisPlace(enum.StrEnum):
    """Where the async strategy analyses a page: on the event loop's thread, or beside it."""

    LOOP = "loop"
    THREAD = "thread"


def _limit_rule(value: object) -> str:
    """Accept a rule `--adaptive-rule` knows (see `parse_rule`), spelled as the user gave it."""
    parse_rule(str(value))
    return str(value)


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
    strategy: StrategyName = field(
        default=StrategyName.ASYNC,
        metadata=declare(
            choice_of(sorted(name.value for name in StrategyName), StrategyName),
            "Concurrency model.",
        ),
    )
    loop: EventLoop = field(
        default=EventLoop.UVLOOP,
        metadata=declare(
            choice_of([loop.value for loop in EventLoop], EventLoop),
            "Event loop of the async strategies.",
        ),
    )
    concurrency: int = field(
        default=DEFAULT_POLICY.concurrency,
        metadata=declare(
            INTEGER,
            "Requests in flight overall.",
            validators=(at_least(1, show_value=True),),
        ),
    )
    per_host: int = field(
        default=DEFAULT_POLICY.per_host,
        metadata=declare(
            INTEGER,
            "Requests in flight per origin; a lower --concurrency lowers it too.",
            validators=(at_least(1, show_value=True),),
        ),
    )
    adaptive: bool = field(
        default=DEFAULT_POLICY.adaptive,
        metadata=declare(
            BOOLEAN,
            "Find each origin's concurrency from its latency and its 503s, 429s, timeouts and"
            " resets, between 1 and --per-host.",
        ),
    )
    adaptive_rule: str = field(
        default=DEFAULT_POLICY.adaptive_rule,
        metadata=declare(
            Kind("RULE", _limit_rule, str),
            "The rule --adaptive follows: crawler (its own), or for comparison aimd (spider-rs),"
            " autothrottle or autothrottle:TARGET (Scrapy's AutoThrottle with that target"
            " concurrency, default 1) or autoscaled (Crawlee's AutoscaledPool), re-implemented.",
        ),
    )
    adaptive_start: int = field(
        default=DEFAULT_POLICY.adaptive_start,
        metadata=declare(
            INTEGER,
            "Requests in flight per origin that --adaptive starts from.",
            validators=(at_least(1, show_value=True),),
        ),
    )
    delay: float = field(
        default=DEFAULT_POLICY.delay,
        metadata=declare(
            DURATION,
            "Minimum gap between requests to one origin; a larger robots Crawl-delay wins.",
            validators=_NOT_NEGATIVE,
        ),
    )
    max_depth: int = field(
        default=DEFAULT_POLICY.max_depth,
        metadata=declare(
            INTEGER,
            "Steps (links or redirects) followed from a seed; bounds spider traps.",
            validators=(between(0, 1000),),
        ),
    )
    max_pages: int | None = field(
        default=DEFAULT_POLICY.max_pages,
        metadata=declare(
            optional(INTEGER),
            "Records written: never more than this ('none': no limit).",
            shown_default="no limit",
            validators=(at_least(1, problem="must be at least 1 ('none' for no limit)"),),
        ),
    )
    time_limit: float | None = field(
        default=None,
        metadata=declare(
            optional(DURATION),
            "Stop scheduling after this long, then finish like a Ctrl-C (--grace applies).",
            shown_default="no limit",
            validators=_ABOVE_ZERO,
        ),
    )
    allow_domains: tuple[str, ...] = field(
        default=DEFAULT_POLICY.allow_domains,
        metadata=declare(
            repeatable_text("HOST"),
            "Also crawl this host (any port), host:port, or *.example.com. Repeatable.",
            option="--allow-domain",
            validators=(
                each(
                    matching(
                        r"(?:\*\.)?[A-Za-z0-9.\-\[\]:]+",
                        "{value!r} is not a host, host:port or *.domain",
                    )
                ),
            ),
        ),
    )
    include: tuple[str, ...] = field(
        default=DEFAULT_POLICY.include,
        metadata=declare(
            repeatable_text("REGEX"),
            "Only crawl URLs matching this. Repeatable.",
            validators=(each(regular_expression),),
        ),
    )
    exclude: tuple[str, ...] = field(
        default=DEFAULT_POLICY.exclude,
        metadata=declare(
            repeatable_text("REGEX"),
            "Never crawl URLs matching this. Repeatable.",
            validators=(each(regular_expression),),
        ),
    )
    ignore_robots: bool = field(
        default=DEFAULT_POLICY.ignore_robots,
        metadata=declare(BOOLEAN, "Neither fetch nor obey robots.txt."),
    )
    respect_nofollow: bool = field(
        default=DEFAULT_POLICY.respect_nofollow,
        metadata=declare(
            BOOLEAN, "Skip rel=nofollow links, and the links of meta robots nofollow pages."
        ),
    )
    retries: int = field(
        default=DEFAULT_POLICY.retries,
        metadata=declare(
            INTEGER,
            "Retries after a timeout, connection error, reset, truncated body, 5xx or 429.",
            validators=_NOT_NEGATIVE,
        ),
    )
    backoff: float = field(
        default=DEFAULT_POLICY.backoff,
        metadata=declare(
            DURATION,
            "First retry delay; doubles each retry, jittered, at least Retry-After.",
            validators=_NOT_NEGATIVE,
        ),
    )
    timeout: float = field(
        default=DEFAULT_HTTP_OPTIONS.timeout,
        metadata=declare(
            DURATION,
            "Total time for one request, from connect to last byte.",
            validators=_ABOVE_ZERO,
        ),
    )
    connect_timeout: float | None = field(
        default=None,
        metadata=declare(
            optional(DURATION),
            "Time to connect.",
            shown_default=f"{DEFAULT_HTTP_OPTIONS.connect_timeout:g}s, or --timeout if shorter",
            validators=_ABOVE_ZERO,
        ),
    )
    max_redirects: int = field(
        default=DEFAULT_POLICY.max_redirects,
        metadata=declare(
            INTEGER,
            "Redirects followed from a seed (which move it); other redirects are steps of depth.",
            validators=_NOT_NEGATIVE,
        ),
    )
    max_bytes: int = field(
        default=DEFAULT_POLICY.max_bytes,
        metadata=declare(
            SIZE,
            "Largest body kept (decompressed); a larger page is recorded as too_large.",
            validators=(at_least(1024, problem="must be at least 1KiB"),),
        ),
    )
    max_url_length: int = field(
        default=DEFAULT_POLICY.max_url_length,
        metadata=declare(INTEGER, "Longer links are skipped.", validators=(at_least(32),)),
    )
    max_outlinks: int = field(
        default=DEFAULT_PAGE_OPTIONS.max_outlinks,
        metadata=declare(
            INTEGER,
            "Distinct links taken from one page, in document order; the rest are not.",
            validators=(at_least(1),),
        ),
    )
    record_links: bool = field(
        default=DEFAULT_POLICY.record_links,
        metadata=declare(
            BOOLEAN,
            "Keep each page's outgoing links in its record (`outlinks`), for the link graph.",
        ),
    )
    sitemaps: bool = field(
        default=DEFAULT_POLICY.sitemaps,
        metadata=declare(
            BOOLEAN,
            "Also crawl what each seed site's sitemaps list: those its robots.txt names, or"
            " /sitemap.xml (indexes, gzip and text sitemaps too), under the same scope and"
            " robots.txt rules as links.",
        ),
    )
    sitemaps_only: bool = field(
        default=DEFAULT_POLICY.sitemaps_only,
        metadata=declare(
            BOOLEAN,
            "Crawl the seeds and what their sitemaps list, following no page's links"
            " (implies --sitemaps).",
        ),
    )
    sitemap_since: float | None = field(
        default=DEFAULT_PAGE_OPTIONS.sitemap_since,
        metadata=declare(
            optional(Kind("DATE", as_since, shown_since)),
            "Take only sitemap entries whose <lastmod> is this date or later (2026-12-01, or"
            " 2026-12-01T08:00Z; UTC without a zone). Entries without a date are taken.",
            shown_default="every entry",
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
    warc: str | None = field(
        default=None,
        metadata=declare(
            optional(FILE),
            "Archive every request and response, robots.txt included, as WARC/1.1 records in"
            " this .warc.gz file (with every body read, to --max-bytes).",
            validators=(lambda value: suffix_problem(value) if value else None,),
        ),
    )
    warc_max_size: int | None = field(
        default=None,
        metadata=declare(
            optional(SIZE),
            "Start a new archive file once one reaches this size; the files are then numbered"
            " (FILE-00000.warc.gz, FILE-00001.warc.gz...).",
            shown_default="one file",
            validators=(at_least(1024 * 1024, problem="must be at least 1MiB"),),
        ),
    )
    stats_interval: float = field(
        default=10.0,
        metadata=declare(
            DURATION,
            "When stderr is not a terminal, log a stats line this often; 0 is never.",
            validators=_NOT_NEGATIVE,
        ),
    )
    proxy: str | None = field(
        default=None,
        repr=False,  # it may hold a password
        metadata=declare(
            optional(TEXT),
            "HTTP proxy every request goes through, robots.txt included"
            " (http://[USER:PASSWORD@]HOST[:PORT]); without it, $HTTP_PROXY for http:// URLs and"
            " $HTTPS_PROXY for https:// ones. Hosts in $NO_PROXY are reached directly.",
            shown_default="$HTTP_PROXY / $HTTPS_PROXY, or none",
            validators=(lambda value: proxy_problem(value),),
        ),
    )
    user_agent: str = field(
        default=DEFAULT_HTTP_OPTIONS.user_agent,
        metadata=declare(
            TEXT,
            "User-Agent header; its product token is matched against robots.txt. Add a URL"
            " where site owners can reach you: 'mybot/1.0 (+https://example.org/bot)'.",
            validators=(not_blank,),
        ),
    )
    grace: float = field(
        default=2.0,
        metadata=declare(
            DURATION,
            "After a first Ctrl-C (or SIGTERM, SIGHUP), time given to requests in flight.",
            validators=_NOT_NEGATIVE,
        ),
    )
    analysis_cost: int = field(
        default=DEFAULT_PAGE_OPTIONS.analysis_cost,
        metadata=declare(
            INTEGER,
            "Extra rounds of plain-Python SimHash per page: CPU on purpose.",
            validators=(between(0, 100),),
        ),
    )
    analysis_in: AnalysisPlace = field(
        default=AnalysisPlace.LOOP,
        metadata=declare(
            choice_of([place.value for place in AnalysisPlace], AnalysisPlace),
            "Where the async strategy analyses pages: on the event loop, or on a thread beside"
            " it, so the loop stays responsive (no faster: the GIL; async-procs uses processes).",
        ),
    )
    extract: tuple[ExtractRule, ...] = field(
        default=DEFAULT_PAGE_OPTIONS.extract,
        metadata=declare(
            Kind("NAME=SELECTOR", as_rules, shown_rules, repeatable=True),
            "Add to each page's record `data.NAME`: what the CSS selector matches, each"
            " element's HTML, or its text (`h1::text`) or an attribute (`a::attr(href)`), as"
            " Scrapy spells them. Repeatable; a config's [extract] table may give rules per URL"
            " pattern.",
            shown_default="none",
        ),
    )
    workers: int = field(
        default=0,
        metadata=declare(
            INTEGER,
            "Processes of async-procs' analysis pool; 0 is one per core.",
            validators=(between(0, 256, problem="must be 0 (one per core) to 256"),),
        ),
    )
    processes: int = field(
        default=0,
        metadata=declare(
            INTEGER,
            "Fetching processes of the processes strategy, each with its own event loop; 0 is one"
            " per core. Given without --strategy, it chooses that strategy.",
            validators=(between(0, 256, problem="must be 0 (one per core) to 256"),),
        ),
    )
    broker: str | None = field(
        default=None,
        repr=False,  # it may hold a password
        metadata=declare(
            optional(TEXT),
            "Redis URL (redis://[:PASSWORD@]HOST:PORT/DB) the crawl's requests go through;"
            " `crawler worker URL` on any machine joins in. Given without --strategy, it"
            " chooses the broker strategy; --processes then counts this machine's workers."
            " --strategy broker alone reads it from $CRAWLER_BROKER.",
            shown_default="none",
            validators=(lambda value: broker_problem(value),),
        ),
    )
    crawl_id: str | None = field(
        default=None,
        metadata=declare(
            optional(TEXT),
            "Name of the crawl's keys in the broker, so crawls can share one Redis.",
            shown_default="a new random id",
            validators=(
                matching(r"[A-Za-z0-9_.\-]{1,64}", "must be 1 to 64 letters, digits, _ . or -"),
            ),
        ),
    )
    lease: float = field(
        default=30.0,
        metadata=declare(
            DURATION,
            "How long a broker's worker holds a request unrenewed before another takes it"
            " over (a worker killed or frozen loses its requests to the others after this).",
            validators=(at_least(0.5, problem="must be at least 500ms"),),
        ),
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
    # The Python API's page callback (`crawler.crawl_sync(..., on_page=f)`): no flag, no key.
    on_page: PageCallback | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        validate_declared(self)  # each setting alone; what follows reads two at once
        if self.on_page is not None:
            from crawler.pages.callback import callback_problem  # loads lexbor: only when used

            problem = callback_problem(self.on_page, str(self.strategy))
            if problem is not None:
                raise SettingsError("on_page", problem)
        try:
            routes_from(self.proxy)  # the environment's proxies, when --proxy is not given
        except ValueError as error:
            raise SettingsError("proxy", str(error)) from None
        normalized = []
        for seed in self.seeds:
            url = normalize_url(seed, self.max_url_length)
            if url is None:
                raise SettingsError("seeds", _not_a_url(seed, self.max_url_length))
            normalized.append(url)
        object.__setattr__(self, "seeds", tuple(dict.fromkeys(normalized)))
        if self.broker is not None and self.strategy is not StrategyName.BROKER:
            # --broker URL alone asks for the broker strategy; with another, it means nothing.
            _require(
                "strategy" not in self.chosen,
                "broker",
                "applies to {strategy} broker only",
                ("strategy",),
            )
            object.__setattr__(self, "strategy", StrategyName.BROKER)
        if self.strategy is StrategyName.BROKER and self.broker is None:
            # From the environment, a password stays out of the process list and shell history.
            from_environment = os.environ.get(BROKER_ENVIRONMENT) or None
            if from_environment is not None and broker_problem(from_environment) is None:
                object.__setattr__(self, "broker", from_environment)
        _require(
            self.strategy is not StrategyName.BROKER or self.broker is not None,
            "strategy",
            f"broker needs {{broker}} (or ${BROKER_ENVIRONMENT}): the Redis URL the crawl's"
            " requests go through",
            ("broker",),
        )
        for fleet_only in ("crawl_id", "lease"):
            _require(
                fleet_only not in self.chosen or self.broker is not None,
                fleet_only,
                "applies to a crawl through {broker} only",
                ("broker",),
            )
        if (
            "processes" in self.chosen
            and self.strategy is not StrategyName.PROCESSES
            and self.strategy is not StrategyName.BROKER
        ):
            # --processes N alone asks for the processes strategy; with another, it means nothing.
            _require(
                "strategy" not in self.chosen,
                "processes",
                "applies to {strategy} processes only",
                ("strategy",),
            )
            object.__setattr__(self, "strategy", StrategyName.PROCESSES)
        _require(
            self.analysis_in is AnalysisPlace.LOOP or self.strategy is StrategyName.ASYNC,
            "analysis_in",
            "applies to {strategy} async only (async-procs analyses in processes)",
            ("strategy",),
        )
        for adaptive_only in ("adaptive_rule", "adaptive_start"):
            _require(
                adaptive_only not in self.chosen or self.adaptive,
                adaptive_only,
                "applies with {adaptive} only",
                ("adaptive",),
            )
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
        if self.connect_timeout is not None:
            _require(
                self.connect_timeout <= self.timeout,
                "connect_timeout",
                f"{format_duration(self.connect_timeout)} exceeds {{timeout}}"
                f" {format_duration(self.timeout)}",
                mentions=("timeout",),
            )
        _require(
            self.warc is not None or "warc_max_size" not in self.chosen,
            "warc_max_size",
            "applies with {warc} only",
            ("warc",),
        )
        _require(
            self.warc is None or self.strategy is not StrategyName.BROKER,
            "warc",
            "is not written by {strategy} broker: its workers fetch on other machines",
            ("strategy",),
        )
        _require(
            not self.resume or bool(self.state),
            "resume",
            "needs {state}: the file the crawl to resume was kept in",
            mentions=("state",),
        )

    @property
    def connect_seconds(self) -> float:
        """Return how long a connection may take: as set, or the default cut to `timeout`
        (a `--timeout 1s` alone must not be refused for the default connect timeout)."""
        if self.connect_timeout is not None:
            return self.connect_timeout
        return min(DEFAULT_HTTP_OPTIONS.connect_timeout, self.timeout)

    @property
    def policy(self) -> CrawlPolicy:
        """Return what the crawl core decides with (see `crawler.core.policy`)."""
        # Every field of the policy, read from the setting (or property) of the same name: a
        # field added to the policy cannot be left at its default by a forgotten copy.
        return CrawlPolicy(
            **{field.name: getattr(self, field.name) for field in dataclasses.fields(CrawlPolicy)}
        )

    @property
    def page_options(self) -> PageOptions:
        """Return what the analysis of a page is told (see `crawler.pages.page_options`)."""
        # Read field by field, as the policy is: each is a setting of the same name.
        return PageOptions(
            **{field.name: getattr(self, field.name) for field in dataclasses.fields(PageOptions)}
        )

    @property
    def http_options(self) -> HttpOptions:
        """Return what the HTTP clients are told (see `crawler.http.options`)."""
        return HttpOptions(
            user_agent=self.user_agent,
            timeout=self.timeout,
            connect_timeout=self.connect_seconds,
            max_connections=self.concurrency,
            proxies=routes_from(self.proxy),
        )

    @property
    def archive_options(self) -> ArchiveOptions | None:
        """Return what the archive is told (see `crawler.archive`), or None without --warc."""
        if not self.warc:
            return None
        from importlib.metadata import version

        chosen = {
            name: _shown_value(getattr(self, name))
            for name in sorted(self.chosen)
            if name not in _UNARCHIVED_SETTINGS
        }
        info = {
            "software": f"crawler-lab/{version('crawler-lab')} (warcio {version('warcio')})",
            "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            "hostname": os.uname().nodename,
            "http-header-user-agent": self.user_agent,
            "robots": "ignore" if self.ignore_robots else "obey",
            "seeds": " ".join(self.seeds),
            "settings": json.dumps(chosen, sort_keys=True),
        }
        return ArchiveOptions(self.warc, self.warc_max_size, info)

    @property
    def process_workers(self) -> int:
        """Return the size of a strategy's process pool: `workers`, or one per core."""
        return self.workers or os.cpu_count() or 1

    @property
    def robots_agent(self) -> str:
        """Return the product token robots.txt rules are matched against."""
        return self.user_agent.split("/", 1)[0].strip()


# Settings a warcinfo record leaves out: passwords, and what is not a setting of the crawl.
_UNARCHIVED_SETTINGS = frozenset({"proxy", "broker", "on_page", "chosen", "seeds"})


def _shown_value(value: Any) -> Any:
    """Return a setting's value as JSON holds it."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list | frozenset):
        return [_shown_value(item) for item in value]
    return str(value)


def broker_problem(url: str) -> str | None:
    """Say what is wrong with a broker URL, never showing the password it may hold."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return f"{redacted_url(url)!r} is not a URL: its port is not a number"
    if parts.scheme not in ("redis", "rediss", "unix"):
        return f"{redacted_url(url)!r} is not a redis://, rediss:// or unix:// URL"
    if parts.scheme != "unix" and not parts.hostname:
        return f"{redacted_url(url)!r} names no host"
    del port
    return None


def _not_a_url(seed: str, max_length: int) -> str:
    """Say why `seed` is no seed, suggesting the URL a bare host name was probably meant as."""
    problem = f"{seed!r} is not an http(s) URL"
    if "://" not in seed:
        guess = normalize_url("http://" + seed.strip(), max_length)
        if guess is not None:
            return f"{problem}; did you mean {guess} ?"
    return problem


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


def crawl_settings_source(
    config: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> SettingsSource:
    """Return where each crawl setting came from, so an error found once the crawl has started
    (a file that cannot be written) names the setting as the user wrote it."""
    values = read_config_table(config, "crawl") if config is not None else {}
    return SettingsSource.of((CrawlSettings,), "crawl", config, values, overrides or {})


def load_crawl_settings(
    config: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> CrawlSettings:
    """Merge a config file's `[crawl]` and `[extract]` tables with overrides (flags win, and
    `--extract` replaces the file's rules) and validate."""
    values = read_config_table(config, "crawl") if config is not None else {}
    return crawl_settings_from_mapping(overrides or {}, config, with_extract_table(config, values))


def with_extract_table(config: Path | None, values: Mapping[str, Any]) -> dict[str, Any]:
    """Return a config's `[crawl]` values with its `[extract]` table's rules added to `extract`."""
    table = read_config_table(config, "extract") if config is not None else {}
    if not table:
        return dict(values)
    try:
        rules = rules_from_table(table)
    except ValueError as error:
        raise SettingsError("extract", str(error)) from None
    return {**values, "extract": [*values.get("extract", ()), *rules]}
