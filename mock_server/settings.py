"""The mock server's one settings object, built from TOML files and CLI flags alike.

Users see one flat namespace of settings (`pages`, `latency`, `faults`, ...): a TOML table
`[mock_server]` and the command-line flags both map onto it, flags winning. Validation lives here
and raises `SettingsError` naming the setting, so every front end reports bad input the same way.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crawl_basics.config import read_config_table
from crawl_basics.errors import SettingsError
from crawl_basics.units import parse_duration, parse_float, parse_int, parse_size
from mock_server.faults import FaultKind, parse_fault_spec
from mock_server.latency import LatencyDistribution, validate_latency


class Overload(enum.StrEnum):
    """What an origin at capacity does with one more request."""

    QUEUE = "queue"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class SiteSettings:
    """What the generated site looks like: everything the pure site model needs."""

    seed: int = 0
    pages: int = 1000
    links: int = 10
    page_size: int = 4096
    hosts: int = 1
    faults: Mapping[FaultKind, float] = field(default_factory=dict)
    transient_failures: int = 1
    retry_after: float = 1.0
    robots_crawl_delay: float = 0.01
    oversize_bytes: int = 4 * 1024 * 1024
    near_duplicates: float = 0.05

    def __post_init__(self) -> None:
        _require(self.pages >= 1, "pages", f"must be at least 1 (got {self.pages})")
        _require(self.links >= 1, "links", f"must be at least 1 (got {self.links})")
        _require(self.page_size >= 256, "page_size", f"must be at least 256 (got {self.page_size})")
        _require(1 <= self.hosts <= 64, "hosts", f"must be 1 to 64 (got {self.hosts})")
        _require(self.transient_failures >= 1, "transient_failures", "must be at least 1")
        _require(self.retry_after >= 0, "retry_after", "must not be negative")
        _require(self.robots_crawl_delay >= 0, "robots_crawl_delay", "must not be negative")
        _require(self.oversize_bytes >= 1, "oversize_bytes", "must be at least 1")
        _require(0 <= self.near_duplicates <= 1, "near_duplicates", "must be in 0..1")
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
    host: str = "127.0.0.1"
    port: int = 0
    workers: int = 1
    latency: float = 0.0
    latency_distribution: LatencyDistribution = LatencyDistribution.CONSTANT
    latency_p99: float | None = None
    bandwidth: int = 0
    capacity: int = 0
    overload: Overload = Overload.QUEUE
    hang_seconds: float = 120.0

    def __post_init__(self) -> None:
        _require(0 <= self.port <= 65535, "port", f"must be 0 to 65535 (got {self.port})")
        if self.port:
            last = self.port + self.site.hosts - 1
            _require(last <= 65535, "port", f"hosts need ports up to {last}, past 65535")
        _require(1 <= self.workers <= 64, "workers", f"must be 1 to 64 (got {self.workers})")
        problem = validate_latency(self.latency_distribution, self.latency, self.latency_p99)
        _require(problem is None, "latency", problem or "")
        _require(self.bandwidth >= 0, "bandwidth", "must not be negative (0 means unlimited)")
        _require(self.capacity >= 0, "capacity", "must not be negative (0 means unlimited)")
        _require(self.hang_seconds > 0, "hang_seconds", "must be above 0")


def _require(condition: bool, setting: str, problem: str) -> None:
    if not condition:
        raise SettingsError(setting, problem)


# How each user-facing setting is read from TOML or a flag: (object it belongs to, parser).
_SITE_FIELDS = {f.name for f in dataclasses.fields(SiteSettings)}
_SERVER_FIELDS = {f.name for f in dataclasses.fields(ServerSettings)} - {"site"}


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


def _optional_duration(value: Any) -> float | None:
    return None if value in (None, "", "none") else parse_duration(value)


_PARSERS: dict[str, Any] = {
    "seed": parse_int,
    "pages": parse_int,
    "links": parse_int,
    "page_size": parse_size,
    "hosts": parse_int,
    "faults": _parse_faults,
    "transient_failures": parse_int,
    "retry_after": parse_duration,
    "robots_crawl_delay": parse_duration,
    "oversize_bytes": parse_size,
    "near_duplicates": parse_float,
    "host": str,
    "port": parse_int,
    "workers": parse_int,
    "latency": parse_duration,
    "latency_distribution": LatencyDistribution,
    "latency_p99": _optional_duration,
    "bandwidth": parse_size,
    "capacity": parse_int,
    "overload": Overload,
    "hang_seconds": parse_duration,
}


def settings_from_mapping(values: Mapping[str, Any]) -> ServerSettings:
    """Build validated settings from user-facing names (TOML keys, flag names) to raw values."""
    site: dict[str, Any] = {}
    server: dict[str, Any] = {}
    for name, raw in values.items():
        key = name.replace("-", "_")
        if key not in _PARSERS:
            known = ", ".join(sorted(_PARSERS))
            raise SettingsError(key, f"unknown setting (known: {known})")
        try:
            parsed = _PARSERS[key](raw)
        except ValueError as error:
            raise SettingsError(key, str(error)) from None
        (site if key in _SITE_FIELDS else server)[key] = parsed
    return ServerSettings(site=SiteSettings(**site), **server)


def load_settings(
    config: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> ServerSettings:
    """Merge a config file's `[mock_server]` table with overrides (flags win) and validate."""
    values = read_config_table(config, "mock_server") if config is not None else {}
    values.update(overrides or {})
    return settings_from_mapping(values)
