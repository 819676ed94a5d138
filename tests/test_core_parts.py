"""The core's small machines on their own: politeness slot, robots gate, depth barrier, dispatch,
retry policy, frontier.

No network and no clock: time is passed in, as for the core itself (tests/test_core_engine.py).
"""

from __future__ import annotations

import math

from crawler.core.depth import (
    RANK_BITS,
    DepthBarrier,
    crossings_of,
    depth_of,
    rank_of,
    step_from,
)
from crawler.core.dispatch import ROBOTS_FIRST, ReadyOrigins
from crawler.core.frontier import FrontierEntry, MemoryFrontier
from crawler.core.politeness import Slot
from crawler.core.records import ErrorKind
from crawler.core.retry import RetryPolicy, parse_retry_after
from crawler.core.robots import RobotsGate, RobotsState


def test_a_slot_caps_requests_in_flight_per_origin() -> None:
    """A slot is full at the per-host limit and frees up as requests finish."""
    slot = Slot(delay=0.0)
    assert not slot.send(0.0) and not slot.send(0.0)  # no delay: nothing to report back
    assert slot.is_full(per_host=2) and not slot.is_full(per_host=3)
    slot.finished(never_left=False)
    assert not slot.is_full(per_host=2) and slot.in_flight == 1


def test_a_slot_spaces_requests_from_when_they_left() -> None:
    """With a delay, the next request may go `delay` after the previous one actually left, and
    not before it has left."""
    slot = Slot(delay=1.0)
    assert slot.send(0.0)  # must report when it leaves
    assert slot.is_full(per_host=8)  # not left yet: the gap cannot be counted
    slot.left(0.4)
    assert not slot.is_full(per_host=8) and slot.may_send_at() == 1.4
    slot.finished(never_left=False)
    assert slot.in_flight == 0


def test_a_slot_takes_a_larger_crawl_delay_counting_the_robots_request() -> None:
    """A Crawl-delay set after robots.txt arrives spaces the first page from the robots request."""
    slot = Slot(delay=0.0)
    slot.send(5.0)
    slot.finished(never_left=False)
    slot.set_delay(2.0)
    assert slot.may_send_at() == 7.0 and "delay 2s" in repr(slot)


def test_the_robots_gate_goes_unknown_fetching_ready() -> None:
    """The gate is due at first, fetching once asked, and ready with the rules of a 200."""
    gate = RobotsGate()
    assert gate.due(0.0) and not gate.ready
    assert gate.fetching("http://a.test") == "http://a.test/robots.txt"
    assert gate.state is RobotsState.FETCHING and not gate.due(0.0)
    assert gate.answered(200, b"User-agent: *\nDisallow: /private\n", None, "crawler")
    assert gate.ready and gate.rules is not None
    assert not gate.rules.allows("http://a.test/private/x", "crawler")
    assert gate.rules.allows("http://a.test/public", "crawler")


def test_the_robots_gate_follows_five_redirects_then_allows_all() -> None:
    """A redirect points the next fetch at the target, up to five hops; a sixth means no rules."""
    gate = RobotsGate()
    for hop in range(5):
        gate.fetching("http://a.test")
        target = f"http://b.test/robots-{hop}.txt"
        assert gate.answered(301, b"", target, "crawler") and not gate.ready
        assert gate.url == target
    gate.fetching("http://a.test")
    assert gate.answered(301, b"", "http://b.test/again", "crawler") and gate.ready
    assert gate.rules is not None and gate.rules.allows("http://a.test/x", "crawler")


def test_the_robots_gate_retries_failures_then_denies_naming_the_cause() -> None:
    """A 5xx is not a decision: the gate waits for its retry time, then denies all, naming why."""
    gate = RobotsGate()
    gate.fetching("http://a.test")
    assert not gate.answered(503, b"", None, "crawler")
    retry = RetryPolicy(1, base=2.0)
    assert gate.failed(ErrorKind.HTTP_5XX, 0.0, retry, retry_after=2.0) and gate.attempt == 2
    assert not gate.due(1.9) and gate.due(2.0)
    gate.fetching("http://a.test")
    assert not gate.failed(ErrorKind.CONNECT, 2.0, retry)
    assert gate.ready and gate.rules is not None and gate.rules.cause is ErrorKind.CONNECT
    assert not gate.rules.allows("http://a.test/", "crawler")


