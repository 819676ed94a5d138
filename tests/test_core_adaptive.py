"""`--adaptive`'s controller on synthetic servers: each signal, and what the limit does with it.

A synthetic server is a function of how many requests are in flight: its latency, and whether it
refuses. `drive` plays a closed loop against it on an explicit clock, `allowed` requests in
flight, one round trip at a time, so no test sleeps or touches a socket.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from crawler.core import peer_limits
from crawler.core.adaptive import PROBE_PAUSE_MAX, REPROBE_LIMIT, OriginLimit, new_limit
from crawler.core.engine import CrawlCore
from crawler.core.messages import FetchFailure, FetchRequest, FetchResponse, RequestKind
from crawler.core.policy import CrawlPolicy
from crawler.core.records import ErrorKind

SERVICE = 0.05  # seconds: the synthetic server's no-load latency


def drive(
    limit: OriginLimit, capacity: int, seconds: float, reject: bool, start: float = 0.0
) -> list[tuple[float, int, int]]:
    """Play rounds against a server of `capacity`: past it, requests queue (latency grows in
    proportion) or are refused with 503 (`reject`). Return (time, allowed, refused) per round."""
    now = start
    rounds: list[tuple[float, int, int]] = []
    while now < start + seconds:
        in_flight = limit.allowed
        refused = max(0, in_flight - capacity) if reject else 0
        latency = SERVICE if reject else SERVICE * max(1.0, in_flight / capacity)
        sent_at = now
        for index in range(in_flight):
            limit.sent(index + 1)
        now += latency
        for index in range(in_flight):
            if index >= in_flight - refused:
                limit.congested(sent_at, index + 1, now)
            else:
                limit.succeeded(latency, sent_at, now)
        if refused:
            now += 1.0  # the Retry-After the core then holds the origin off for
        rounds.append((now, in_flight, refused))
    return rounds


def test_slow_start_doubles_while_latency_stays_at_its_best() -> None:
    limit = OriginLimit(ceiling=100)
    seen = [allowed for _, allowed, _ in drive(limit, capacity=1000, seconds=1.0, reject=True)]
    assert seen[:5] == [1, 1, 1, 1, 1]  # a window is at least five samples
    assert max(seen) == 100  # never above --per-host
    assert seen.index(100) < 40


def test_latency_growing_past_the_knee_stops_growth_near_the_capacity() -> None:
    """A queueing server: the limit settles a little above its capacity, never far."""
    limit = OriginLimit(ceiling=200)
    rounds = drive(limit, capacity=20, seconds=30.0, reject=False)
    late = [allowed for when, allowed, _ in rounds if when > 10.0]
    assert min(late) >= 18 and max(late) <= 20 * 1.4, late
    assert limit.signals == 0


def test_a_refusal_halves_once_per_round_then_the_limit_stays_below_the_knee() -> None:
    limit = OriginLimit(ceiling=200, limit=40.0)
    limit.best = SERVICE
    limit.reprobe_at = 1e9
    limit.slow_start = False
    for index in range(40):
        limit.sent(index + 1)
    for index in range(40):  # capacity 10: thirty refusals of one round
        if index >= 10:
            limit.congested(0.0, index + 1, SERVICE)
    assert limit.allowed == 10  # cut once, not thirty times: halved, and below the knee
    assert limit.knee == 11
    rounds = drive(limit, capacity=10, seconds=60.0, reject=True, start=SERVICE)
    settled = [allowed for when, allowed, _ in rounds if when > 5.0]
    assert settled.count(10) > 0.9 * len(settled), settled
    refusals = sum(refused for _, _, refused in rounds)
    assert refusals <= 60.0 / PROBE_PAUSE_MAX * 2 + 4  # a try at the knee now and then


def test_a_refused_try_at_the_knee_goes_back_just_below_it() -> None:
    """At the knee after its pause, the limit tries one more; refused, it returns to the limit
    that held (not half of it), and waits twice as long before the next try."""
    limit = OriginLimit(ceiling=100)
    rounds = drive(limit, capacity=10, seconds=20.0, reject=True)
    tries = [
        index for index, (_, allowed, refused) in enumerate(rounds) if refused and allowed == 11
    ]
    assert len(tries) >= 2
    assert all(rounds[index + 1][1] >= 9 for index in tries)  # not 5
    gaps = [rounds[b][0] - rounds[a][0] for a, b in itertools.pairwise(tries)]
    assert gaps == sorted(gaps)  # each pause at least as long as the one before


def test_the_limit_follows_a_capacity_halved_and_restored() -> None:
    limit = OriginLimit(ceiling=100)
    drive(limit, capacity=20, seconds=20.0, reject=True)
    assert 18 <= limit.allowed <= 20
    halved = drive(limit, capacity=10, seconds=20.0, reject=True, start=20.0)
    refused_late = sum(refused for when, _, refused in halved if when > 25.0)
    assert refused_late <= 4  # the burst of 503s is over within five seconds
    assert limit.allowed <= 10
    restored = drive(limit, capacity=20, seconds=30.0, reject=True, start=40.0)
    assert max(allowed for _, allowed, _ in restored) >= 18  # found again within 30 s


def test_a_window_with_few_in_flight_grows_nothing() -> None:
    """The crawl held the origin back (fewer than half the limit in flight): no evidence."""
    limit = OriginLimit(ceiling=100, limit=20.0)
    limit.best = SERVICE
    limit.reprobe_at = 1e9
    for round_ in range(10):
        for _ in range(20):
            limit.sent(3)
            limit.succeeded(SERVICE, round_ * SERVICE, (round_ + 1) * SERVICE)
    assert limit.allowed == 20


def test_the_no_load_latency_is_measured_again_with_the_limit_pinned_low() -> None:
    """The server became three times slower for everyone: a re-probe learns the new best, so
    the limit does not shrink to nothing."""
    limit = OriginLimit(ceiling=100)
    drive(limit, capacity=30, seconds=10.0, reject=False)
    assert limit.allowed >= 25
    pinned = []
    now = 10.0
    for _ in range(2000):  # 3x slower from now on, capacity the same
        in_flight = limit.allowed
        pinned.append(in_flight)
        latency = 3 * SERVICE * max(1.0, in_flight / 30)
        for index in range(in_flight):
            limit.sent(index + 1)
        sent_at, now = now, now + latency
        for _ in range(in_flight):
            limit.succeeded(latency, sent_at, now)
        if now > 80.0:
            break
    assert REPROBE_LIMIT in pinned
    assert limit.best == pytest.approx(3 * SERVICE)
    assert limit.allowed >= 25


def one_request_out() -> tuple[CrawlCore, Any, FetchRequest]:
    """A core with --adaptive, its origin's limit at 8, and its one request handed out."""
    core = CrawlCore(
        CrawlPolicy(seeds=("http://a.test/",), per_host=8, adaptive=True, ignore_robots=True)
    )
    state = core._origin("http://a.test")
    assert state.limit is not None
    state.limit.limit = 8.0
    request = core.next_request(0.0)
    assert isinstance(request, FetchRequest) and request.kind is RequestKind.PAGE
    return core, state, request


