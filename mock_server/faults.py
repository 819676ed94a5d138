"""The catalogue of faults the mock site can inject, and their deterministic placement on pages.

A fault is either a property of a page (the page itself misbehaves: a 500, a reset, a charset) or an
extra link a page carries to a misbehaving URL (a 404, a redirect loop, a spider trap). Placement is
drawn once from the seed, so the same settings always put the same faults on the same pages, and
every enabled kind appears at least once however small the site.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping
from dataclasses import dataclass


class FaultKind(enum.StrEnum):
    """Every kind of misbehaviour the mock site can show. Values are stable setting names."""

    # The page itself misbehaves.
    HTTP_500 = "http_500"
    HTTP_503 = "http_503"
    HTTP_429 = "http_429"
    RESET = "reset"
    TRUNCATED = "truncated"
    MALFORMED_HTML = "malformed_html"
    CHARSET_HEADER = "charset_header"
    CHARSET_META = "charset_meta"
    OVERSIZE = "oversize"
    GZIP = "gzip"
    REDIRECT = "redirect"
    REDIRECT_CHAIN = "redirect_chain"
    # A page carries an extra link to a misbehaving URL.
    BROKEN_LINK = "broken_link"
    REDIRECT_LOOP = "redirect_loop"
    OFFSITE_REDIRECT = "offsite_redirect"
    HANG = "hang"
    NON_HTML = "non_html"
    SPIDER_TRAP = "spider_trap"
    ROBOTS = "robots"
    # A page carries an extra link to a hostile resource (mock_server/hostile.py).
    GZIP_BOMB = "gzip_bomb"
    ENDLESS_BODY = "endless_body"
    SLOW_BODY = "slow_body"
    HUGE_LINE = "huge_line"
    DEEP_NESTING = "deep_nesting"
    BAD_BYTES = "bad_bytes"
    HOSTILE_LINKS = "hostile_links"
    BAD_REDIRECTS = "bad_redirects"
    BAD_HEADERS = "bad_headers"
    LYING_TYPE = "lying_type"
    # The whole site misbehaves.
    HUGE_ROBOTS = "huge_robots"


PAGE_FAULTS: tuple[FaultKind, ...] = (
    FaultKind.HTTP_500,
    FaultKind.HTTP_503,
    FaultKind.HTTP_429,
    FaultKind.RESET,
    FaultKind.TRUNCATED,
    FaultKind.MALFORMED_HTML,
    FaultKind.CHARSET_HEADER,
    FaultKind.CHARSET_META,
    FaultKind.OVERSIZE,
    FaultKind.GZIP,
    FaultKind.REDIRECT,
    FaultKind.REDIRECT_CHAIN,
)
SITE_FAULTS: tuple[FaultKind, ...] = (FaultKind.HUGE_ROBOTS,)
LINK_FAULTS: tuple[FaultKind, ...] = tuple(
    kind for kind in FaultKind if kind not in PAGE_FAULTS and kind not in SITE_FAULTS
)
# Attacks rather than accidents: `all` leaves them out (they cost time and memory to serve),
# `hostile` turns them all on.
HOSTILE_FAULTS: tuple[FaultKind, ...] = (
    FaultKind.GZIP_BOMB,
    FaultKind.ENDLESS_BODY,
    FaultKind.SLOW_BODY,
    FaultKind.HUGE_LINE,
    FaultKind.DEEP_NESTING,
    FaultKind.BAD_BYTES,
    FaultKind.HOSTILE_LINKS,
    FaultKind.BAD_REDIRECTS,
    FaultKind.BAD_HEADERS,
    FaultKind.LYING_TYPE,
    FaultKind.HUGE_ROBOTS,
)
CLASSIC_FAULTS: tuple[FaultKind, ...] = tuple(
    kind for kind in FaultKind if kind not in HOSTILE_FAULTS
)

# Faults that fail only the first attempts at a URL: a retrying client sees them succeed.
TRANSIENT_FAULTS: frozenset[FaultKind] = frozenset(
    {FaultKind.HTTP_503, FaultKind.HTTP_429, FaultKind.RESET}
)

DEFAULT_FAULT_RATE = 0.02


def parse_fault_spec(spec: str) -> dict[FaultKind, float]:
    """Turn `all`, `hostile`, `none`, `http_500,reset` or `http_500=0.1,reset` into rates per
    kind (`all` is every fault but the hostile ones)."""
    rates: dict[FaultKind, float] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item or item == "none":
            continue
        name, _, rate_text = item.partition("=")
        rate = float(rate_text) if rate_text else DEFAULT_FAULT_RATE
        if name in ("all", "hostile"):
            rates.update(dict.fromkeys(CLASSIC_FAULTS if name == "all" else HOSTILE_FAULTS, rate))
            continue
        try:
            rates[FaultKind(name)] = rate
        except ValueError:
            known = ", ".join(kind.value for kind in FaultKind)
            raise ValueError(
                f"unknown fault kind {name!r} (known: all, hostile, none, {known})"
            ) from None
    return rates


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Which page carries which fault: page faults are exclusive, link faults may stack."""

    page_fault: Mapping[int, FaultKind]
    link_faults: Mapping[int, tuple[FaultKind, ...]]

    @classmethod
    def draw(cls, seed: int, pages: int, rates: Mapping[FaultKind, float]) -> FaultPlan:
        """Place every enabled fault kind on round(rate x pages) pages, at least one each."""
        rng = random.Random(f"{seed}:faults")
        page_fault: dict[int, FaultKind] = {}
        page_kinds = [kind for kind in PAGE_FAULTS if rates.get(kind, 0.0) > 0]
        # The home page never carries a page fault, so every crawl can start.
        candidates = max(pages - 1, 0)
        wanted = {kind: max(1, round(rates[kind] * candidates)) for kind in page_kinds}
        total = min(sum(wanted.values()), candidates)
        chosen = iter(rng.sample(range(1, pages), total))
        for kind in page_kinds:
            for _ in range(wanted[kind]):
                page = next(chosen, None)
                if page is None:
                    break
                page_fault[page] = kind

        link_faults: dict[int, list[FaultKind]] = {}
        for kind in LINK_FAULTS:
            rate = rates.get(kind, 0.0)
            if rate <= 0:
                continue
            count = min(pages, max(1, round(rate * pages)))
            for page in rng.sample(range(pages), count):
                link_faults.setdefault(page, []).append(kind)
        return cls(
            page_fault=page_fault,
            link_faults={page: tuple(kinds) for page, kinds in link_faults.items()},
        )

    def pages_with(self, kind: FaultKind) -> list[int]:
        """Return the pages that carry `kind`, in page order."""
        if kind in PAGE_FAULTS:
            return sorted(page for page, fault in self.page_fault.items() if fault is kind)
        return sorted(page for page, kinds in self.link_faults.items() if kind in kinds)
