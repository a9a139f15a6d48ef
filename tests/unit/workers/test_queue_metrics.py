"""Per-queue metrics from a routing board and the decisions it made: gauges from the board at
a time, counters and the answer-time histogram from the decisions, stale queues forgotten."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from orchestrator.metrics import Metrics
from orchestrator.routing import decisions as d
from orchestrator.routing.board import Board
from orchestrator.routing.model import Conversation
from orchestrator.routing.spec import Routing
from orchestrator.workers.queue_metrics import observe

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
ROUTING = Routing.model_validate(
    {
        "offer_timeout": "30s",
        "schedules": {"office": {"timezone": "UTC", "hours": {"mon-fri": "09:00-17:00"}}},
        "queues": {
            "billing": {
                "skills": {"billing": 2},
                "service_level": {"percent": 90, "within": "20s"},
            },
            "night": {"schedule": "office", "when_closed": {"action": "queue"}},
        },
    }
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def board_with_agents() -> Board:
    board = Board(ROUTING)
    board.agent_joined("ana", {"billing": 3}, at(0))
    board.agent_joined("bo", {"billing": 2}, at(0))
    board.agent_joined("cy", {"billing": 1}, at(0))  # not enough for billing
    board.agent_joined("di", {}, at(0))
    return board


def test_gauges_from_the_board(metrics: Metrics) -> None:
    board = board_with_agents()
    out = board.presence("ana", "busy", at(0))
    out += board.presence("bo", "available", at(0))
    out += board.presence("cy", "available", at(0))
    out += board.arrive(Conversation("c1", "billing", "sms", at(1)), at(1))  # offered to bo
    out += board.arrive(Conversation("c2", "billing", "sms", at(3)), at(3))
    out += board.arrive(Conversation("c3", "night", "sms", at(4)), at(4))  # to cy (no skills)
    observe(metrics, board, out, at(10))

    assert value(metrics, "continuum_queue_depth", queue="billing") == 2  # offered + waiting
    assert value(metrics, "continuum_queue_oldest_wait_seconds", queue="billing") == 9
    agents = {
        p: value(metrics, "continuum_queue_agents", queue="billing", presence=p)
        for p in ("available", "busy", "away", "offline")
    }
    assert agents == {"available": 1, "busy": 1, "away": 0, "offline": 0}  # bo; ana
    night = {
        p: value(metrics, "continuum_queue_agents", queue="night", presence=p)
        for p in ("available", "busy", "away", "offline")
    }
    assert night == {"available": 2, "busy": 1, "away": 0, "offline": 1}  # no skills needed
    assert value(metrics, "continuum_queue_open", queue="billing") == 1
    assert value(metrics, "continuum_queue_open", queue="night") == 1  # 10:00 on a Monday
    assert value(metrics, "continuum_queue_service_level_target", queue="billing") == 0.9
    assert value(metrics, "continuum_queue_service_level_target", queue="night") == 0.8
    assert value(metrics, "continuum_queue_gauges_timestamp_seconds") == at(10).timestamp()

    out = board.accept("c1", "bo", at(12))
    observe(metrics, board, out, at(12))
    assert value(metrics, "continuum_queue_depth", queue="billing") == 1
    assert value(metrics, "continuum_queue_oldest_wait_seconds", queue="billing") == 9  # c2

    observe(metrics, board, [], at(20 * 3600))  # the timer loop, nothing due: time moves on
    assert value(metrics, "continuum_queue_open", queue="night") == 0
    assert value(metrics, "continuum_queue_oldest_wait_seconds", queue="billing") == 20 * 3600 - 3


def test_an_empty_queue_reads_zero(metrics: Metrics) -> None:
    board = Board(ROUTING)
    observe(metrics, board, [], at(0))
    assert value(metrics, "continuum_queue_depth", queue="billing") == 0
    assert value(metrics, "continuum_queue_oldest_wait_seconds", queue="billing") == 0
    assert value(metrics, "continuum_queue_agents", queue="billing", presence="offline") == 0


def test_no_time_yet_leaves_the_gauges_unset(metrics: Metrics) -> None:
    observe(metrics, Board(ROUTING), [], None)
    assert value(metrics, "continuum_queue_depth", queue="billing") is None
    assert value(metrics, "continuum_queue_gauges_timestamp_seconds") == 0


def test_offers_answers_and_abandons_are_counted(metrics: Metrics) -> None:
    board = board_with_agents()
    out = board.presence("ana", "available", at(0))
    out += board.presence("bo", "available", at(0))
    out += board.arrive(Conversation("c1", "billing", "sms", at(0)), at(0))  # to ana
    out += board.reject("c1", "ana", at(5))  # to bo
    out += board.accept("c1", "bo", at(15))  # 15 s: within 20 s
    out += board.arrive(Conversation("c2", "billing", "sms", at(20)), at(20))  # to ana
    out += board.advance(at(51))  # ana lets it time out: away; bo is full? no: offered to bo
    out += board.accept("c2", "bo", at(60))  # 40 s: not within 20 s
    out += board.presence("bo", "offline", at(61))  # nobody left for the next one
    out += board.arrive(Conversation("c3", "billing", "sms", at(62)), at(62))
    out += board.close("c3", at(70))  # the customer left
    observe(metrics, board, out, at(70))

    offers = {
        r: value(metrics, "continuum_queue_offers_total", queue="billing", result=r)
        for r in ("made", "accepted", "timed_out", "rejected", "withdrawn")
    }
    assert offers == {"made": 4, "accepted": 2, "timed_out": 1, "rejected": 1, "withdrawn": None}
    yes = value(metrics, "continuum_queue_answered_total", queue="billing", within_target="yes")
    no = value(metrics, "continuum_queue_answered_total", queue="billing", within_target="no")
    assert (yes, no) == (1, 1)
    assert value(metrics, "continuum_queue_abandoned_total", queue="billing") == 1
    assert value(metrics, "continuum_queue_answer_seconds_count", queue="billing") == 2
    assert value(metrics, "continuum_queue_answer_seconds_sum", queue="billing") == 55
    assert value(metrics, "continuum_queue_answer_seconds_bucket", queue="billing", le="20.0") == 1
    assert value(metrics, "continuum_queue_depth", queue="billing") == 0


def test_a_withdrawn_offer_and_the_target_boundary(metrics: Metrics) -> None:
    board = board_with_agents()
    out = board.presence("ana", "available", at(0))
    out += board.arrive(Conversation("c1", "billing", "sms", at(0)), at(0))
    out += board.presence("ana", "away", at(1))  # withdrawn
    out += board.presence("ana", "available", at(2))  # offered again
    out += board.accept("c1", "ana", at(20))  # exactly the target: within it
    observe(metrics, board, out, at(20))
    assert value(metrics, "continuum_queue_offers_total", queue="billing", result="withdrawn") == 1
    yes = value(metrics, "continuum_queue_answered_total", queue="billing", within_target="yes")
    assert yes == 1


def test_a_queue_dropped_by_a_reload_loses_its_gauges(metrics: Metrics) -> None:
    board = board_with_agents()
    observe(metrics, board, [], at(0))
    assert value(metrics, "continuum_queue_depth", queue="night") == 0
    board.install(Routing.model_validate({"queues": {"billing": {"skills": {"billing": 2}}}}))
    observe(metrics, board, [], at(1))
    for name in (
        "continuum_queue_depth",
        "continuum_queue_oldest_wait_seconds",
        "continuum_queue_open",
        "continuum_queue_service_level_target",
    ):
        assert value(metrics, name, queue="night") is None, name
        assert value(metrics, name, queue="billing") is not None, name
    assert value(metrics, "continuum_queue_agents", queue="night", presence="offline") is None
    assert value(metrics, "continuum_queue_agents", queue="billing", presence="offline") == 2


def test_a_queue_kept_while_it_drains_keeps_its_gauges(metrics: Metrics) -> None:
    board = board_with_agents()
    out = board.arrive(Conversation("c1", "night", "sms", at(0)), at(0))
    board.install(Routing.model_validate({"queues": {"billing": {}}}))
    observe(metrics, board, out, at(5))
    assert value(metrics, "continuum_queue_depth", queue="night") == 1  # still drains


def test_a_presence_step_has_no_queue(metrics: Metrics) -> None:
    board = Board(ROUTING)
    observe(metrics, board, [d.PresenceChanged("ana", "away", "not responding", at(0))], at(0))
    assert value(metrics, "continuum_queue_offers_total", queue="", result="made") is None
