"""Settings declared once: each dataclass field carries its kind and help, and the command-line
options, the config keys and the help's `[default: …]` are all generated from it.

A setting is written as `concurrency: int = field(default=32, metadata=declare(INTEGER, "…"))`:
its name, default, parser and help live on that one line, and so do the constraints on its value
alone (`validators=(at_least(1),)`, see `command_kit.validators`). `options_from` turns the
fields into click options (typed, so help shows INTEGER, DURATION, SIZE), `settings_from` builds
the object from a config table and flags, `validate_declared` runs the validators, and
`option_rows` lists what the README's option table must say.

A flag the user did not give arrives as None, so a loader can tell a value the user chose from a
default; only chosen values can conflict (see `SettingsSource`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from command_kit.errors import SettingsError, SetupError
from command_kit.units import (
    format_duration,
    format_size,
    parse_duration,
    parse_float,
    parse_int,
    parse_size,
)
from command_kit.validators import Validator

__all__ = [
    "BOOLEAN",
    "DURATION",
    "FILE",
    "INTEGER",
    "NUMBER",
    "SIZE",
    "TEXT",
    "Kind",
    "SettingsSource",
    "choice_of",
    "declare",
    "declared_fields",
    "option_rows",
    "optional",
    "options_from",
    "repeatable_text",
    "settings_from",
    "validate_declared",
]

_SPEC = "command_kit.setting"
Function = TypeVar("Function", bound=Callable[..., Any])
SetupErrorT = TypeVar("SetupErrorT", bound=SetupError)


@dataclass(frozen=True, slots=True)
class Kind:
    """What a setting's values are: how text becomes one, how one reads back, its help metavar."""

    metavar: str
    parse: Callable[[Any], Any]
    show: Callable[[Any], str] = str
    choices: tuple[str, ...] = ()
    is_flag: bool = False
    repeatable: bool = False


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    words = ("true", "yes", "on", "1", "false", "no", "off", "0")
    if isinstance(value, str) and value.lower() in words:
        return value.lower() in ("true", "yes", "on", "1")
    raise ValueError(f"not true or false: {value!r}")


def _as_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(item) for item in value)
    raise ValueError("use a string or a list of strings")


def _as_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"not a string: {value!r}")
    return value


INTEGER = Kind("INTEGER", parse_int, lambda value: f"{value}")
NUMBER = Kind("NUMBER", parse_float, lambda value: f"{value:g}")
DURATION = Kind("DURATION", parse_duration, format_duration)
SIZE = Kind("SIZE", parse_size, format_size)
TEXT = Kind("TEXT", _as_text)
FILE = Kind("FILE", _as_text)
BOOLEAN = Kind("", _as_bool, lambda value: "on" if value else "off", is_flag=True)


def repeatable_text(metavar: str = "TEXT") -> Kind:
    """Return the kind of a setting given any number of times (`--include A --include B`)."""
    return Kind(metavar, _as_tuple, lambda value: ", ".join(value), repeatable=True)


def choice_of(names: Iterable[str], parse: Callable[[Any], Any] = _as_text) -> Kind:
    """Return the kind of a setting that takes one of `names`."""
    allowed = tuple(names)

    def parse_choice(value: Any) -> Any:
        if str(value) not in allowed:
            raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
        return parse(value)

    return Kind("CHOICE", parse_choice, lambda value: str(getattr(value, "value", value)), allowed)


def optional(kind: Kind, none_words: tuple[object, ...] = ("", "none")) -> Kind:
    """Return `kind`, where one of `none_words` (or None) means "not set"."""

    def parse(value: Any) -> Any:
        return None if value is None or value in none_words else kind.parse(value)

    def show(value: Any) -> str:
        return "" if value is None else kind.show(value)

    return dataclasses.replace(kind, parse=parse, show=show)


@dataclass(frozen=True, slots=True)
class _Spec:
    kind: Kind
    help: str
    shown_default: str | None
    short: str | None
    option: str | None
    on_command_line: bool
    validators: tuple[Validator, ...]


def declare(
    kind: Kind,
    help: str,
    *,
    shown_default: str | None = None,
    short: str | None = None,
    option: str | None = None,
    on_command_line: bool = True,
    validators: tuple[Validator, ...] = (),
) -> dict[str, Any]:
    """Return a field's metadata declaring it a setting.

    `shown_default` replaces the default in help when the bare value would mislead ("no limit",
    "one per core"); `option` replaces the flag derived from the name (`--allow-domain` for
    `allow_domains`); `on_command_line=False` keeps a setting to config files (or arguments);
    `validators` say which values are allowed (None, "not set", always is).
    """
    return {_SPEC: _Spec(kind, help, shown_default, short, option, on_command_line, validators)}


def declared_fields(*settings_classes: type) -> list[dataclasses.Field[Any]]:
    """Return the fields of the classes that are declared settings, in declaration order."""
    return [
        field
        for settings_class in settings_classes
        for field in dataclasses.fields(settings_class)
        if _SPEC in field.metadata
    ]


def _spec(field: dataclasses.Field[Any]) -> _Spec:
    spec: _Spec = field.metadata[_SPEC]
    return spec


def validate_declared(settings: Any) -> None:
    """Raise `SettingsError` for the first declared setting of `settings` (a dataclass instance)
    whose value one of its validators refuses, in declaration order.

    Call it first in `__post_init__`, so checks across settings see values each allowed alone.
    """
    for field in declared_fields(type(settings)):
        value = getattr(settings, field.name)
        if value is None:
            continue
        for validator in _spec(field).validators:
            problem = validator(value)
            if problem is not None:
                raise SettingsError(field.name, problem)


