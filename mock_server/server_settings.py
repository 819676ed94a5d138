"""The mock server's one settings object, built from TOML files and CLI flags alike.

Users see one flat namespace of settings (`pages`, `latency`, `faults`, ...): a TOML table
`[mock_server]` and the command-line flags both map onto it, flags winning. Validation lives here
and raises `SettingsError` naming the setting, so every front end reports bad input the same way:
a constraint on one setting on its declaration (`validators=`), the rest in `__post_init__`.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from command_kit.config import read_config_table
from command_kit.declared import (
    BOOLEAN,
    DURATION,
    INTEGER,
    NUMBER,
    SIZE,
    TEXT,
    Kind,
    choice_of,
    declare,
    optional,
    settings_from,
    validate_declared,
)
from command_kit.errors import SettingsError
from command_kit.validators import above, at_least, between
from mock_server.capacity import (
    CapacityStep,
    capacity_at,
    format_capacity_schedule,
    host_capacity,
    parse_capacity_schedule,
    scaled,
)
from mock_server.faults import FaultKind, parse_fault_spec
from mock_server.latency import LatencyDistribution, validate_latency


def _parse_faults(value: Any) -> Mapping[FaultKind, float]:
    if isinstance(value, str):
        return parse_fault_spec(value)
    if isinstance(value, list):
        return parse_fault_spec(",".join(str(item) for item in value))
    if isinstance(value, dict):
        rates: dict[FaultKind, float] = {}
        for name, rate in value.items():
            rates.update(parse_fault_spec(f"{name}={rate}"))
        return rates
    raise ValueError("use a string like 'all' or 'http_500,reset', or a table of rates")


_FAULT_HELP = ", ".join(kind.value for kind in FaultKind)


_UNLIMITED_AT_0 = (at_least(0, problem="must not be negative (0 means unlimited)"),)


MAX_HOSTS_ON_PORTS = 64
MAX_HOSTS = 10_000
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")


class HostsOn(enum.StrEnum):
    """Where a site of several origins puts them: ports of one address, or loopback addresses."""

    PORTS = "ports"
    ADDRESSES = "addresses"


class CapacityPer(enum.StrEnum):
    """Whom a capacity limits: the whole server process, or each origin on its own."""

    SERVER = "server"
    HOST = "host"


class Overload(enum.StrEnum):
    """What an origin at capacity does with one more request."""

    QUEUE = "queue"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class SiteSettings:
    """What the generated site looks like: everything the pure site model needs.

    Each field is declared once with its kind and help; `mock-server`'s options and the keys of a
    config's `[mock_server]` table come from these lines (and `ServerSettings`' below).
    """

    seed: int = field(
        default=0, metadata=declare(INTEGER, "Seed of the generated site: same seed, same bytes.")
    )
    pages: int = field(
        default=1000,
        metadata=declare(INTEGER, "Number of pages.", validators=(at_least(1, show_value=True),)),
    )
    links: int = field(
        default=10,
        metadata=declare(
            INTEGER, "In-site links per page.", validators=(at_least(1, show_value=True),)
        ),
    )
    page_size: int = field(
        default=4096,
        metadata=declare(
            SIZE, "Approximate page size.", validators=(at_least(256, show_value=True),)
        ),
    )
    hosts: int = field(
        default=1,
        metadata=declare(
            INTEGER,
            "Number of origins the site spans (see --hosts-on for where they live).",
            validators=(between(1, MAX_HOSTS, show_value=True),),
        ),
    )
    faults: Mapping[FaultKind, float] = field(
        default_factory=dict,
        metadata=declare(
            Kind("FAULTS", _parse_faults, lambda rates: ",".join(rates) or "none"),
            "Faults to inject: all, hostile, none, or a comma list of KIND or KIND=RATE (all:"
            f" every kind but the hostile ones). Kinds: {_FAULT_HELP}.",
            shown_default="none",
        ),
    )
    transient_failures: int = field(
        default=1,
        metadata=declare(
            INTEGER,
            "Attempts a transient fault (503, 429, reset) fails before it succeeds.",
            validators=(at_least(1),),
        ),
    )
    retry_after: float = field(
        default=1.0,
        metadata=declare(DURATION, "Retry-After of 429 answers.", validators=(at_least(0),)),
    )
    robots_crawl_delay: float = field(
        default=0.01,
        metadata=declare(
            DURATION, "Crawl-delay in robots.txt (robots fault).", validators=(at_least(0),)
        ),
    )
    sitemaps: bool = field(
        default=False,
        metadata=declare(
            BOOLEAN,
            "Serve /sitemap.xml on every host: its pages, each with a <lastmod> (none in"
            " robots.txt, which a crawler finds at /sitemap.xml).",
        ),
    )
    oversize_bytes: int = field(
        default=4 * 1024 * 1024,
        metadata=declare(SIZE, "Size of oversize pages.", validators=(at_least(1),)),
    )
    near_duplicates: float = field(
        default=0.05,
        metadata=declare(
            NUMBER,
            "Fraction of pages that copy another page's text with small changes.",
            validators=(between(0, 1, problem="must be in 0..1"),),
        ),
    )

    def __post_init__(self) -> None:
        validate_declared(self)
        # Each kind's rate is a part of one setting, named as one: `faults.http_500`.
        for kind, rate in self.faults.items():
            _require(0 <= rate <= 1, f"faults.{kind}", f"rate must be in 0..1 (got {rate:g})")
        # A private copy, so the caller's dict cannot change a frozen settings object.
        object.__setattr__(self, "faults", dict(self.faults))

    def fault_rate(self, kind: FaultKind) -> float:
        """Return how often `kind` is injected (0 when off)."""
        return self.faults.get(kind, 0.0)


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """How the site is served: where, how fast, and how much load it takes."""

    site: SiteSettings = field(default_factory=SiteSettings)
    host: str = field(default="127.0.0.1", metadata=declare(TEXT, "Address to bind."))
    port: int = field(
        default=0,
        metadata=declare(
            INTEGER,
            "Port of the first host (hosts on ports take the next ones); 0 picks free ports.",
            validators=(between(0, 65535, show_value=True),),
        ),
    )
    hosts_on: HostsOn = field(
        default=HostsOn.PORTS,
        metadata=declare(
            choice_of([place.value for place in HostsOn], HostsOn),
            "Where the hosts live: ports (one address, a port each) or addresses (one port,"
            " a loopback address each from --host up: 127.0.0.1, 127.0.0.2, ...).",
        ),
    )
    workers: int = field(
        default=1,
        metadata=declare(
            INTEGER,
            "Server processes sharing each port (SO_REUSEPORT).",
            validators=(between(1, 64, show_value=True),),
        ),
    )
    latency: float = field(default=0.0, metadata=declare(DURATION, "Median time to first byte."))
    latency_distribution: LatencyDistribution = field(
        default=LatencyDistribution.CONSTANT,
        metadata=declare(
            choice_of([shape.value for shape in LatencyDistribution], LatencyDistribution),
            "Shape of the latency.",
            option="--latency-dist",
        ),
    )
    latency_p99: float | None = field(
        default=None,
        metadata=declare(
            optional(DURATION),
            "99th percentile of the latency (uniform and lognormal).",
            shown_default="4x median for lognormal",
        ),
    )
    bandwidth: int = field(
        default=0,
        metadata=declare(
            SIZE, "Per-response bandwidth in bytes/s; 0 is unlimited.", validators=_UNLIMITED_AT_0
        ),
    )
    capacity: int = field(
        default=0,
        metadata=declare(
            INTEGER, "Requests served at once; 0 is unlimited.", validators=_UNLIMITED_AT_0
        ),
    )
    capacity_per: CapacityPer = field(
        default=CapacityPer.SERVER,
        metadata=declare(
            choice_of([choice.value for choice in CapacityPer], CapacityPer),
            "Whom --capacity limits: the server process as a whole, or each host on its own.",
        ),
    )
    capacity_spread: float = field(
        default=1.0,
        metadata=declare(
            NUMBER,
            "With --capacity-per host: each host's capacity is drawn (by seed) between"
            " capacity/SPREAD and capacity; 1 gives every host the same.",
            validators=(at_least(1, show_value=True),),
        ),
    )
    capacity_schedule: tuple[CapacityStep, ...] = field(
        default=(),
        metadata=declare(
            Kind("SCHEDULE", parse_capacity_schedule, format_capacity_schedule),
            "Capacity changes over time, counted from the start (or a DELETE of /_stats):"
            " '20s=5,50s=10' serves 5 at once from 20 s on and 10 from 50 s on (per host, each"
            " host's capacity scaled alike).",
            shown_default="none",
        ),
    )
    overload: Overload = field(
        default=Overload.QUEUE,
        metadata=declare(
            choice_of([choice.value for choice in Overload], Overload),
            "Past capacity: queue the request, or reject it with 503.",
        ),
    )
    overload_retry_after: float = field(
        default=1.0,
        metadata=declare(
            DURATION,
            "Retry-After of the 503s that reject overload; 0 sends none.",
            validators=(at_least(0),),
        ),
    )
    hang_seconds: float = field(
        default=120.0,
        metadata=declare(
            DURATION,
            "How long a hanging URL holds the connection before dropping it.",
            validators=(above(0),),
        ),
    )

    def __post_init__(self) -> None:
        validate_declared(self)  # each setting alone; what follows reads two or more at once
        if self.hosts_on is HostsOn.ADDRESSES:
            self._check_addresses()
        else:
            self._check_ports()
        problem = validate_latency(self.latency_distribution, self.latency, self.latency_p99)
        _require(problem is None, "latency", problem or "")
        _require(
            self.capacity_spread == 1
            or (self.capacity > 0 and self.capacity_per is CapacityPer.HOST),
            "capacity_spread",
            "spreads a capacity over hosts: needs {capacity} and {capacity_per} host",
            mentions=("capacity", "capacity_per"),
        )
        # A frozen tuple whatever the caller passed, so the settings object stays immutable.
        object.__setattr__(self, "capacity_schedule", tuple(self.capacity_schedule))

    def host_capacity(self, host: int, elapsed: float = 0.0) -> int:
        """Return how many requests host `host` serves at once `elapsed` seconds after the
        start (0 for unlimited); with --capacity-per server, the server's capacity.

        A pure function of the settings, so a benchmark knows the true limit at each moment.
        """
        spread = self.capacity_spread if self.capacity_per is CapacityPer.HOST else 1.0
        own = host_capacity(self.capacity, spread, self.site.seed, host)
        if not self.capacity_schedule:
            return own
        return scaled(
            own, self.capacity, capacity_at(self.capacity, self.capacity_schedule, elapsed)
        )

    def _check_ports(self) -> None:
        """Hold the hosts on ports to a few, on ports that exist."""
        hosts = self.site.hosts
        _require(
            hosts <= MAX_HOSTS_ON_PORTS,
            "hosts",
            f"at most {MAX_HOSTS_ON_PORTS} on ports of one address (got {hosts});"
            f" {{hosts_on}} addresses serves up to {MAX_HOSTS:,}",
            mentions=("hosts_on",),
        )
        if self.port:
            last = self.port + hosts - 1
            _require(last <= 65535, "port", f"hosts need ports up to {last}, past 65535")

    def _check_addresses(self) -> None:
        """Hold `host` to a loopback address with room above it for every host's address."""
        first = _ipv4(self.host)
        _require(
            first is not None and first.is_loopback,
            "host",
            f"{{hosts_on}} addresses needs an IPv4 loopback address, 127.x.x.x (got {self.host!r})",
            mentions=("hosts_on",),
        )
        last = int(first or 0) + self.site.hosts - 1
        _require(
            last < int(LOOPBACK.broadcast_address),
            "hosts",
            f"{self.site.hosts} addresses from {self.host} run past {LOOPBACK[-2]}",
        )

    def host_addresses(self) -> list[str]:
        """Return the address each host is bound to, in host order.

        On ports, every host has `host`. On addresses, host i has `host` + i: Linux delivers all
        of 127.0.0.0/8 to the loopback interface, and every address of it but the broadcast
        127.255.255.255 binds and connects (127.0.0.255 and 127.0.1.0 too), so none is skipped.
        """
        hosts = self.site.hosts
        if self.hosts_on is HostsOn.PORTS:
            return [self.host] * hosts
        first = int(ipaddress.IPv4Address(self.host))
        return [str(ipaddress.IPv4Address(first + index)) for index in range(hosts)]