def test_a_4xx_robots_txt_allows_everything() -> None:
    """404, 403 and other 4xx but 429 mean no rules."""
    for status in (404, 403, 410):
        gate = RobotsGate()
        gate.fetching("http://a.test")
        assert gate.answered(status, b"", None, "crawler") and gate.ready
        assert gate.rules is not None and gate.rules.allows("http://a.test/x", "crawler")


A, B = "http://a.test", "http://b.test"


def test_the_depth_barrier_lets_through_one_level_below_an_origins_shallowest_unfinished() -> None:
    """While depth 1 of an origin is unfinished, its depth 2 may go but depth 3 waits; while a
    seed is unfinished anywhere, only seeds go (a seed's redirect target is a seed); moving a URL
    to a better rank counts it there."""
    barrier = DepthBarrier()
    assert barrier.floor() == math.inf
    barrier.add(A, 0)
    barrier.add(B, 0)
    assert barrier.may_dispatch(A, 0) and not barrier.may_dispatch(A, 1)
    barrier.add(A, 1, count=2)
    barrier.finish(A, 0)
    assert not barrier.may_dispatch(A, 1)  # B's seed may still redirect to a seed of A
    barrier.finish(B, 0)
    assert barrier.may_dispatch(A, 2) and not barrier.may_dispatch(A, 3)
    barrier.add(A, 3)
    barrier.move(A, 3, 2)
    barrier.finish(A, 1, count=2)
    assert barrier.may_dispatch(A, 3) and "2: 1" in repr(barrier)


def test_one_origin_s_own_pages_do_not_wait_for_another_origin() -> None:
    """A URL reached without crossing origins waits only for its own origin: a slow origin
    stuck at depth 1 does not hold back a fast one at depth 6."""
    barrier = DepthBarrier()
    barrier.add(B, rank_of(0, 1))
    barrier.add(A, rank_of(0, 5))
    assert barrier.may_dispatch(A, rank_of(0, 6)) and not barrier.may_dispatch(A, rank_of(0, 7))
    assert barrier.is_final(A, rank_of(0, 5)) and not barrier.is_final(A, rank_of(0, 6))


def test_a_url_reached_across_origins_waits_for_every_origin_that_could_reach_it() -> None:
    """A URL of one crossing at depth t waits for every origin's URLs of no crossing down to
    depth t-2, and for its own origin's URLs of no crossing at all; its record for those that
    could still lead to it."""
    barrier = DepthBarrier()
    barrier.add(A, rank_of(0, 3))
    barrier.add(B, rank_of(1, 4))
    assert barrier.may_dispatch(B, rank_of(1, 4)) and not barrier.may_dispatch(B, rank_of(1, 5))
    assert barrier.is_final(B, rank_of(1, 3)) and not barrier.is_final(B, rank_of(1, 4))
    barrier.add(B, rank_of(0, 9))
    assert not barrier.may_dispatch(B, rank_of(1, 4))  # B's own pages may reach it first
    assert not barrier.is_final(B, rank_of(1, 3))
    barrier.finish(B, rank_of(0, 9))
    barrier.finish(A, rank_of(0, 3))
    assert barrier.floor() == rank_of(1, 4) and barrier.is_final(B, rank_of(1, 4))