def test_timeouts_and_resets_cut_like_refusals_through_the_core() -> None:
    core, state, request = one_request_out()
    core.complete(request, FetchFailure(ErrorKind.TIMEOUT, 1.0), 1.0)
    # Lost with only itself in flight: the limit goes to 1 (the least), not merely halved.
    assert state.limit.allowed == 1 and state.limit.signals == 1


def test_a_503_through_the_core_cuts_and_holds_the_origin_off() -> None:
    core, state, request = one_request_out()
    refused = FetchResponse(503, 0.01, "text/plain", retry_after=1.0)
    core.complete(request, refused, 0.01)
    assert state.limit.allowed == 1 and state.limit.signals == 1
    assert state.slot.may_send_at() >= 1.0  # and the Retry-After holds the origin off


@pytest.mark.parametrize("rule", ["aimd", "autoscaled", "autothrottle"])
def test_the_peers_rules_keep_within_per_host(rule: str) -> None:
    limit = new_limit(rule, ceiling=8, start=1, seed=0)
    for step in range(5000):
        limit.sent(limit.allowed)
        limit.succeeded(SERVICE, step * 0.01, step * 0.01 + SERVICE)
    assert 1 <= limit.allowed <= 8
    if rule == "aimd":
        assert limit.allowed == 8  # +1 per 10 successes
        limit.congested(0.0, 8, 60.0)
        assert limit.allowed == 4
    if rule == "autothrottle":
        assert isinstance(limit, peer_limits.AutoThrottle)
        assert limit.delay == pytest.approx(SERVICE, rel=0.01)  # the latency / 1.0


def test_autothrottle_takes_its_target_concurrency() -> None:
    """`autothrottle:4` aims at 4 in flight: a delay of a quarter of the latency, where the
    default target of 1 aims at the whole latency."""
    for rule, target in (("autothrottle", 1.0), ("autothrottle:4", 4.0)):
        limit = new_limit(rule, ceiling=16, start=1, seed=0)
        for step in range(200):
            limit.succeeded(0.2, step * 0.1, step * 0.1 + 0.2)
        assert limit.delay == pytest.approx(0.2 / target, rel=0.01)
    with pytest.raises(ValueError, match="takes no parameter"):
        new_limit("aimd:3", ceiling=16, start=1, seed=0)
