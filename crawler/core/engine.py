"""`CrawlCore`: the whole crawl policy as a state machine driven by its caller.

A strategy loops: `next_request(now)` returns a `FetchRequest` to perform, `Wait(seconds)` (a
delay or a retry's backoff), `WaitForCompletion` (until some request completes) or `Done`; the
strategy performs each request and reports `complete(request, outcome, now)`; `take_records()`
hands over the finished records. Redirect hops, retries and robots.txt are requests like any
other, so every limit (concurrency, per host, delay) holds for them too.

The core drives four small machines, each in its own module and tested on its own:
- `politeness.Slot`, one per origin: requests in flight and the spacing between them;
- `robots.RobotsGate`, one per origin: robots.txt fetched, retried, followed, then its rules;
- `depth.DepthBarrier`: which URLs may be dispatched, so that each URL's path from a seed (the
  fewest crossings between origins, then the fewest steps) and its parent do not depend on the
  order responses arrive in, and one slow origin does not hold back the others;
- `dispatch.ReadyOrigins`: which origin sends next, without scanning every origin.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from crawler.core.adaptive import LimitRule, OriginLimitView, new_limit
from crawler.core.depth import SEED_RANK, DepthBarrier, depth_of, step_from
from crawler.core.dispatch import ROBOTS_FIRST, ReadyOrigins
from crawler.core.frontier import Frontier, FrontierEntry, MemoryFrontier, comes_first
from crawler.core.jobs import Job, JobState
from crawler.core.messages import (
    DONE,
    REDIRECT_STATUSES,
    WAIT_FOR_COMPLETION,
    FetchFailure,
    FetchRequest,
    FetchResponse,
    PageAnalysis,
    RequestKind,
    Step,
    Wait,
    is_html,
)
from crawler.core.policy import CrawlPolicy
from crawler.core.politeness import Slot
from crawler.core.records import RETRYABLE, ErrorKind, Record
from crawler.core.retry import RetryPolicy
from crawler.core.robots import MAX_ROBOTS_BYTES, RobotsGate
from crawler.core.scope import Scope
from crawler.core.stats import CrawlStats
from crawler.core.urls import origin_of, resolve_link

Outcome = FetchResponse | FetchFailure
# Failures that say the origin is overloaded (or the way to it is): --adaptive cuts on them.
CONGESTION = frozenset({ErrorKind.TIMEOUT, ErrorKind.RESET, ErrorKind.CONNECT})
ROBOTS_JOB = -1
# How deep sitemap indexes may nest: sitemaps.org allows none (an index lists sitemaps), real
# sites nest one or two; past this, an index's sitemaps are not read (loops end sooner, at the
# seen-set).
MAX_SITEMAP_NESTING = 3
# Told of each finished request: the request, what came of it, and its URL's depth (None for
# robots.txt). The strategies' logs use it; the core only calls it.
RequestObserver = Callable[[FetchRequest, FetchResponse | FetchFailure, int | None], None]


@dataclass(slots=True)
class _Origin:
    """One scheme://host:port: its politeness slot, its robots gate, and the started URLs
    (retries whose backoff is over) waiting to be sent to it, which go before new ones."""

    slot: Slot
    robots: RobotsGate = field(default_factory=RobotsGate)
    ready: deque[int] = field(default_factory=deque)
    limit: LimitRule | None = None  # --adaptive: how many may be in flight, found as it goes


class CrawlCore:
    """The crawl policy. Not thread-safe: a threaded strategy holds one lock around every call."""

    def __init__(self, policy: CrawlPolicy, frontier: Frontier | None = None) -> None:
        if not policy.seeds:
            raise ValueError("a crawl needs at least one seed URL")
        self.policy = policy
        self.scope = Scope.build(policy.seeds, policy.allow_domains, policy.include, policy.exclude)
        self.frontier: Frontier = frontier if frontier is not None else MemoryFrontier()
        self.retry = RetryPolicy(policy.retries, base=policy.backoff)
        self.stats = CrawlStats()
        self.depths = DepthBarrier()
        self._ready = ReadyOrigins()
        self._jobs: dict[int, Job] = {}
        self._job_of_url: dict[str, Job] = {}
        self._origins: dict[str, _Origin] = {}
        self._delayed: list[tuple[float, int, int]] = []  # (retry at, job id, job id): backoffs
        self._records: list[Record] = []
        # How many redirects from a seed led to each URL of depth 0 not yet fetched.
        self._seed_hops: dict[str, int] = {}
        # Finished records whose parent may still change (see depth.py), by origin, rank, URL.
        self._held: dict[str, dict[int, dict[str, Record]]] = {}
        # Origins whose next URL waits for the barrier: offered again when it may have moved.
        self._parked: set[str] = set()
        self._unsent: dict[FetchRequest, str] = {}  # handed out, not reported sent -> origin
        # --adaptive: when each request in flight was handed out, and how many of its origin
        # were in flight then (itself included).
        self._sent_at: dict[FetchRequest, tuple[float, int]] = {}
        self._first_sent: float | None = None
        self._robots_of: dict[FetchRequest, str] = {}  # robots.txt requests out -> their origin
        # --sitemaps: the origins whose sitemaps are read (the seeds', and where a seed moved),
        # and those whose sitemaps are queued already.
        self._sitemap_origins: set[str] = set()
        self._sitemaps_queued: set[str] = set()
        self._next_job = 0
        self._in_flight = 0
        self._started_jobs = 0
        self._stopping = False
        # Why scheduling ended early, if it did: set by the core for --max-pages, by stop().
        self.limit_reached = False
        # Told of every finished request (the DEBUG log's line per request); must not call back.
        self.on_request: RequestObserver | None = None
        # A resumed crawl starts with URLs waiting and records written by earlier runs.
        for (origin, rank), count in self.frontier.waiting_by_rank().items():
            self.depths.add(origin, rank, count)
        for origin in self.frontier.origins():
            self._offer(origin)
        self._started_jobs = self.frontier.finished_count()
        for origin in self.frontier.scope_origins():
            self.scope = self.scope.with_origin(origin)
            self.stats.scope_added.append(origin)
        for seed in policy.seeds:
            self._enqueue(FrontierEntry(seed, 0, None))
        for seed in policy.seeds:
            self._want_sitemaps(origin_of(seed))
        if self._pages_left() <= 0:
            self.limit_reached = True
            self._drop_frontier()

    def __repr__(self) -> str:
        return (
            f"<CrawlCore [{self._in_flight} in flight | {self.queued} queued | "
            f"{self.stats.records} done | {sum(self.stats.errors.values())} errors]>"
        )

    # -- What the strategies read ------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Return how many requests are out."""
        return self._in_flight

    @property
    def queued(self) -> int:
        """Return how many URLs wait: new ones, retries and redirect hops."""
        return len(self.frontier) + len(self._jobs) - self._in_flight

    @property
    def finished(self) -> bool:
        """Say whether nothing is left to do or to wait for."""
        return (
            self._in_flight == 0 and not self._jobs and (self._stopping or len(self.frontier) == 0)
        )

    def take_records(self) -> list[Record]:
        """Hand over the records finished since the last call."""
        records, self._records = self._records, []
        return records

    def stop(self) -> None:
        """Stop scheduling: queued URLs are dropped, URLs waiting to retry end as interrupted,
        and every finished record is handed over as it stands."""
        if self._stopping:
            return
        self._stopping = True
        self._drop_frontier()
        for job in list(self._jobs.values()):
            if job.state is not JobState.IN_FLIGHT:
                self.stats.left_retries += 1  # backing off, or its backoff just ended
                self._finish(job, ErrorKind.INTERRUPTED)
        self._delayed.clear()
        for origin in self._origins.values():
            origin.ready.clear()
        self._ready.clear()
        self._parked.clear()
        for held in self._held.values():
            for rank in sorted(held):
                self._emit(held[rank].values())
        self._held.clear()

    # -- Scheduling --------------------------------------------------------------------------

    def next_request(self, now: float) -> Step:
        """Return a request to perform now, or say how long to wait, or that the crawl is done."""
        if self.finished:
            return DONE
        if self._stopping or self._in_flight >= self.policy.concurrency:
            return WAIT_FOR_COMPLETION
        self._release_due(now)
        while (popped := self._ready.pop()) is not None:
            priority, origin = popped
            actual = self._priority(origin)
            if actual is None:
                continue  # nothing left to send: offered again when work arrives
            if actual > priority:
                self._ready.push(origin, actual)  # its work got deeper: back in its place
                continue
            if not self._may_send(origin, actual, now):
                continue
            request = self._dispatch_from(origin, now)
            self._offer(origin)  # it may have more to send: checked on its next turn
            if request is not None:
                return request
            # The URL was excluded by robots.txt and recorded (which may have moved the barrier
            # and offered the origins it let through): look again.
        if self.finished:
            return DONE
        wake_at = self._ready.next_timer()
        if self._delayed:
            wake_at = min(wake_at, self._delayed[0][0])
        if math.isinf(wake_at):
            return WAIT_FOR_COMPLETION
        return Wait(max(0.0, wake_at - now))

    def _priority(self, origin: str) -> int | None:
        """Return what `origin` would send next, as a priority: robots.txt first (if due), then
        the rank of its next URL; None if it has nothing to send."""
        state = self._origin(origin)
        if not self.policy.ignore_robots and not state.robots.ready:
            return ROBOTS_FIRST
        if state.ready:
            return self._jobs[state.ready[0]].rank
        return self.frontier.head_rank(origin)

    def _may_send(self, origin: str, priority: int, now: float) -> bool:
        """Say whether `origin` may send now; if not, put it where it waits: a timer (spacing, a
        robots.txt retry), the barrier (its next URL must wait), or nowhere, to be offered
        again when a request of it completes, leaves, or robots.txt is read."""
        state = self._origin(origin)
        per_host = self.policy.per_host if state.limit is None else state.limit.allowed
        if state.slot.is_full(per_host):
            return False
        if now < state.slot.may_send_at():
            self._ready.wake_at(origin, state.slot.may_send_at())
            return False
        if priority == ROBOTS_FIRST:
            if state.robots.due(now):
                return True
            if not state.robots.ready and state.robots.retry_at > now:
                self._ready.wake_at(origin, state.robots.retry_at)
            return False  # being fetched: offered again when it is read
        if not state.ready and not self.depths.may_dispatch(origin, priority):
            self._parked.add(origin)
            return False
        return True

    def _release_due(self, now: float) -> None:
        """Offer the origins something let through: a retry's backoff or an origin's delay
        ended."""
        while self._delayed and self._delayed[0][0] <= now:
            _, _, job_id = heapq.heappop(self._delayed)
            job = self._jobs.get(job_id)
            if job is not None:
                job.move(JobState.READY)
                origin = origin_of(job.url)
                self._origin(origin).ready.append(job_id)
                self._offer(origin)
        for origin in self._ready.due(now):
            self._offer(origin)

    def _offer(self, origin: str) -> None:
        """Put `origin` in line to send, if it has something to send."""
        if self._stopping:
            return
        priority = self._priority(origin)
        if priority is not None:
            self._ready.push(origin, priority)

    def _dispatch_from(self, origin: str, now: float) -> FetchRequest | None:
        state = self._origin(origin)
        if not self.policy.ignore_robots and not state.robots.ready:
            attempt = state.robots.attempt
            robots = FetchRequest(
                state.robots.fetching(origin),
                RequestKind.ROBOTS,
                ROBOTS_JOB,
                attempt,
                MAX_ROBOTS_BYTES,
            )
            self._robots_of[robots] = origin  # a redirect may take it to another origin
            return self._send(origin, now, robots)
        if state.ready:
            job = self._jobs[state.ready.popleft()]
        else:
            entry = self.frontier.pop(origin)
            assert entry is not None, "an origin without work was chosen"
            job = self._start_job(entry)
        rules = state.robots.rules
        if rules is not None and not rules.allows(job.url, self.policy.robots_agent):
            if not rules.unavailable:
                self._finish(job, ErrorKind.ROBOTS)
                return None
            job.robots_attempts = state.robots.failures
            if job.depth == 0 and rules.cause is not None:
                # A seed is where the user looks first: name what failed, not its consequence.
                self._finish(job, rules.cause)
            else:
                self._finish(job, ErrorKind.ROBOTS_UNAVAILABLE)
            return None
        kind = RequestKind.PAGE if job.sitemap is None else RequestKind.SITEMAP
        request = FetchRequest(
            job.url, kind, job.id, job.attempts + 1, self.policy.max_bytes, job.depth, job.parent
        )
        job.move(JobState.IN_FLIGHT)
        return self._send(origin, now, request)

    def _send(self, origin: str, now: float, request: FetchRequest) -> FetchRequest:
        if self._first_sent is None:
            self._first_sent = now
        self._in_flight += 1
        state = self._origin(origin)
        if state.slot.send(now):
            self._unsent[request] = origin
        if state.limit is not None:
            state.limit.sent(state.slot.in_flight)
            self._sent_at[request] = (now, state.slot.in_flight)
        return request

    def adaptive_limits(self) -> list[OriginLimitView]:
        """Return each origin's `--adaptive` limit (none without it), busiest origin first.

        Safe to call from a display thread: it copies the origin table in one step (atomic in
        CPython for str keys) and only reads numbers from what it copied.
        """
        views = [
            OriginLimitView(origin, state.limit, state.slot.in_flight)
            for origin, state in list(self._origins.items())
            if state.limit is not None
        ]
        views.sort(key=lambda view: (-view.in_flight, -view.limit.allowed, view.origin))
        return views

    @property
    def started_at(self) -> float | None:
        """The time the first request left (the zero of the limits' trajectories)."""
        return self._first_sent

    def awaits_sent(self, request: FetchRequest) -> bool:
        """Say whether `request`'s origin waits for `sent()` before its next request (a delay
        applies), so a strategy that can only report it at some cost knows when to."""
        return request in self._unsent

    def sent(self, request: FetchRequest, now: float) -> None:
        """Note that `request` actually went out at `now`.

        A strategy may start a request a little after the core handed it out (a thread waking,
        a task scheduled). With a delay in force, an origin's next request waits for this call,
        and the delay counts from here, so the server sees the spacing it was promised.
        """
        origin = self._unsent.pop(request, None)
        if origin is not None:
            self._origin(origin).slot.left(now)
            self._offer(origin)

    def _start_job(self, entry: FrontierEntry) -> Job:
        job = Job(self._next_job, entry.url, entry.rank, entry.parent, entry.sitemap, entry.lastmod)
        self._next_job += 1
        self._jobs[job.id] = job
        self._job_of_url[job.url] = job
        self._started_jobs += 1
        if self._pages_left() <= 0:
            self.limit_reached = True
            self._drop_frontier()
        return job

    def _pages_left(self) -> float:
        """Return how many more URLs --max-pages lets the crawl start (infinity: no limit)."""
        if self.policy.max_pages is None:
            return math.inf
        return self.policy.max_pages - self._started_jobs

    def _drop_frontier(self) -> None:
        for (origin, rank), dropped in self.frontier.drain().items():
            self.stats.left_queued += dropped
            self._level_done(origin, rank, dropped)

    def _origin(self, origin: str) -> _Origin:
        state = self._origins.get(origin)
        if state is None:
            slot = Slot(delay=self.policy.delay, floor_delay=self.policy.delay)
            state = self._origins[origin] = _Origin(slot)
            if self.policy.adaptive:
                state.limit = new_limit(
                    self.policy.adaptive_rule,
                    self.policy.per_host,
                    self.policy.adaptive_start,
                    seed=zlib.crc32(origin.encode()),
                )
                slot.delay = max(slot.delay, state.limit.delay or 0.0)
        return state

    # -- Outcomes ----------------------------------------------------------------------------

    def complete(
        self, request: FetchRequest, outcome: FetchResponse | FetchFailure, now: float
    ) -> None:
        """Take in what came of a request."""
        robots_origin = (
            self._robots_of.pop(request, None) if request.kind is RequestKind.ROBOTS else None
        )
        origin = robots_origin or origin_of(request.url)
        state = self._origin(origin)
        # A strategy that never calls sent(): the request counts as sent at dispatch.
        state.slot.finished(never_left=self._unsent.pop(request, None) is not None)
        self._in_flight -= 1
        error = outcome.error.value if isinstance(outcome, FetchFailure) else None
        self.stats.request_done(outcome.elapsed, error)
        if state.limit is not None:
            self._adapt(state, request, outcome, now)
        if self.on_request is not None:
            job_of = self._jobs.get(request.job)
            self.on_request(request, outcome, job_of.depth if job_of is not None else None)
        if (
            isinstance(outcome, FetchResponse)
            and outcome.status in (429, 503)
            and outcome.retry_after is not None
        ):
            # The whole origin waits, not only the refused URL: with one core deciding for
            # every worker, a Retry-After seen by one holds off the whole fleet.
            state.slot.hold_off(now + min(outcome.retry_after, self.retry.max_retry_after))
        if request.kind is RequestKind.ROBOTS:
            self._robots_done(origin, state, request, outcome, now)
        else:
            self._page_done(request, outcome, now)
        self._offer(origin)

    def _adapt(self, state: _Origin, request: FetchRequest, outcome: Outcome, now: float) -> None:
        """Tell the origin's limit what came of a request: a latency sample if it was served, a
        congestion signal if it was refused (503, 429) or lost (timeout, reset, no connection)."""
        assert state.limit is not None
        sent_at, in_flight_then = self._sent_at.pop(request, (now - outcome.elapsed, 1))
        if isinstance(outcome, FetchResponse):
            if outcome.status in (429, 503):
                state.limit.congested(sent_at, in_flight_then, now, outcome.status == 429)
            elif outcome.status < 500:
                state.limit.succeeded(outcome.elapsed, sent_at, now)
        elif outcome.error in CONGESTION:
            state.limit.congested(sent_at, in_flight_then, now)
        if state.limit.delay is not None:  # a rule that moves a delay (AutoThrottle)
            state.slot.set_delay(max(state.slot.floor_delay, state.limit.delay))

    def _page_done(
        self, request: FetchRequest, outcome: FetchResponse | FetchFailure, now: float
    ) -> None:
        job = self._jobs[request.job]
        job.attempts += 1
        job.elapsed += outcome.elapsed
        if isinstance(outcome, FetchFailure):
            if outcome.status is not None:
                job.status = outcome.status
            if outcome.error in RETRYABLE:
                self._retry_or_finish(job, outcome.error, None, now)
            else:
                self._finish(job, outcome.error)
            return
        self._response(job, outcome, now)

    def _response(self, job: Job, response: FetchResponse, now: float) -> None:
        job.status = response.status
        job.content_type = response.content_type
        job.body_bytes = response.body_bytes
        status = response.status
        if status in REDIRECT_STATUSES and response.location:
            self._redirect(job, response.location)
        elif status == 429:
            self._retry_or_finish(job, ErrorKind.HTTP_429, response.retry_after, now)
        elif status >= 500:
            self._retry_or_finish(job, ErrorKind.HTTP_5XX, response.retry_after, now)
        elif status >= 400:
            self._finish(job, ErrorKind.HTTP_4XX)
        elif status >= 300:
            self._finish(job, ErrorKind.BAD_REDIRECT)
        elif response.too_large:
            self._finish(job, ErrorKind.TOO_LARGE)
        elif job.sitemap is not None:
            page = response.page
            self._finish(job, page.error if page is not None else ErrorKind.PARSE, page)
        elif not is_html(response.content_type):
            self._finish(job, ErrorKind.NOT_HTML)
        elif response.page is None:
            self._finish(job, None)
        else:
            self._finish(job, response.page.error, response.page)

    def _redirect(self, job: Job, location: str) -> None:
        """End a URL at its redirect, and take the target as a URL of its own: one step deeper,
        found by this URL as a link would be (a seed's target is a seed: the site moved)."""
        target = resolve_link(location, job.url, self.policy.max_url_length)
        if target is None:
            self._finish(job, ErrorKind.BAD_REDIRECT)
        elif target == job.url:
            self._finish(job, ErrorKind.REDIRECT_LOOP)
        elif not self.scope.allows(target) and not self._seed_moved(job, target):
            self._finish(job, ErrorKind.OUT_OF_SCOPE_REDIRECT)
        elif job.rank == SEED_RANK and not self._count_seed_hop(job.url, target):
            self._finish(job, ErrorKind.TOO_MANY_REDIRECTS)
        else:
            job.redirected_to = target
            if job.rank == SEED_RANK:
                rank = SEED_RANK
            else:
                rank = step_from(job.rank, crossed=origin_of(target) != origin_of(job.url))
            if depth_of(rank) <= self.policy.max_depth and self._may_take_more():
                # A sitemap that moved is a sitemap where it went.
                self._enqueue(FrontierEntry(target, rank, job.url, job.sitemap))
            self._finish(job, None)

    def _count_seed_hop(self, url: str, target: str) -> bool:
        """Count a seed's redirect toward --max-redirects (other redirects are steps of depth,
        which --max-depth bounds); say whether it may be followed."""
        hops = self._seed_hops.pop(url, 0) + 1
        if hops > self.policy.max_redirects:
            return False
        self._seed_hops[target] = min(hops, self._seed_hops.get(target, hops))
        return True

    def _seed_moved(self, job: Job, target: str) -> bool:
        """Take a seed's redirect target's origin into scope (http to https, apex to www): the
        site lives there. Say whether the target is now in scope."""
        if job.depth != 0 or job.sitemap is not None:
            return False  # a sitemap's redirect widens nothing: it is no seed
        origin = origin_of(target)
        self._want_sitemaps(origin)
        if origin not in self.scope.origins:
            self.scope = self.scope.with_origin(origin)
            self.stats.scope_added.append(origin)
            self.frontier.add_scope_origin(origin)
        return self.scope.allows(target)

    def _retry_or_finish(
        self, job: Job, error: ErrorKind, retry_after: float | None, now: float
    ) -> None:
        job.failures += 1
        if self._stopping:
            self._finish(
                job, ErrorKind.INTERRUPTED if self.retry.may_retry(job.failures) else error
            )
            return
        if not self.retry.may_retry(job.failures):
            self._finish(job, error)
            return
        wait = self.retry.backoff(job.failures, retry_after)
        self.stats.retries += 1
        job.move(JobState.BACKING_OFF)
        heapq.heappush(self._delayed, (now + wait, job.id, job.id))

    def _finish(self, job: Job, error: ErrorKind | None, page: PageAnalysis | None = None) -> None:
        job.move(JobState.FINISHED)
        del self._jobs[job.id]
        del self._job_of_url[job.url]
        self._seed_hops.pop(job.url, None)  # a seed's target that did not redirect on
        origin = origin_of(job.url)
        if error is ErrorKind.INTERRUPTED and self.frontier.durable:
            # Not an outcome: the URL stays waiting in the store, and a resumed crawl fetches it.
            self.stats.deferred += 1
        else:
            if page is not None and job.sitemap is not None:
                self._follow_sitemap(job, origin, page)  # what was read before any fault
            elif page is not None and error is None:
                self.stats.near_duplicates.add(job.url, page.simhash, page.words)
                self._follow_links(job, origin, page)
            record = job.record(error, page, keep_links=self.policy.record_links)
            self._held.setdefault(origin, {}).setdefault(job.rank, {})[job.url] = record
        self._level_done(origin, job.rank)

    def _level_done(self, origin: str, rank: int, count: int = 1) -> None:
        """Count URLs of `origin` at `rank` as finished; hand over the records that became
        final, and offer the origins whose next URL the barrier may now let through."""
        if not self.depths.finish(origin, rank, count):
            touched = [origin]  # only this origin's own barrier moved
        else:  # what waits on every origin moved: URLs reached across, records while seeds are out
            touched = list(self._held.keys() | self._parked)
        for each in touched:
            self._release_final(each)
            if each in self._parked:
                self._parked.discard(each)
                self._offer(each)

    def _release_final(self, origin: str) -> None:
        """Hand over `origin`'s held records that are final, best rank first."""
        held = self._held.get(origin)
        while held:
            best = min(held)
            if not self.depths.is_final(origin, best):
                return
            self._emit(held.pop(best).values())
        self._held.pop(origin, None)

    def _emit(self, records: Iterable[Record]) -> None:
        for record in records:
            self._records.append(record)
            self.frontier.finish(record)
            self.stats.record_written(record)

    def _follow_links(self, job: Job, origin: str, page: PageAnalysis) -> None:
        settings = self.policy
        if job.depth >= settings.max_depth:
            return
        if settings.respect_nofollow and page.meta_nofollow:
            return
        if settings.sitemaps_only:
            return  # only the sitemaps' URLs are crawled
        within = step_from(job.rank, crossed=False)
        across = step_from(job.rank, crossed=True)
        for url, nofollow in page.links:
            if nofollow and settings.respect_nofollow:
                continue
            if not self._may_take_more():
                return
            if self.scope.allows(url):
                rank = within if origin_of(url) == origin else across
                self._enqueue(FrontierEntry(url, rank, job.url))

    # -- Sitemaps ----------------------------------------------------------------------------

    def _want_sitemaps(self, origin: str) -> None:
        """Read `origin`'s sitemaps (with --sitemaps; a seed's origin, or one a seed moved to):
        now if its robots.txt is read or ignored, else once it is."""
        wanted = self.policy.sitemaps or self.policy.sitemaps_only
        if not wanted or origin in self._sitemap_origins:
            return
        self._sitemap_origins.add(origin)
        if self.policy.ignore_robots or self._origin(origin).robots.ready:
            self._queue_sitemaps(origin)

    def _queue_sitemaps(self, origin: str) -> None:
        """Queue an origin's sitemaps as seeds are queued (depth 0, before any page of depth 1
        goes out, so every URL they list is known before its depth is settled): those its
        robots.txt names, whose parent is robots.txt, and /sitemap.xml if it names none."""
        if origin in self._sitemaps_queued or self._stopping:
            return
        self._sitemaps_queued.add(origin)
        gate = self._origin(origin).robots
        rules = gate.rules
        if rules is not None and rules.unavailable:
            return  # the origin is refused: its sitemaps would only be refused too
        robots_url = gate.url or f"{origin}/robots.txt"
        named = [
            url
            for line in (rules.sitemaps if rules is not None else ())
            if (url := resolve_link(line, robots_url, self.policy.max_url_length)) is not None
        ]
        guessed = f"{origin}/sitemap.xml"
        entries = [FrontierEntry(url, SEED_RANK, robots_url, 0) for url in named]
        if guessed not in named:
            entries.append(FrontierEntry(guessed, SEED_RANK, None, 0))
        for entry in entries:
            if self.scope.allows(entry.url) and self._may_take_more():
                self._enqueue(entry)

    def _follow_sitemap(self, job: Job, origin: str, page: PageAnalysis) -> None:
        """Queue what a sitemap lists: its pages one step on (as a seed's links are), with their
        <lastmod>, and an index's sitemaps beside it, at depth 0, up to MAX_SITEMAP_NESTING."""
        assert job.sitemap is not None
        if job.depth < self.policy.max_depth:
            within = step_from(job.rank, crossed=False)
            across = step_from(job.rank, crossed=True)
            lastmods = page.lastmods or (None,) * len(page.links)
            for (url, _), lastmod in zip(page.links, lastmods, strict=True):
                if not self._may_take_more():
                    return
                if self.scope.allows(url):
                    rank = within if origin_of(url) == origin else across
                    self._enqueue(FrontierEntry(url, rank, job.url, None, lastmod))
        if job.sitemap >= MAX_SITEMAP_NESTING:
            self.stats.sitemaps_too_deep += len(page.sitemaps)
            return
        for url in page.sitemaps:
            if not self._may_take_more():
                return
            if self.scope.allows(url):
                self._enqueue(FrontierEntry(url, job.rank, job.url, job.sitemap + 1))

    def _may_take_more(self) -> bool:
        """Say whether a URL found now may be queued. A durable frontier takes every one, even
        past --max-pages or during a stop: this run will not fetch them, but a resumed one
        (perhaps with a higher limit) must find them."""
        if self.frontier.durable:
            return True
        return not self._stopping and len(self.frontier) < self._pages_left()

    def _enqueue(self, entry: FrontierEntry) -> None:
        added, moved_from = self.frontier.add(entry)
        origin = origin_of(entry.url)
        if moved_from is not None:
            self.depths.move(origin, moved_from, entry.rank)
        elif added:
            self.depths.add(origin, entry.rank)
        else:
            self._offer_parent(entry)
            return
        self._ready.push(origin, entry.rank)

    def _offer_parent(self, entry: FrontierEntry) -> None:
        """Let a URL already being crawled, or finished and not yet handed over, take the better
        parent (the frontier does it for a URL still waiting)."""
        job = self._job_of_url.get(entry.url)
        if job is not None:
            if job.rank == entry.rank and comes_first(entry.parent, job.parent):
                job.parent, job.lastmod = entry.parent, entry.lastmod
            return
        held = self._held.get(origin_of(entry.url), {}).get(entry.rank)
        record = held.get(entry.url) if held else None
        if held is not None and record is not None and comes_first(entry.parent, record.parent):
            held[entry.url] = dataclasses.replace(
                record, parent=entry.parent, lastmod=entry.lastmod
            )

    def _robots_done(
        self,
        origin: str,
        state: _Origin,
        request: FetchRequest,
        outcome: FetchResponse | FetchFailure,
        now: float,
    ) -> None:
        gate = state.robots
        if isinstance(outcome, FetchFailure):
            self._robots_failed(gate, outcome.error, None, now)
        else:
            location = None
            if outcome.location:
                location = resolve_link(outcome.location, request.url, self.policy.max_url_length)
            if not gate.answered(outcome.status, outcome.body, location, self.policy.robots_agent):
                cause = ErrorKind.HTTP_429 if outcome.status == 429 else ErrorKind.HTTP_5XX
                self._robots_failed(gate, cause, outcome.retry_after, now)
        if gate.ready and origin in self._sitemap_origins:
            self._queue_sitemaps(origin)
        if gate.ready and gate.rules is not None:
            # The robots.txt request itself counts: the first page waits the Crawl-delay after it.
            state.slot.floor_delay = max(self.policy.delay, gate.rules.crawl_delay)
            rule_delay = state.limit.delay if state.limit is not None else None
            state.slot.set_delay(max(state.slot.floor_delay, rule_delay or 0.0))

    def _robots_failed(
        self, gate: RobotsGate, cause: ErrorKind, retry_after: float | None, now: float
    ) -> None:
        """Retry a robots.txt that failed (5xx, 429, network) with backoff, or give up on it."""
        if gate.failed(cause, now, self.retry, retry_after, stopping=self._stopping):
            self.stats.retries += 1
