"""The stop state machine (`crawler.stopping.control`) on explicit clocks: no sleeping, no signals sent."""

from __future__ import annotations

import signal

from crawler.stopping.control import StopControl, StopReason, StopState


def control(grace: float = 2.0, *, signals: bool = True) -> tuple[StopControl, list[str]]:
    """Return a stop control of `grace` seconds and the list its notices go to."""
    notices: list[str] = []
    return StopControl(grace, signals=signals, announce=notices.append), notices


def test_a_crawl_runs_until_a_stop_is_asked() -> None:
    """Nothing asked: running, not stopping, nothing to give up, no deadline, nothing said."""
    stop, notices = control()
    stop.tick(1_000.0, 5)
    assert stop.state is StopState.RUNNING
    assert not stop.stopping and not stop.give_up_now
    assert stop.next_deadline is None and stop.reason is None and stop.signal is None
    assert notices == []


def test_first_ctrl_c_starts_the_grace_period_and_says_what_it_waits_for() -> None:
    """A first Ctrl-C stops scheduling, gives the requests in flight the grace, and says so."""
    stop, notices = control(60.0)
    stop.ask(signal.SIGINT, 10.0, 1)
    assert stop.state is StopState.GRACE and stop.stopping and not stop.give_up_now
    assert stop.next_deadline == 70.0
    assert stop.reason is StopReason.INTERRUPTED and stop.signal == signal.SIGINT
    assert notices == [
        "Ctrl-C: stopping; 1 request in flight gets up to 1m, Ctrl-C again to stop now"
    ]


def test_the_notice_counts_requests_and_names_other_signals() -> None:
    """Several requests are counted in the plural, and SIGTERM is named as itself."""
    stop, notices = control(2.0)
    stop.ask(signal.SIGTERM, 0.0, 12)
    assert notices == [
        "SIGTERM: stopping; 12 requests in flight get up to 2s, Ctrl-C again to stop now"
    ]


def test_nothing_in_flight_means_nothing_to_wait_for_in_the_notice() -> None:
    """With no request in flight the notice is only "stopping" (no grace, no second Ctrl-C)."""
    stop, notices = control()
    stop.ask(signal.SIGHUP, 0.0, 0)
    assert notices == ["SIGHUP: stopping"]


def test_a_crawl_without_signals_offers_no_second_ctrl_c() -> None:
    """When no signal can reach the crawl, the notice does not offer a second Ctrl-C."""
    stop, notices = control(2.0, signals=False)
    stop.limit_time(5.0)
    stop.tick(5.0, 3)
    assert notices == ["time limit reached: stopping; 3 requests in flight get up to 2s"]


def test_second_ctrl_c_gives_up_at_once_and_says_so() -> None:
    """A second Ctrl-C during the grace period gives up the requests in flight now."""
    stop, notices = control(60.0)
    stop.ask(signal.SIGINT, 0.0, 1)
    stop.ask(signal.SIGINT, 1.0, 1)
    assert stop.state is StopState.STOP_NOW and stop.give_up_now
    assert stop.next_deadline is None
    assert notices[-1] == "Ctrl-C again: stopping now"


def test_a_third_signal_says_nothing_more() -> None:
    """ "Stopping now" is said once, however many more signals come."""
    stop, notices = control()
    for now in (0.0, 0.1, 0.2, 0.3):
        stop.ask(signal.SIGINT, now, 1)
    assert len(notices) == 2


def test_the_grace_period_ends_on_time_and_not_before() -> None:
    """The requests in flight are given up when the grace deadline passes, not a moment before."""
    stop, notices = control(2.0)
    stop.ask(signal.SIGINT, 100.0, 4)
    stop.tick(101.999, 4)
    assert stop.state is StopState.GRACE
    stop.tick(102.0, 4)
    assert stop.give_up_now and stop.next_deadline is None
    assert len(notices) == 1  # the end of the grace period is silent


def test_giving_up_completes_the_stop() -> None:
    """Once the strategy gave its requests up the stop is over: nothing to give up, no deadline."""
    stop, _ = control(0.0)
    stop.ask(signal.SIGINT, 0.0, 1)
    stop.tick(0.0, 1)
    stop.gave_up()
    assert stop.state is StopState.STOPPED and stop.stopping and not stop.give_up_now
    assert stop.next_deadline is None and stop.signal == signal.SIGINT


def test_giving_up_during_the_grace_period_changes_nothing() -> None:
    """A strategy saying it gave up while the grace period runs does not end the stop early."""
    stop, _ = control(2.0)
    stop.ask(signal.SIGINT, 0.0, 1)
    stop.gave_up()
    assert stop.state is StopState.GRACE and stop.next_deadline == 2.0


def test_the_time_limit_is_the_next_deadline_and_stops_like_a_ctrl_c() -> None:
    """Until the time limit the crawl may sleep up to it; at it, the stop starts with a grace."""
    stop, notices = control(2.0)
    stop.limit_time(30.0)
    assert stop.next_deadline == 30.0
    stop.tick(29.9, 2)
    assert not stop.stopping
    stop.tick(30.0, 2)
    assert stop.state is StopState.GRACE and stop.next_deadline == 32.0
    assert stop.reason is StopReason.TIME_LIMIT and stop.signal is None
    assert notices == [
        "time limit reached: stopping; 2 requests in flight get up to 2s, Ctrl-C again to stop now"
    ]


def test_the_grace_of_a_time_limit_counts_from_when_the_stop_starts() -> None:
    """A time limit noticed late still gives the requests in flight their whole grace."""
    stop, _ = control(2.0)
    stop.limit_time(10.0)
    stop.tick(13.0, 1)
    assert stop.state is StopState.GRACE and stop.next_deadline == 15.0


def test_a_signal_after_the_time_limit_stops_now_by_that_signal() -> None:
    """A signal during a time limit's grace gives up at once, and the crawl exits by it."""
    stop, notices = control(2.0)
    stop.limit_time(0.0)
    stop.tick(0.0, 1)
    stop.ask(signal.SIGTERM, 0.5, 1)
    assert stop.give_up_now and stop.signal == signal.SIGTERM
    assert stop.reason is StopReason.TIME_LIMIT
    assert notices[-1] == "SIGTERM: stopping now"  # not "again": the first stop was no signal


def test_the_time_limit_while_stopping_changes_nothing() -> None:
    """A time limit reached during a signal's grace period neither restarts nor ends it."""
    stop, notices = control(5.0)
    stop.limit_time(3.0)
    stop.ask(signal.SIGINT, 1.0, 1)
    stop.tick(3.0, 1)
    stop.ask(None, 3.0, 1)
    assert stop.state is StopState.GRACE and stop.next_deadline == 6.0
    assert stop.reason is StopReason.INTERRUPTED and len(notices) == 1


def test_the_first_signal_is_the_one_that_stopped_the_crawl() -> None:
    """A SIGTERM after a first Ctrl-C gives up at once, but the crawl was stopped by Ctrl-C."""
    stop, _ = control()
    stop.ask(signal.SIGINT, 0.0, 1)
    stop.ask(signal.SIGTERM, 0.1, 1)
    assert stop.signal == signal.SIGINT


def test_a_stop_asked_before_the_crawl_is_in_force_when_it_starts() -> None:
    """A signal noted during set-up (nothing in flight yet) leaves the crawl stopping."""
    stop, notices = control()
    stop.ask(signal.SIGINT, 0.0, 0)
    stop.limit_time(100.0)
    stop.tick(1.0, 0)
    assert stop.stopping and stop.reason is StopReason.INTERRUPTED
    assert notices == ["Ctrl-C: stopping"]
