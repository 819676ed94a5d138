"""`ArchiveOptions`: what the archive is told, built by the crawl's settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

SUFFIX = ".warc.gz"


@dataclass(frozen=True, slots=True)
class ArchiveOptions:
    """Where the archive goes, when it rotates, and what its warcinfo records say."""

    path: str  # FILE.warc.gz, or the name its rotated files are numbered from
    max_size: int | None = None  # bytes after which the next record starts a new file
    # The warcinfo record's fields (software, the crawl's settings...), written atop each file.
    info: Mapping[str, str] = field(default_factory=dict)


def suffix_problem(path: str) -> str | None:
    """Say what is wrong with an archive's file name, or None."""
    if not path.endswith(SUFFIX) or path == SUFFIX or path.endswith("/" + SUFFIX):
        return f"must name a {SUFFIX} file (WARC records, each compressed on its own)"
    return None


__all__ = ["SUFFIX", "ArchiveOptions", "suffix_problem"]
