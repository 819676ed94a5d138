"""Read one table of a TOML config file, with errors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from command_kit.errors import SettingsError

# Every table a config file of this project may hold: a crawl's settings, the mock site's, and a
# comparison's grid. One file often holds several (config/default.toml: [crawl] and [mock_server]),
# so each reader accepts them all, and refuses anything else: a misspelt [crawll] must not be
# silently ignored.
KNOWN_TABLES = ("crawl", "mock_server", "compare", "extract")


def read_config_table(path: Path, table: str) -> dict[str, Any]:
    """Return the `[table]` of a TOML file, with errors that name the file."""
    import tomllib  # here, not above: most commands read no config file, `--help` none

    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SettingsError("config", f"cannot read {path}: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SettingsError("config", f"{path} is not valid TOML: {error}") from None
    for name in document:
        if name not in KNOWN_TABLES:
            raise SettingsError(
                "config", f"{path}: unknown table [{name}] (known: {', '.join(KNOWN_TABLES)})"
            )
    section = document.get(table, {})
    if not isinstance(section, dict):
        raise SettingsError("config", f"{path}: [{table}] must be a table")
    return section
