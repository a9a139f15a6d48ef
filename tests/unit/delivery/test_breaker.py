"""The circuit breaker's state machine (orchestrator/delivery/breaker.py)."""

from __future__ import annotations

from orchestrator.delivery.breaker import Breaker, record, view
from orchestrator.settings import BreakerSettings

S = BreakerSettings(
    window_s=60, min_calls=4, error_rate=0.5, consecutive_failures=3, cool_down_s=30, probes=2
)
T0 = 1_000_000


def opened() -> Breaker:
    b, moved = record(Breaker(), ["connection"] * 3, T0, S)
    assert moved == ("open",)
    return b


def test_consecutive_connection_failures_open_it() -> None:
    b, moved = record(Breaker(), ["connection", "connection"], T0, S)
    assert (b.state, moved) == ("closed", ())
    b, moved = record(b, ["connection"], T0 + 1, S)
    assert (b.state, b.since_ms, moved) == ("open", T0 + 1, ("open",))


def test_a_success_resets_the_consecutive_count() -> None:
    by_count = S.model_copy(update={"min_calls": 100})  # the error rate out of the way
    b, _ = record(Breaker(), ["connection", "connection", "success", "connection"], T0, by_count)
    assert (b.state, b.consecutive) == ("closed", 1)
    b, _ = record(b, ["failure", "connection"], T0, by_count)  # a 5xx neither counts nor resets
    assert (b.state, b.consecutive) == ("closed", 2)


def test_the_error_rate_opens_it_only_with_the_minimum_volume() -> None:
    b, _ = record(Breaker(), ["failure", "failure", "success"], T0, S)
    assert b.state == "closed"  # 2 of 3 failed, but 3 < min_calls
    b, moved = record(b, ["success"], T0 + 1, S)
    assert (b.state, moved) == ("open", ("open",))  # 2 of 4: the rate reached


def test_a_low_error_rate_keeps_it_closed() -> None:
    b, _ = record(Breaker(), ["failure", "success", "success", "success", "success"], T0, S)
    assert b.state == "closed"


def test_the_window_starts_again_after_window_s() -> None:
    b, _ = record(Breaker(), ["failure", "failure", "success"], T0, S)
    b, _ = record(b, ["success"], T0 + 60_000, S)  # a new window: 0 of 1 failed
    assert (b.state, b.calls, b.failures, b.window_ms) == ("closed", 1, 0, T0 + 60_000)


def test_open_lets_nothing_through_until_the_cool_down() -> None:
    b, slots, moved = view(opened(), T0 + 29_999, 5, S)
    assert (b.state, slots, moved) == ("open", 0, ())
    assert opened().reopens_at(S) == T0 + 30_000


def test_after_the_cool_down_it_half_opens_and_hands_out_the_probes() -> None:
    b, slots, moved = view(opened(), T0 + 30_000, 5, S)
    assert (b.state, slots, moved) == ("half_open", 2, ("half_open",))
    b, slots, moved = view(b, T0 + 30_001, 5, S)  # another dispatcher: none left
    assert (b.state, slots, moved) == ("half_open", 0, ())


def test_closed_lets_every_send_through() -> None:
    assert view(Breaker(), T0, 7, S)[1] == 7


def test_a_probe_success_closes_it_and_a_failure_reopens_it() -> None:
    half, _, _ = view(opened(), T0 + 30_000, 1, S)
    closed, moved = record(half, ["success"], T0 + 30_100, S)
    assert (closed.state, closed.calls, moved) == ("closed", 0, ("closed",))
    reopened, moved = record(half, ["failure"], T0 + 30_100, S)
    assert (reopened.state, reopened.since_ms, moved) == ("open", T0 + 30_100, ("open",))


def test_probe_slots_unanswered_for_a_cool_down_are_handed_out_again() -> None:
    half, _, _ = view(opened(), T0 + 30_000, 2, S)
    assert view(half, T0 + 59_999, 2, S)[1] == 0
    again, slots, _ = view(half, T0 + 60_000, 2, S)
    assert (again.state, slots) == ("half_open", 2)


def test_results_while_open_change_nothing() -> None:
    b = opened()
    assert record(b, ["success", "failure"], T0 + 5, S) == (b, ())