def _ipv4(text: str) -> ipaddress.IPv4Address | None:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        return None


def _require(condition: bool, setting: str, problem: str, mentions: tuple[str, ...] = ()) -> None:
    if not condition:
        raise SettingsError(setting, problem, mentions)


_SITE_FIELDS = {f.name for f in dataclasses.fields(SiteSettings)}


def settings_from_mapping(
    values: Mapping[str, Any], config: Path | None = None, config_values: Mapping[str, Any] = {}
) -> ServerSettings:
    """Build validated settings from user-facing names (TOML keys, flag names) to raw values."""

    def build(parsed: dict[str, Any], chosen: frozenset[str]) -> ServerSettings:
        site = {name: value for name, value in parsed.items() if name in _SITE_FIELDS}
        server = {name: value for name, value in parsed.items() if name not in _SITE_FIELDS}
        return ServerSettings(site=SiteSettings(**site), **server)

    built: ServerSettings = settings_from(
        (SiteSettings, ServerSettings), "mock_server", config, config_values, values, build
    )
    return built


def load_settings(
    config: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> ServerSettings:
    """Merge a config file's `[mock_server]` table with overrides (flags win) and validate."""
    values = read_config_table(config, "mock_server") if config is not None else {}
    return settings_from_mapping(overrides or {}, config, values)
