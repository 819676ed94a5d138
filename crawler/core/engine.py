"""`CrawlCore`: the whole crawl policy as a state machine driven by its caller.

A strategy loops: `next_request(now)` returns a `FetchRequest` to perform, a number of seconds to
wait (`math.inf`: until some request completes), or None when the crawl is over; the strategy
performs each request and reports `complete(request, outcome, now)`; `take_records()` hands over
the finished records. Redirect hops, retries and robots.txt are requests like any other, so every
limit (concurrency, per host, delay) holds for them too.

Depth is the shortest link distance from a seed, whatever order responses arrive in: a URL found
at depth t is only dispatched once every URL of depth t-2 or less has finished, for by then any
shorter path to it would have been found. This lag of one level costs little concurrency, and makes
every strategy write the same records.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from crawler.core.frontier import Frontier, FrontierEntry, MemoryFrontier
from crawler.core.messages import (
    FetchFailure,
    FetchRequest,
    FetchResponse,
    PageAnalysis,
    RequestKind,
    is_html,
)
from crawler.core.policy import CrawlPolicy
from crawler.core.records import RETRYABLE, ErrorKind, Record
from crawler.core.retry import RetryPolicy
from crawler.core.robots import MAX_ROBOTS_BYTES, RobotsRules, RobotsState
from crawler.core.scope import Scope
from crawler.core.stats import CrawlStats
from crawler.core.urls import origin_of, resolve_link

REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Told of each finished request: the request, what came of it, and its URL's depth (None for
# robots.txt). The strategies' logs use it; the core only calls it.
RequestObserver = Callable[[FetchRequest, FetchResponse | FetchFailure, int | None], None]
ROBOTS_JOB = -1
MAX_ROBOTS_REDIRECTS = 5  # RFC 9309 §2.3.1.2: at least five


@dataclass(slots=True)
class _Job:
    """One URL being crawled: all the requests (attempts, redirect hops) that make its record."""

    id: int
    url: str
    depth: int
    parent: str | None
    current: str
    chain: list[str]
    attempts: int = 0
    hop_failures: int = 0
    elapsed: float = 0.0
    status: int | None = None
    content_type: str | None = None
    body_bytes: int = 0


@dataclass(slots=True)
class _Origin:
    """Politeness and robots bookkeeping for one scheme://host:port."""

    delay: float
    in_flight: int = 0
    unsent: int = 0  # handed out, not yet reported sent (counted only while a delay applies)
    last_sent: float = -math.inf
    next_allowed: float = 0.0
    robots: RobotsState = RobotsState.UNKNOWN
    rules: RobotsRules | None = None
    robots_failures: int = 0
    robots_retry_at: float = 0.0
    robots_url: str | None = None  # where robots.txt redirected to, if it did
    robots_hops: int = 0
    ready: deque[int] = field(default_factory=deque)


