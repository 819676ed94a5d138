"""The README's option tables say what the declarations say: each setting, with its default."""

from __future__ import annotations

import re
from pathlib import Path

from crawl_basics.declared import declared_fields, flag_of, option_rows, shown_default
from crawler.settings import CrawlSettings
from mock_server.settings import ServerSettings, SiteSettings

README = Path(__file__).parent.parent / "README.md"


def table_after(heading: str) -> list[list[str]]:
    """Return the rows (cells stripped) of the first Markdown table after `heading`."""
    text = README.read_text(encoding="utf-8").split(f"\n{heading}\n", 1)[1]
    lines = [line for line in text.splitlines() if line.startswith("|")]
    start = text.splitlines().index(lines[0])
    rows = []
    for line in text.splitlines()[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_the_crawl_option_table_matches_the_declared_settings() -> None:
    """Every option of the README's crawl table is a declared setting with the default `--help`
    shows, and every declared option is in the table."""
    documented = {}
    for cells in table_after("### Options"):
        for flag in re.findall(r"`(--[a-z-]+)`", cells[0]):
            documented[flag] = cells[1]
    declared = {flag: default or "—" for flag, default in option_rows(CrawlSettings)}
    assert documented == declared


def test_the_mock_server_table_matches_the_declared_settings() -> None:
    """Every key of the README's mock-server table is a declared setting with its default (and
    its flag, where that is not the key's spelling)."""
    documented = {}
    for cells in table_after("### Settings"):
        names = re.findall(r"`([a-z_0-9-]+)`", cells[0])
        documented[names[0]] = (cells[1], names[1] if len(names) > 1 else None)
    fields = declared_fields(SiteSettings, ServerSettings)
    declared = {}
    for field in fields:
        flag = flag_of(field)
        own_flag = flag if flag != "--" + field.name.replace("_", "-") else None
        declared[field.name] = (shown_default(field) or "—", own_flag)
    assert documented == declared
