"""Constraints on one setting's value, written on its declaration: `validators=(at_least(1),)`.

After attrs' `validators.ge` / `le` / `in_`: a validator is given a value and returns the problem
with it, or None when the value is allowed. `command_kit.declared.validate_declared` runs them all
for a settings object, so a range is written once, beside the setting's kind and help; only checks
that read two settings at once stay in the class's `__post_init__`.

A problem is worded for `SettingsError` ("must be at least 1"): the front end puts the setting's
name in front of it, as the user wrote it. A validator may take its own wording, in which
`{value}` stands for the value given (`problem="must be in 0..1 (got {value:g})"`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "Validator",
    "above",
    "at_least",
    "between",
    "each",
    "matching",
    "not_blank",
    "regular_expression",
]

Validator = Callable[[Any], str | None]
"""Given a setting's value (never None: "not set" is always allowed), the problem, or None."""

_GOT = " (got {value})"


def _check(holds: Callable[[Any], bool], problem: str) -> Validator:
    """Return a validator saying `problem` (with `{value}` filled in) when `holds` is false."""

    def validate(value: Any) -> str | None:
        return None if holds(value) else problem.format(value=value)

    return validate


def at_least(bound: float, *, problem: str | None = None, show_value: bool = False) -> Validator:
    """Allow values of `bound` or more: "must be at least 1", or "must not be negative" for 0.

    `show_value` ends the problem with the value given, "(got 0)".
    """
    worded = problem or ("must not be negative" if bound == 0 else f"must be at least {bound}")
    return _check(lambda value: value >= bound, worded + (_GOT if show_value else ""))


def above(bound: float, *, problem: str | None = None) -> Validator:
    """Allow values greater than `bound`: "must be above 0"."""
    return _check(lambda value: value > bound, problem or f"must be above {bound}")


def between(
    low: float, high: float, *, problem: str | None = None, show_value: bool = False
) -> Validator:
    """Allow values from `low` to `high`, both included: "must be 0 to 1000"."""
    worded = problem or f"must be {low} to {high}"
    return _check(lambda value: low <= value <= high, worded + (_GOT if show_value else ""))


def not_blank(value: str) -> str | None:
    """Refuse text that is empty or only whitespace."""
    return None if value.strip() else "must not be empty"


def matching(pattern: str, problem: str) -> Validator:
    """Allow text that `pattern` matches whole; `problem` may show the value as `{value!r}`."""
    compiled = re.compile(pattern)
    return _check(lambda value: compiled.fullmatch(value) is not None, problem)


def regular_expression(value: str) -> str | None:
    """Refuse text that is not a regular expression, saying why Python's `re` refuses it."""
    try:
        re.compile(value)
    except re.error as error:
        return f"bad regular expression {value!r}: {error}"
    return None


def each(validator: Validator) -> Validator:
    """Apply `validator` to each item of a repeatable setting; the first problem is told."""

    def validate(values: Iterable[Any]) -> str | None:
        return next(filter(None, map(validator, values)), None)

    return validate