def flag_of(field: dataclasses.Field[Any]) -> str:
    """Return the command-line flag of a declared setting: `--per-host` for `per_host`."""
    return _spec(field).option or "--" + field.name.replace("_", "-")


def shown_default(field: dataclasses.Field[Any]) -> str:
    """Return the default as help and README show it (`2MiB`, `250ms`, `no limit`)."""
    spec = _spec(field)
    if spec.shown_default is not None:
        return spec.shown_default
    if field.default is dataclasses.MISSING:  # a default_factory: declare shown_default
        return ""
    return spec.kind.show(field.default)


class _SettingType(click.ParamType[Any]):
    """A click parameter type that parses with a setting's own parser, so a flag and a config key
    accept exactly the same spellings."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.name = kind.metavar.lower()

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        if self.kind.choices:
            return "[" + "|".join(self.kind.choices) + "]"
        return self.kind.metavar

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return self.kind.parse(value)
        except ValueError as error:
            # Worded as every other setting error is: `--delay: '5' needs a unit`.
            flag = param.opts[0] if param is not None and param.opts else "value"
            raise click.UsageError(f"{flag}: {error}", ctx) from None

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(name) for name in self.kind.choices if name.startswith(incomplete)]


def options_from(*settings_classes: type) -> Callable[[Function], Function]:
    """Return a decorator adding one click option per declared setting of the classes.

    Every option defaults to None, so the command sees only what the user typed; the declared
    default is shown in help as `[default: …]`.
    """
    fields = [field for field in declared_fields(*settings_classes) if _spec(field).on_command_line]

    def decorate(command: Function) -> Function:
        for field in reversed(fields):  # click applies decorators bottom-up
            spec = _spec(field)
            names = [flag_of(field)] + ([spec.short] if spec.short else [])
            default = shown_default(field)
            help_text = f"{spec.help}  [default: {default}]" if default else spec.help
            if spec.kind.is_flag:
                option = click.option(
                    *names, field.name, is_flag=True, default=None, help=help_text
                )
            elif spec.kind.repeatable:  # each occurrence is one item; the loader parses them all
                option = click.option(
                    *names,
                    field.name,
                    metavar=spec.kind.metavar,
                    multiple=True,
                    default=None,
                    help=help_text,
                )
            else:
                option = click.option(
                    *names, field.name, type=_SettingType(spec.kind), default=None, help=help_text
                )
            command = option(command)
        return command

    return decorate


def option_rows(*settings_classes: type) -> list[tuple[str, str]]:
    """Return (flag, default) for each command-line setting, as the README's table lists them."""
    return [
        (flag_of(field), shown_default(field))
        for field in declared_fields(*settings_classes)
        if _spec(field).on_command_line
    ]


@dataclass(frozen=True, slots=True)
class SettingsSource:
    """Where each setting came from, so an error names it as the user wrote it: `--per-host` for
    a flag, `per_host in [crawl] of scan.toml` for a config key."""

    settings_classes: tuple[type, ...]
    table: str
    config: Path | None = None
    from_config: frozenset[str] = frozenset()

    def name(self, setting: str) -> str:
        """Return how the user wrote `setting` (a dotted name names a part of a setting)."""
        base, dot, rest = setting.partition(".")
        fields = {field.name: field for field in declared_fields(*self.settings_classes)}
        if base in self.from_config or (base not in fields and self.config is not None):
            return f"{setting} in [{self.table}] of {self.config}"
        if base in fields and _spec(fields[base]).on_command_line:
            return flag_of(fields[base]) + (dot + rest)
        return setting

    def renamed(self, error: SetupErrorT) -> SetupErrorT:
        """Return `error` (of the same class) with every setting it names written as the user
        wrote it."""
        problem = error.problem
        for other in error.mentions:
            problem = problem.replace("{" + other + "}", self.name(other))
        return type(error)(self.name(error.setting), problem)

    def renamed_if_declared(self, error: SetupErrorT) -> SetupErrorT:
        """Return `error` renamed as `renamed` does if it names one of these settings, else as it
        is: an error found later (a file, the embedded site's port) may name another table's."""
        fields = {field.name for field in declared_fields(*self.settings_classes)}
        return self.renamed(error) if error.setting.partition(".")[0] in fields else error

    @classmethod
    def of(
        cls,
        settings_classes: tuple[type, ...],
        table: str,
        config: Path | None,
        config_values: Mapping[str, Any],
        flags: Mapping[str, Any],
    ) -> SettingsSource:
        """Return where each setting came from: a flag wins over the config's key."""
        from_config = {name.replace("-", "_") for name in config_values}
        from_flags = {name.replace("-", "_") for name in flags}
        return cls(settings_classes, table, config, frozenset(from_config - from_flags))


def settings_from(
    settings_classes: tuple[type, ...],
    table: str,
    config: Path | None,
    config_values: Mapping[str, Any],
    flags: Mapping[str, Any],
    build: Callable[[dict[str, Any], frozenset[str]], Any],
) -> Any:
    """Parse a config table and flags (flags win) and call `build(values, chosen)`, where `chosen`
    names the settings the user set; errors name each setting as the user wrote it."""
    fields = {field.name: field for field in declared_fields(*settings_classes)}
    source = SettingsSource.of(settings_classes, table, config, config_values, flags)
    values: dict[str, Any] = {}
    try:
        for origin in (config_values, flags):
            for name, raw in origin.items():
                key = name.replace("-", "_")
                if key not in fields:
                    known = ", ".join(sorted(fields))
                    raise SettingsError(key, f"unknown setting (known: {known})")
                try:
                    values[key] = _spec(fields[key]).kind.parse(raw)
                except ValueError as error:
                    raise SettingsError(key, str(error)) from None
        return build(values, frozenset(values))
    except SettingsError as error:
        raise source.renamed(error) from None
