"""Settings, declared once: config files and flags set them, bad values are one line, and `--help`
and the README's option tables say what the declarations say.

The mock server's own options are tested with its command line (tests/test_mock_cli.py); its
README table is checked here, beside the crawl's, since both follow from the same declarations.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from command_kit.declared import declared_fields, flag_of, option_rows, shown_default
from crawler.settings import CrawlSettings
from mock_server.server_settings import ServerSettings, SiteSettings

README = Path(__file__).parent.parent / "README.md"
CRAWLER = [sys.executable, "-m", "crawler"]


def crawler(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `crawler` to completion."""
    return subprocess.run(
        [*CRAWLER, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


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


def test_config_file_sets_crawl_options_and_flags_override(tmp_path: Path) -> None:
    """A [crawl] table sets options with the flags' names; values given as flags win."""
    from crawler.settings import load_crawl_settings

    config = tmp_path / "crawl.toml"
    config.write_text(
        '[crawl]\nconcurrency = 40\nper-host = 4\ndelay = "250ms"\nexclude = ["\\\\.pdf$"]\n'
    )
    settings = load_crawl_settings(config, {"concurrency": "8"})
    assert settings.concurrency == 8 and settings.per_host == 4
    assert settings.delay == 0.25 and settings.exclude == (r"\.pdf$",)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["ftp://example.com/"], "seeds: 'ftp://example.com/' is not an http(s) URL"),
        (["not a url"], "seeds"),
        (["--per-host", "10", "--concurrency", "5"], "--per-host: 10 exceeds --concurrency 5"),
        (["--delay", "5"], "--delay: '5' needs a unit: 5s or 5ms?"),
        (
            ["--connect-timeout", "20s", "--timeout", "10s"],
            "--connect-timeout: 20s exceeds --timeout 10s",
        ),
        (["--delay", "-1s"], "delay"),
        (["--include", "(unclosed"], "--include: bad regular expression"),
        (["--max-pages", "-3"], "--max-pages"),
        (["--max-outlinks", "0"], "--max-outlinks: must be at least 1"),
        (["--timeout", "soon"], "timeout"),
        (["--strategy", "telepathy"], "--strategy"),
        (["-o", "/nonexistent-dir/out.jsonl"], "--output: cannot write /nonexistent-dir/out.jsonl"),
        (["--config", "/nonexistent/crawl.toml"], "config: cannot read"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], needle: str) -> None:
    """Every kind of bad input is one line on stderr naming the problem, exit 2, no traceback."""
    result = crawler("crawl", *args, timeout=30)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr


def test_bad_config_file_is_one_line(tmp_path: Path) -> None:
    """A config with an unknown key or broken TOML is named in one line, exit 2."""
    for content, needle in (
        ("[crawl]\nspeed = 'ludicrous'\n", "speed in [crawl] of"),
        ("[crawl]\nper_host = 0\n", "per_host in [crawl] of"),
        ("[crawll]\nper_host = 2\n", "unknown table [crawll]"),
        ("[crawl\n", "not valid TOML"),
    ):
        config = tmp_path / "bad.toml"
        config.write_text(content)
        result = crawler("crawl", "--config", str(config), timeout=30)
        assert (
            result.returncode == 2
            and needle in result.stderr
            and len(result.stderr.splitlines()) == 1
        )


def test_help_lists_every_setting() -> None:
    """`crawler crawl --help` documents every [crawl] key with its type and its default."""
    result = crawler("crawl", "--help")
    for flag in ("--per-host INTEGER", "--delay DURATION", "--max-bytes SIZE", "[URL]..."):
        assert flag in result.stdout, flag
    for default in ("[default: 32]", "[default: 2MiB]", "[default: 250ms]", "[default: no limit]"):
        assert default in " ".join(result.stdout.split()), default
