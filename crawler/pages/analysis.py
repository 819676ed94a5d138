"""The one "analyse this outcome" step every strategy takes: which responses are pages to parse,
the parse as a call that can run anywhere, and the outcome that carries its result.

A strategy differs only in *where* the call runs: inline (`sync`, `async`), on a parser thread
(`threads`), or in a worker process (`async-procs`). The call is a `functools.partial` of a
module-level function, so it pickles to a process pool as it is.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

from crawler.core.messages import (
    FetchFailure,
    FetchRequest,
    FetchResponse,
    PageAnalysis,
    RequestKind,
)
from crawler.core.messages import should_analyze as _is_page
from crawler.pages.page_options import PageOptions

PageJob = Callable[[], PageAnalysis]


@functools.cache
def _page_job() -> Callable[..., PageJob]:
    # Imported on first use, not with this module: the page analysis loads numpy and lexbor,
    # which the async strategy imports on a thread while its first requests are out.
    from crawler.pages.parse import page_job

    return page_job


@functools.cache
def _sitemap_job() -> Callable[..., PageJob]:
    from crawler.pages.sitemap import sitemap_job

    return sitemap_job


def page_job_for(
    options: PageOptions, request: FetchRequest, outcome: FetchResponse | FetchFailure
) -> PageJob | None:
    """Return the parse `outcome` needs, as a call to run here or elsewhere, or None (not a
    page: a failure, a redirect, robots.txt, a body too large, something not HTML). A sitemap
    is analysed as a page is, where pages are."""
    if not isinstance(outcome, FetchResponse) or not _is_page(request, outcome):
        return None
    if request.kind is RequestKind.SITEMAP:
        return _sitemap_job()(options, outcome.body, request.url, outcome.content_type)
    return _page_job()(
        options, outcome.body, request.url, outcome.content_type, request.depth, request.parent
    )


def with_page(outcome: FetchResponse, page: PageAnalysis) -> FetchResponse:
    """Return the outcome carrying its page's analysis instead of its body (the body is done
    with, and a process pool need not send it back)."""
    return dataclasses.replace(outcome, body=b"", page=page)


def analysed(
    options: PageOptions,
    request: FetchRequest,
    outcome: FetchResponse | FetchFailure,
    run: Callable[[PageJob], PageAnalysis] = lambda job: job(),
) -> FetchResponse | FetchFailure:
    """Return `outcome`, analysed by `run` (inline by default) if it is a page: the step for
    strategies that block while the parse runs."""
    job = page_job_for(options, request, outcome)
    if job is None:
        return outcome
    assert isinstance(outcome, FetchResponse)
    return with_page(outcome, run(job))
