"""``routing.yaml``: what the loader accepts, and every problem as ``file:line: reason``."""

from __future__ import annotations

import shutil
from datetime import time, timedelta
from pathlib import Path

import pytest

from orchestrator.errors import FlowError
from orchestrator.flowfiles import load_flows, load_routing
from orchestrator.routing.loader import parse_routing, unknown_queues
from orchestrator.routing.spec import Routing, days_of

REPO = Path(__file__).resolve().parents[3]
HERE = Path("routing.yaml")


def problems(text: str, flow_ids: list[str] | None = None) -> list[str]:
    with pytest.raises(FlowError) as caught:
        parse_routing(HERE, text, flow_ids)
    return caught.value.problems


def test_an_empty_file_has_no_queues_and_the_defaults() -> None:
    routing = parse_routing(HERE, "")
    assert routing == Routing()
    assert routing.queues == {}
    assert routing.offer_timeout == timedelta(seconds=30)
    assert routing.cost("voice") == 100
    assert routing.cost("webchat") == 25


def test_the_shipped_routing_loads_and_names_every_queue_the_shipped_flows_route_to() -> None:
    catalogue = load_flows(REPO / "flows", allowed_hosts=("127.0.0.1:8090",))
    routing = load_routing(REPO / "flows", [f.id for f in catalogue.flows])
    assert {"order-support", "delivery-care", "retention", "care-followup"} <= set(routing.queues)
    vip = routing.queues["order-support"].rules[0]
    assert [t.name for t in vip.targets] == ["last-agent", "experts", "anyone"]
    assert vip.targets[0].timeout == timedelta(seconds=20)
    hours = routing.schedules["care-hours"]
    assert hours.spans_on(0)[0].start == time(8)
    assert hours.spans_on(6) == ()