def test_ranks_order_crossings_before_depth() -> None:
    """A rank packs crossings and depth so that fewer crossings always come first."""
    assert rank_of(0, 1000) < rank_of(1, 1) < rank_of(1, 2) < rank_of(2, 2)
    assert depth_of(rank_of(3, 7)) == 7 and crossings_of(rank_of(3, 7)) == 3
    assert step_from(rank_of(0, 4), crossed=False) == rank_of(0, 5)
    assert step_from(rank_of(0, 4), crossed=True) == rank_of(1, 5)
    assert rank_of(1000, 1000) < 1 << RANK_BITS


def test_a_record_is_final_once_every_url_that_could_be_its_parent_has_finished() -> None:
    """A record of depth t waits for its origin's depth t-1 to finish; one of depth 0 for every
    seed."""
    barrier = DepthBarrier()
    barrier.add(A, 0, count=2)
    barrier.finish(A, 0)
    assert not barrier.is_final(A, 0)
    barrier.add(A, 1)
    barrier.finish(A, 0)
    assert barrier.is_final(A, 0) and barrier.is_final(A, 1) and not barrier.is_final(A, 2)
    barrier.add(A, 2)
    barrier.finish(A, 1)
    assert barrier.is_final(A, 2) and not barrier.is_final(A, 3)


def test_ready_origins_pop_shallowest_first_then_first_come() -> None:
    """Origins come out by priority (robots.txt first), then in the order they were offered;
    an origin offered twice is taken once, at its best priority."""
    ready = ReadyOrigins()
    ready.push("http://deep", 3)
    ready.push("http://one", 1)
    ready.push("http://two", 1)
    ready.push("http://deep", 2)
    ready.push("http://robots", ROBOTS_FIRST)
    taken = [ready.pop() for _ in range(5)]
    assert taken == [
        (ROBOTS_FIRST, "http://robots"),
        (1, "http://one"),
        (1, "http://two"),
        (2, "http://deep"),
        None,
    ]


def test_ready_origins_hold_timers_until_their_moment() -> None:
    """A timed origin comes back once its time has passed (the earliest timer of it wins)."""
    ready = ReadyOrigins()
    ready.wake_at("http://a", 5.0)
    ready.wake_at("http://a", 3.0)
    ready.wake_at("http://b", 4.0)
    assert ready.next_timer() == 3.0 and ready.due(2.9) == []
    assert ready.due(3.0) == ["http://a"] and ready.next_timer() == 4.0
    assert ready.due(10.0) == ["http://b"] and ready.next_timer() == math.inf


def test_retry_policy_backs_off_exponentially_with_jitter() -> None:
    """Waits grow by two per attempt within [50%, 100%] of the base, and honour a longer Retry-After."""
    policy = RetryPolicy(retries=5, base=1.0, cap=8.0)
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (5, 8.0), (6, 8.0)):
        wait = policy.backoff(attempt)
        assert ceiling / 2 <= wait <= ceiling
    assert policy.backoff(1, retry_after=30.0) == 30.0
    assert policy.backoff(1, retry_after=3600.0) == 60.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470.0) == 10.0
    assert parse_retry_after("soon", 0.0) is None


def test_frontier_pops_shallowest_first_and_moves_improved_entries() -> None:
    """Within an origin the shallowest URL comes out first; a waiting URL found shallower moves up."""
    frontier = MemoryFrontier()
    assert frontier.add(FrontierEntry("http://o.test/deep", 3, None)).added
    assert frontier.add(FrontierEntry("http://o.test/shallow", 1, None)).added
    assert frontier.add(FrontierEntry("http://o.test/deep", 2, None)).moved_from == 3
    assert not frontier.add(FrontierEntry("http://o.test/deep", 5, None)).added
    assert len(frontier) == 2
    popped = [
        frontier.pop("http://o.test"),
        frontier.pop("http://o.test"),
        frontier.pop("http://o.test"),
    ]
    assert [(entry.url, entry.rank) if entry else None for entry in popped] == [
        ("http://o.test/shallow", 1),
        ("http://o.test/deep", 2),
        None,
    ]
    assert repr(frontier) == "<MemoryFrontier [0 waiting | 2 seen | 0 origins]>"
