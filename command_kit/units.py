"""Parse the units every setting uses: durations (`100ms`, `1.5s`) and sizes (`4KB`, `1MiB`).

Both the mock server and the crawler accept the same spellings, so they share these parsers.
"""

from __future__ import annotations

import re

_DURATION_UNITS = {
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
}
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
}
_NUMBER_WITH_UNIT = re.compile(r"^\s*(-?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Zµ]*)\s*$")


def parse_duration(text: str | float | int) -> float:
    """Return seconds from `250ms`, `1.5s` or `2m`; a number (from TOML or code) is seconds.

    Text needs its unit, except for 0: `--delay 5` could mean 5 ms as well as 5 s, and a crawler
    that guesses wrong is either rude or slow for the whole crawl.
    """
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        return float(text)
    if not isinstance(text, str):
        raise ValueError(f"not a duration: {text!r} (use e.g. 100ms, 1.5s)")
    match = _NUMBER_WITH_UNIT.match(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 100ms, 1.5s)")
    number, unit = match.groups()
    if not unit:
        if float(number) != 0:
            raise ValueError(f"{text!r} needs a unit: {number}s or {number}ms?")
        unit = "s"
    unit = unit.lower()
    if unit not in _DURATION_UNITS:
        raise ValueError(f"unknown duration unit {unit!r} in {text!r} (use us, ms, s, m, h)")
    return float(number) * _DURATION_UNITS[unit]


def parse_size(text: str | int) -> int:
    """Return bytes from `4096`, `4KB`, `4KiB` or `1MB`."""
    if isinstance(text, bool):
        raise ValueError(f"not a size: {text!r}")
    if isinstance(text, int):
        return text
    match = _NUMBER_WITH_UNIT.match(text)
    if match is None:
        raise ValueError(f"not a size: {text!r} (use e.g. 4096, 4KB, 1MiB)")
    number, unit = match.groups()
    if unit.lower() not in _SIZE_UNITS:
        raise ValueError(f"unknown size unit {unit!r} in {text!r} (use B, KB, KiB, MB, MiB, GB)")
    return int(float(number) * _SIZE_UNITS[unit.lower()])


def format_duration(seconds: float) -> str:
    """Return a duration as a person writes it: `250ms`, `2s`, `1.5s`, `2m`."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def format_size(size: int) -> str:
    """Return a size as a person writes it: `2MiB`, `4KiB`, `1500` (bytes when not a round unit)."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B" if size else "0"


def parse_int(value: object) -> int:
    """Return a whole number from an int or its decimal spelling (booleans are not numbers)."""
    try:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError
        return int(value)
    except ValueError:
        raise ValueError(f"not a whole number: {value!r}") from None


def parse_float(value: object) -> float:
    """Return a number from an int, a float or its spelling (booleans are not numbers)."""
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError
        return float(value)
    except ValueError:
        raise ValueError(f"not a number: {value!r}") from None
