"""`PageOptions`: what the analysis of a page is told, and nothing else.

The parse needs three numbers and the extraction rules, not the crawl's settings: a worker
process (of a process pool, or of a fleet) is given this small frozen object, which pickles, and
loads no CLI to parse a page. The crawler's settings build it (`CrawlSettings.page_options`) and
take their defaults from `DEFAULT_PAGE_OPTIONS`, so each default is written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from crawler.core.policy import DEFAULT_POLICY
from crawler.pages.extract import ExtractRule

if TYPE_CHECKING:  # the callback's module loads lexbor, which the command's --help does not need
    from crawler.pages.callback import PageCallback


@dataclass(frozen=True, slots=True)
class PageOptions:
    """How much of a page the analysis takes, and how much CPU it spends on purpose."""

    max_url_length: int = (
        DEFAULT_POLICY.max_url_length
    )  # longer links are skipped, as the core does
    max_outlinks: int = 6000  # Heritrix's default: a page's links past these are not followed
    analysis_cost: int = 0  # rounds of plain-Python SimHash on top of the fingerprint: the CPU dial
    extract: tuple[ExtractRule, ...] = ()  # --extract: fields pulled out of each page
    # --sitemap-since, as POSIX seconds: a sitemap's entries last modified before are skipped.
    sitemap_since: float | None = None
    # The Python API's page callback (crawler.pages.callback): run on every HTML page parsed.
    on_page: PageCallback | None = None


DEFAULT_PAGE_OPTIONS = PageOptions()
