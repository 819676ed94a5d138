"""Settings declared once: each range is on its declaration, each default in one place."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from command_kit.declared import INTEGER, declare, optional, validate_declared
from command_kit.errors import SettingsError
from command_kit.validators import (
    above,
    at_least,
    between,
    each,
    matching,
    not_blank,
    regular_expression,
)
from crawler.core.policy import DEFAULT_POLICY
from crawler.http.options import DEFAULT_HTTP_OPTIONS
from crawler.pages.page_options import DEFAULT_PAGE_OPTIONS
from crawler.settings import CrawlSettings, StrategyName
from crawler.strategies import STRATEGIES


def test_validators_word_the_problem_as_settings_errors_do() -> None:
    """Each validator allows its range and words what it refuses, the bound in words."""
    assert at_least(1)(1) is None
    assert at_least(1)(0) == "must be at least 1"
    assert at_least(0)(-1) == "must not be negative"
    assert at_least(1, show_value=True)(-3) == "must be at least 1 (got -3)"
    assert above(0)(0.0) == "must be above 0"
    assert between(0, 1000)(1001) == "must be 0 to 1000"
    assert between(0, 1, problem="must be in 0..1")(2) == "must be in 0..1"
    assert not_blank("  ") == "must not be empty"
    assert matching(r"[a-z]+", "{value!r} is not a word")("a b") == "'a b' is not a word"
    assert regular_expression("a(").startswith("bad regular expression 'a(': ")


def test_each_tells_the_first_item_refused() -> None:
    """A repeatable setting's validator names the first item it refuses."""
    words = each(matching(r"[a-z]+", "{value!r} is not a word"))
    assert words(("a", "b")) is None
    assert words(("a", "B", "1")) == "'B' is not a word"


@dataclass(frozen=True, slots=True)
class _Example:
    count: int = field(default=1, metadata=declare(INTEGER, "", validators=(at_least(1),)))
    limit: int | None = field(
        default=None, metadata=declare(optional(INTEGER), "", validators=(at_least(1),))
    )

    def __post_init__(self) -> None:
        validate_declared(self)


def test_validate_declared_names_the_setting_and_allows_not_set() -> None:
    """The first refused setting is named in the error; None ("not set") is always allowed."""
    assert _Example(limit=None).limit is None
    with pytest.raises(SettingsError, match=r"^limit: must be at least 1$"):
        _Example(limit=0)
    with pytest.raises(SettingsError, match=r"^count: must be at least 1$"):
        _Example(count=0, limit=0)


def test_the_settings_defaults_are_the_policys_and_options_own() -> None:
    """Settings left at their defaults build the default policy, page options and HTTP options:
    each default is written once, where the part that uses it is declared."""
    settings = CrawlSettings()
    assert settings.policy == DEFAULT_POLICY
    assert settings.page_options == DEFAULT_PAGE_OPTIONS
    assert settings.http_options == DEFAULT_HTTP_OPTIONS


def test_every_strategy_name_has_a_strategy() -> None:
    """The registry runs exactly the strategies `--strategy` offers."""
    assert set(STRATEGIES) == set(StrategyName)
