"""Every file option is checked before any file is touched: a typo in one never empties another.

Each crawl here is the real command against a port nothing listens on, so it ends at once; what is
checked is what it did to files an earlier crawl left.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

FILE_OPTIONS = ("-o", "--stats-json", "--state", "--log-file")


def closed_port() -> int:
    """Return a port of 127.0.0.1 nothing listens on (a connection to it is refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def crawl(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `crawler crawl` of a refused URL in `cwd`, to completion."""
    url = f"http://127.0.0.1:{closed_port()}/"
    return subprocess.run(
        [sys.executable, "-m", "crawler", "crawl", url, "-q", "--retries", "0", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


NAMES = dict(zip(FILE_OPTIONS, ("prev.jsonl", "s.json", "c.db", "c.log"), strict=True))


@pytest.fixture(scope="module")
def first_crawl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a folder holding the files one crawl wrote, one per file option, each non-empty."""
    folder = tmp_path_factory.mktemp("first")
    done = crawl(folder, *(part for option, name in NAMES.items() for part in (option, name)))
    assert done.returncode == 1 and "could not fetch" in done.stderr, done.stderr  # the seed
    assert all((folder / name).stat().st_size > 0 for name in NAMES.values())
    return folder


@pytest.fixture
def earlier_crawl(tmp_path: Path, first_crawl: Path) -> dict[str, Path]:
    """Return this test's copy of the first crawl's files, by the option that wrote each."""
    files = {option: tmp_path / name for option, name in NAMES.items()}
    for option, path in files.items():
        shutil.copyfile(first_crawl / NAMES[option], path)
    return files


@pytest.mark.parametrize(
    ("bad", "kept"), [(bad, kept) for bad in FILE_OPTIONS for kept in FILE_OPTIONS if bad != kept]
)
def test_an_unwritable_file_option_touches_no_other(
    tmp_path: Path, earlier_crawl: dict[str, Path], bad: str, kept: str
) -> None:
    """One file option naming a missing folder, another an earlier crawl's file: one line naming
    the bad option as written, exit status 2, and the other file byte for byte as it was."""
    before = earlier_crawl[kept].read_bytes()
    typo = str(tmp_path / "no-such-dir" / "file")
    resume = ["--resume"] if "--state" in (bad, kept) else []
    done = crawl(tmp_path, bad, typo, kept, str(earlier_crawl[kept]), *resume)
    assert done.returncode == 2
    shown = "--output" if bad == "-o" else bad
    assert done.stderr.strip().splitlines() == [
        f"crawler crawl: error: {shown}: cannot write {typo}: No such file or directory"
    ]
    assert earlier_crawl[kept].read_bytes() == before
    assert not (tmp_path / "no-such-dir").exists()


@pytest.mark.parametrize("option", FILE_OPTIONS)
def test_a_folder_or_a_path_through_a_file_is_refused_before_the_output_is_emptied(
    tmp_path: Path, earlier_crawl: dict[str, Path], option: str
) -> None:
    """A folder given as a file, and a path through a regular file, are refused by name; the
    earlier output is kept."""
    output = earlier_crawl["-o"]
    before = output.read_bytes()
    for path, problem in ((tmp_path, "Is a directory"), (output / "x", "Not a directory")):
        args = ["-o", str(tmp_path / "new.jsonl")] if option == "-o" else ["-o", str(output)]
        done = crawl(tmp_path, *args, option, str(path))
        assert done.returncode == 2, done.stderr
        shown = "--output" if option == "-o" else option
        assert f"{shown}: cannot write {path}: {problem}" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
        assert output.read_bytes() == before


def test_two_options_naming_one_file_are_refused(
    tmp_path: Path, earlier_crawl: dict[str, Path]
) -> None:
    """`--stats-json` naming the output file would overwrite the records with the summary."""
    output = earlier_crawl["-o"]
    before = output.read_bytes()
    done = crawl(tmp_path, "-o", str(output), "--stats-json", str(output))
    assert done.returncode == 2
    assert f"--stats-json: {output} is already written by --output" in done.stderr
    assert output.read_bytes() == before


def test_a_file_set_in_a_config_is_named_as_its_key(
    tmp_path: Path, earlier_crawl: dict[str, Path]
) -> None:
    """A bad `log_file` of a config file is named as the config key it is."""
    config = tmp_path / "crawl.toml"
    config.write_text('[crawl]\nlog_file = "/no-such-dir/crawl.log"\n')
    output = earlier_crawl["-o"]
    before = output.read_bytes()
    done = crawl(tmp_path, "--config", str(config), "-o", str(output))
    assert done.returncode == 2
    assert f"log_file in [crawl] of {config}: cannot write /no-such-dir/crawl.log" in done.stderr
    assert output.read_bytes() == before