class CrawlCore:
    """The crawl policy. Not thread-safe: a threaded strategy holds one lock around every call."""

    def __init__(self, policy: CrawlPolicy, frontier: Frontier | None = None) -> None:
        if not policy.seeds:
            raise ValueError("a crawl needs at least one seed URL")
        self.policy = policy
        settings = policy
        self.scope = Scope.build(
            settings.seeds, settings.allow_domains, settings.include, settings.exclude
        )
        self.frontier: Frontier = frontier if frontier is not None else MemoryFrontier()
        self.retry = RetryPolicy(settings.retries, base=settings.backoff)
        self.stats = CrawlStats()
        self._jobs: dict[int, _Job] = {}
        self._origins: dict[str, _Origin] = {}
        self._delayed: list[tuple[float, int, int]] = []
        self._unfinished: Counter[int] = Counter()
        self._records: list[Record] = []
        self._out: set[int] = set()
        self._unsent: dict[FetchRequest, _Origin] = {}
        self._robots_of: dict[FetchRequest, str] = {}  # robots.txt requests out -> their origin
        self._next_job = 0
        self._in_flight = 0
        self._started_jobs = 0
        self._stopping = False
        # Why scheduling ended early, if it did: set by the core for --max-pages, by stop().
        self.limit_reached = False
        # Told of every finished request (the DEBUG log's line per request); must not call back.
        self.on_request: RequestObserver | None = None
        # A resumed crawl starts with URLs waiting and records written by earlier runs.
        self._unfinished.update(self.frontier.waiting_by_depth())
        self._started_jobs = self.frontier.finished_count()
        for seed in settings.seeds:
            self._enqueue(FrontierEntry(seed, 0, None))
        if settings.max_pages is not None and self._started_jobs >= settings.max_pages:
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
        """Stop scheduling: queued URLs are dropped, waiting retries and hops end as interrupted."""
        if self._stopping:
            return
        self._stopping = True
        self._drop_frontier()
        waiting_retry = {job_id for _, _, job_id in self._delayed}
        for job in list(self._jobs.values()):
            if not self._is_in_flight(job):
                if job.id in waiting_retry:
                    self.stats.left_retries += 1
                else:
                    self.stats.left_queued += 1  # a redirect hop not yet sent
                self._finish(job, ErrorKind.INTERRUPTED)
        self._delayed.clear()
        for origin in self._origins.values():
            origin.ready.clear()

    # -- Scheduling --------------------------------------------------------------------------

    def next_request(self, now: float) -> FetchRequest | float | None:
        """Return a request to perform now, seconds to wait before asking again, or None: done."""
        if self.finished:
            return None
        if self._stopping or self._in_flight >= self.policy.concurrency:
            return math.inf
        self._release_due_retries(now)
        while True:
            chosen, wake_at = self._choose_origin(now)
            if chosen is None:
                if self.finished:
                    return None
                if self._delayed:
                    wake_at = min(wake_at, self._delayed[0][0])
                return max(0.0, wake_at - now)
            request = self._dispatch_from(chosen, now)
            if request is not None:
                return request
            # The candidate was excluded by robots.txt and recorded; look again.

    def _choose_origin(self, now: float) -> tuple[str | None, float]:
        """Pick the ready origin with the shallowest work, or say when one may become ready."""
        allowed_depth = self._dispatchable_depth()
        best: str | None = None
        best_depth = math.inf
        wake_at = math.inf
        candidates = dict.fromkeys(self.frontier.origins())
        candidates.update((origin, None) for origin, state in self._origins.items() if state.ready)
        for origin in candidates:
            state = self._origin(origin)
            if state.in_flight >= self.policy.per_host:
                continue
            if state.unsent:
                continue  # the previous request has not left yet: the delay counts from then
            if now < state.next_allowed:
                wake_at = min(wake_at, state.next_allowed)
                continue
            if not self.policy.ignore_robots and state.robots is not RobotsState.READY:
                if state.robots is RobotsState.UNKNOWN:
                    if now >= state.robots_retry_at:
                        return origin, wake_at
                    wake_at = min(wake_at, state.robots_retry_at)
                continue
            if state.ready:
                depth = self._jobs[state.ready[0]].depth
            else:
                head = self.frontier.head_depth(origin)
                if head is None or head > allowed_depth:
                    continue
                depth = head
            if depth < best_depth:
                best, best_depth = origin, depth
        return best, wake_at

    def _dispatchable_depth(self) -> float:
        live = [depth for depth, count in self._unfinished.items() if count > 0]
        return min(live) + 1 if live else math.inf

    def _dispatch_from(self, origin: str, now: float) -> FetchRequest | None:
        state = self._origin(origin)
        if not self.policy.ignore_robots and state.robots is RobotsState.UNKNOWN:
            state.robots = RobotsState.FETCHING
            robots = FetchRequest(
                state.robots_url or f"{origin}/robots.txt",
                RequestKind.ROBOTS,
                ROBOTS_JOB,
                state.robots_failures + 1,
                MAX_ROBOTS_BYTES,
            )
            self._robots_of[robots] = origin  # a redirect may take it to another origin
            return self._send(state, now, robots)
        if state.ready:
            job = self._jobs[state.ready.popleft()]
        else:
            entry = self.frontier.pop(origin)
            assert entry is not None, "an origin without work was chosen"
            job = self._start_job(entry)
        rules = state.rules
        if rules is not None and not rules.allows(job.current, self.policy.robots_agent):
            if not rules.unavailable:
                self._finish(job, ErrorKind.ROBOTS)
            elif job.depth == 0 and rules.cause is not None:
                # A seed is where the user looks first: name what failed, not its consequence.
                self._finish(job, rules.cause)
            else:
                self._finish(job, ErrorKind.ROBOTS_UNAVAILABLE)
            return None
        request = FetchRequest(
            job.current, RequestKind.PAGE, job.id, job.attempts + 1, self.policy.max_bytes
        )
        self._out.add(job.id)
        return self._send(state, now, request)

    def _send(self, state: _Origin, now: float, request: FetchRequest) -> FetchRequest:
        state.in_flight += 1
        state.last_sent = now
        state.next_allowed = now + state.delay
        self._in_flight += 1
        if state.delay > 0:
            self._unsent[request] = state
            state.unsent += 1
        return request

    def sent(self, request: FetchRequest, now: float) -> None:
        """Note that `request` actually went out at `now`.

        A strategy may start a request a little after the core handed it out (a thread waking,
        a task scheduled). With a delay in force, an origin's next request waits for this call,
        and the delay counts from here, so the server sees the spacing it was promised.
        """
        state = self._unsent.pop(request, None)
        if state is not None:
            state.unsent -= 1
            state.last_sent = now
            state.next_allowed = now + state.delay

    def _start_job(self, entry: FrontierEntry) -> _Job:
        job = _Job(self._next_job, entry.url, entry.depth, entry.parent, entry.url, [entry.url])
        self._next_job += 1
        self._jobs[job.id] = job
        self._started_jobs += 1
        if self.policy.max_pages is not None and self._started_jobs >= self.policy.max_pages:
            self.limit_reached = True
            self._drop_frontier()
        return job

    def _drop_frontier(self) -> None:
        for depth, dropped in self.frontier.drain().items():
            self._unfinished[depth] -= dropped
            self.stats.left_queued += dropped

    def _release_due_retries(self, now: float) -> None:
        while self._delayed and self._delayed[0][0] <= now:
            _, _, job_id = heapq.heappop(self._delayed)
            job = self._jobs.get(job_id)
            if job is not None:
                self._origin(origin_of(job.current)).ready.append(job_id)

    def _origin(self, origin: str) -> _Origin:
        state = self._origins.get(origin)
        if state is None:
            state = self._origins[origin] = _Origin(delay=self.policy.delay)
        return state

    def _is_in_flight(self, job: _Job) -> bool:
        return job.id in self._out

    # -- Outcomes ----------------------------------------------------------------------------

    def complete(
        self, request: FetchRequest, outcome: FetchResponse | FetchFailure, now: float
    ) -> None:
        """Take in what came of a request."""
        origin = self._robots_of.pop(request, None) if request.kind is RequestKind.ROBOTS else None
        state = self._origin(origin or origin_of(request.url))
        if self._unsent.pop(request, None) is not None:
            state.unsent -= 1  # a strategy that never calls sent(): counted as sent at dispatch
        state.in_flight -= 1
        self._in_flight -= 1
        error = outcome.error.value if isinstance(outcome, FetchFailure) else None
        self.stats.request_done(outcome.elapsed, error)
        if self.on_request is not None:
            job_of = self._jobs.get(request.job)
            self.on_request(request, outcome, job_of.depth if job_of is not None else None)
        if request.kind is RequestKind.ROBOTS:
            self._robots_done(state, request, outcome, now)
            return
        self._out.discard(request.job)
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

    def _response(self, job: _Job, response: FetchResponse, now: float) -> None:
        job.status = response.status
        job.content_type = response.content_type
        job.body_bytes = response.body_bytes
        status = response.status
        if status in REDIRECTS and response.location:
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
        elif not is_html(response.content_type):
            self._finish(job, ErrorKind.NOT_HTML)
        elif response.page is None:
            self._finish(job, None)
        else:
            self._finish(job, response.page.error, response.page)

    def _redirect(self, job: _Job, location: str) -> None:
        target = resolve_link(location, job.current, self.policy.max_url_length)
        if target is None:
            self._finish(job, ErrorKind.BAD_REDIRECT)
        elif target in job.chain:
            self._finish(job, ErrorKind.REDIRECT_LOOP)
        elif len(job.chain) > self.policy.max_redirects:
            self._finish(job, ErrorKind.TOO_MANY_REDIRECTS)
        elif not self.scope.allows(target) and not self._seed_moved(job, target):
            self._finish(job, ErrorKind.OUT_OF_SCOPE_REDIRECT)
        elif not self.frontier.mark_seen(target):
            # Another link already led there: this URL's part is done.
            job.current = target
            self._finish(job, None)
        elif self._stopping:
            self._finish(job, ErrorKind.INTERRUPTED)
        else:
            job.chain.append(target)
            job.current = target
            job.hop_failures = 0
            self._origin(origin_of(target)).ready.append(job.id)

    def _seed_moved(self, job: _Job, target: str) -> bool:
        """Take a seed's redirect target's origin into scope (http to https, apex to www): the
        site lives there. Say whether the target is now in scope."""
        if job.depth != 0:
            return False
        origin = origin_of(target)
        if origin not in self.scope.origins:
            self.scope = self.scope.with_origin(origin)
            self.stats.scope_added.append(origin)
        return self.scope.allows(target)

    def _retry_or_finish(
        self, job: _Job, error: ErrorKind, retry_after: float | None, now: float
    ) -> None:
        job.hop_failures += 1
        if self._stopping:
            self._finish(
                job, ErrorKind.INTERRUPTED if self.retry.may_retry(job.hop_failures) else error
            )
            return
        if not self.retry.may_retry(job.hop_failures):
            self._finish(job, error)
            return
        wait = self.retry.backoff(job.hop_failures, retry_after)
        self.stats.retries += 1
        heapq.heappush(self._delayed, (now + wait, job.id, job.id))

    def _finish(self, job: _Job, error: ErrorKind | None, page: PageAnalysis | None = None) -> None:
        if error is ErrorKind.INTERRUPTED and self.frontier.durable:
            # Not an outcome: the URL stays waiting in the store, and a resumed crawl fetches it.
            self.stats.deferred += 1
            del self._jobs[job.id]
            self._unfinished[job.depth] -= 1
            return
        record = Record(
            url=job.url,
            final_url=job.current if job.attempts else None,
            status=job.status,
            depth=job.depth,
            parent=job.parent,
            title=page.title if page is not None else None,
            links=page.link_count if page is not None else 0,
            bytes=job.body_bytes,
            elapsed_ms=round(job.elapsed * 1000, 3),
            attempts=job.attempts,
            error=error,
            content_type=job.content_type,
            simhash=f"{page.simhash:016x}"
            if page is not None and page.simhash is not None
            else None,
            words=page.words if page is not None else None,
            outlinks=tuple(url for url, _ in page.links)
            if page is not None and self.policy.record_links
            else None,
        )
        self._records.append(record)
        self.frontier.finish(record, job.chain[1:])
        self.stats.record_written(record)
        if page is not None and error is None:
            self.stats.near_duplicates.add(record.url, page.simhash, page.words)
        del self._jobs[job.id]
        if page is not None and error is None:
            self._follow_links(job, page)
        self._unfinished[job.depth] -= 1

    def _follow_links(self, job: _Job, page: PageAnalysis) -> None:
        settings = self.policy
        if job.depth >= settings.max_depth:
            return
        if settings.respect_nofollow and page.meta_nofollow:
            return
        # A durable frontier takes every link, even past --max-pages or during a stop: this run
        # will not fetch them, but a resumed one (perhaps with a higher limit) must find them.
        durable = self.frontier.durable
        if self._stopping and not durable:
            return
        depth = job.depth + 1
        for url, nofollow in page.links:
            if nofollow and settings.respect_nofollow:
                continue
            if (
                settings.max_pages is not None
                and not durable
                and self._started_jobs + len(self.frontier) >= settings.max_pages
            ):
                return
            if self.scope.allows(url):
                self._enqueue(FrontierEntry(url, depth, job.current))

    def _enqueue(self, entry: FrontierEntry) -> None:
        added, moved_from = self.frontier.add(entry)
        if added or moved_from is not None:
            self._unfinished[entry.depth] += 1
        if moved_from is not None:
            self._unfinished[moved_from] -= 1

    def _robots_done(
        self,
        state: _Origin,
        request: FetchRequest,
        outcome: FetchResponse | FetchFailure,
        now: float,
    ) -> None:
        status = outcome.status
        if isinstance(outcome, FetchResponse) and status == 200:
            state.rules = RobotsRules.parse(outcome.body, self.policy.robots_agent)
        elif isinstance(outcome, FetchResponse) and status in REDIRECTS and outcome.location:
            # RFC 9309 §2.3.1.2: follow at least five redirects, to any host; the rules found
            # apply to the origin that was asked. Past five, robots.txt is "unavailable".
            target = resolve_link(outcome.location, request.url, self.policy.max_url_length)
            if target is not None and state.robots_hops < MAX_ROBOTS_REDIRECTS:
                state.robots_hops += 1
                state.robots_url = target
                state.robots = RobotsState.UNKNOWN
                return
            state.rules = RobotsRules()
        elif (
            isinstance(outcome, FetchResponse)
            and status is not None
            and (300 <= status < 500)
            and status != 429
        ):
            state.rules = RobotsRules()  # no robots.txt: everything is allowed
        else:
            state.robots_failures += 1
            if self.retry.may_retry(state.robots_failures) and not self._stopping:
                state.robots = RobotsState.UNKNOWN
                retry_after = outcome.retry_after if isinstance(outcome, FetchResponse) else None
                state.robots_retry_at = now + self.retry.backoff(state.robots_failures, retry_after)
                self.stats.retries += 1
                return
            if isinstance(outcome, FetchFailure):
                cause = outcome.error
            else:
                cause = ErrorKind.HTTP_429 if status == 429 else ErrorKind.HTTP_5XX
            state.rules = RobotsRules.deny_all(cause)
        state.robots = RobotsState.READY
        state.delay = max(self.policy.delay, state.rules.crawl_delay)
        # The robots.txt request itself counts: the first page waits the Crawl-delay after it.
        # (Spacing starts only now, so the robots request counts as sent before the new delay.)
        state.next_allowed = max(state.next_allowed, state.last_sent + state.delay)