def test_time_ranges_in_text_and_day_ranges() -> None:
    routing = parse_routing(
        HERE,
        "schedules:\n  s:\n    hours:\n      fri-mon: ['09:00-12:00', '13:00-24:00']\n",
    )
    spans = routing.schedules["s"].spans_on(6)  # Sunday is inside fri-mon
    assert [(s.start, s.end) for s in spans] == [(time(9), time(12)), (time(13), None)]
    assert routing.schedules["s"].spans_on(2) == ()
    assert days_of("sat-sun") == ("sat", "sun")
    assert days_of("fri-mon") == (
        "fri",
        "sat",
        "sun",
        "mon",
    )
    assert days_of("someday") == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "queues:\n  a:\n    schedule: nine-to-five\n",
            "routing.yaml:3: queues.a.schedule: no schedule is named 'nine-to-five'",
            id="unknown-schedule",
        ),
        pytest.param(
            "queues:\n  a:\n    overflow: b\n",
            "routing.yaml:3: queues.a.overflow: no queue is named 'b'",
            id="unknown-overflow",
        ),
        pytest.param(
            "queues:\n  a: {overflow: a}\n",
            "routing.yaml:2: queues.a.overflow: a queue cannot overflow into itself",
            id="overflow-self",
        ),
        pytest.param(
            "queues:\n  a: {overflow: b}\n  b: {overflow: c}\n  c: {overflow: a}\n",
            "routing.yaml:2: queues.a.overflow: overflow goes round in a circle: a -> b -> c -> a",
            id="overflow-circle",
        ),
        pytest.param(
            "queues:\n  a:\n    rules:\n      - name: r\n        when: 'conversation.tier =='\n",
            "routing.yaml:5: queues.a.rules.0.when: syntax error",
            id="bad-expression",
        ),
        pytest.param(
            "queues:\n  a:\n    rules:\n      - name: r\n        targets:\n"
            "          - {name: first}\n          - {name: second}\n",
            "routing.yaml:6: queues.a.rules.0.targets.0.timeout: every target but the last needs",
            id="ring-without-timeout",
        ),
        pytest.param(
            "queues:\n  a:\n    skills: {billing: 6}\n",
            "routing.yaml:3: queues.a.skills.billing: Input should be less than or equal to 5",
            id="proficiency-over-5",
        ),
        pytest.param(
            "schedules:\n  s:\n    hours: {mon: '17:00-09:00'}\n",
            "routing.yaml:3: schedules.s.hours.mon: Value error, '17:00-09:00' ends before it "
            "starts",
            id="range-backwards",
        ),
        pytest.param(
            "schedules:\n  s:\n    hours: {mon-fri: '09:00-17:00', fri: '10:00-11:00'}\n",
            "routing.yaml:3: schedules.s.hours: Value error, 'fri' names fri a second time",
            id="day-twice",
        ),
        pytest.param(
            "schedules:\n  s:\n    timezone: Mars/Olympus\n",
            "routing.yaml:3: schedules.s.timezone: Value error, unknown time zone 'Mars/Olympus'",
            id="unknown-zone",
        ),
        pytest.param(
            "costs: {fax: 10}\n",
            "routing.yaml:1: costs: Value error, unknown channel(s) fax",
            id="unknown-channel",
        ),
        pytest.param(
            "queues:\n  a:\n    when_closed: {action: flow}\n",
            "routing.yaml:3: queues.a.when_closed: Value error, name a `flow` with action flow",
            id="closed-flow-unnamed",
        ),
        pytest.param(
            "queues:\n  a:\n    rules:\n      - name: r\n        targets:\n"
            "          - {name: t, last_agent: true, agents: [ana]}\n",
            "routing.yaml:6: queues.a.rules.0.targets.0: Value error, a target names one of",
            id="target-two-kinds",
        ),
        pytest.param(
            "queues:\n  a:\n    colour: blue\n",
            "routing.yaml:3: queues.a.colour: Extra inputs are not permitted",
            id="unknown-field",
        ),
        pytest.param("- a\n- b\n", "routing.yaml:1: the routing file holds one mapping", id="list"),
        pytest.param("queues: [\n", "routing.yaml:2: invalid YAML", id="invalid-yaml"),
    ],
)
def test_each_problem_names_its_line(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_a_closed_queue_reply_must_name_a_flow_that_exists() -> None:
    text = "queues:\n  a:\n    when_closed: {action: flow, flow: after-hours}\n"
    assert parse_routing(HERE, text).queues["a"].when_closed.flow == "after-hours"
    assert problems(text, ["help"]) == [
        "routing.yaml:3: queues.a.when_closed.flow: no flow is named 'after-hours'"
    ]
    parse_routing(HERE, text, ["help", "after-hours"])


def test_route_steps_naming_an_unknown_queue_are_reported_at_their_line() -> None:
    flow = Path("flows/talk.yaml")
    text = (
        "id: talk\nsteps:\n  - {id: hi, type: send, template: hi}\n"
        "  - id: person\n    type: route\n    queue: bilin\n"
    )
    routing = parse_routing(HERE, "queues:\n  billing: {}\n")
    assert unknown_queues(routing, [(flow, text)]) == [
        "flows/talk.yaml:6: steps.1.queue: routing.yaml has no queue 'bilin' (its queues: billing)"
    ]
    assert unknown_queues(routing, [(flow, text.replace("bilin", "billing"))]) == []


def test_a_folder_with_a_bad_routing_file_does_not_load(tmp_path: Path) -> None:
    for name in ("help.yaml", "policy.yaml", "vars.yaml", "order_status.yaml"):
        shutil.copy(REPO / "flows" / name, tmp_path / name)
    hosts = ("127.0.0.1:8090",)
    load_flows(tmp_path, allowed_hosts=hosts)  # no routing.yaml: route steps name any queue
    (tmp_path / "routing.yaml").write_text("queues:\n  general: {}\n")
    with pytest.raises(FlowError) as caught:
        load_flows(tmp_path, allowed_hosts=hosts)
    assert [p for p in caught.value.problems if "order-support" in p], caught.value.problems
    (tmp_path / "routing.yaml").write_text("queues:\n  order-support: {schedule: x}\n")
    with pytest.raises(FlowError, match="no schedule is named 'x'"):
        load_flows(tmp_path, allowed_hosts=hosts)
    (tmp_path / "routing.yaml").write_text("queues:\n  order-support: {}\n")
    assert load_flows(tmp_path, allowed_hosts=hosts).get("order-status") is not None
    assert load_routing(tmp_path).queues["order-support"].rules[0].name == "default"
