"""Golden routing cases: ``tests/routing_cases/*.yaml`` played against a :class:`Board`.

A case file::

    routing: {queues: {billing: {skills: {billing: 1}}}}   # the model; a case may merge onto it
    start: "2026-12-07T10:00:00Z"                          # a Monday; a case may set its own
    agents:                                                 # on the board before the steps
      ana: {skills: {billing: 3}, presence: available}      # capacity: the default; idle: 10s
    cases:
      - name: a conversation goes to the only agent at once
        agents: {bo: {skills: {billing: 5}}}                # merged onto the file's agents
        steps:
          - at: 0s                                          # seconds or a duration after start
            arrive: {id: c1, queue: billing, channel: sms, priority: 5,
                     tier: gold, last_agent: bo, last_agent_ago: 1h}
            expect:                                          # every decision, in order
              - queued: {conversation: c1, rule: default}    # each names a subset of fields
              - offered: {agent: ana, expires_at: 30s}       # times as offsets from start
          - {at: 5s, accept: {conversation: c1, agent: ana}, expect: [assigned: {waited: 5s}]}
          - at: 40s
            tick: true                                       # board.advance(at)
            expect: []
            state: {agents: {ana: {load: 25, presence: available}}}

Events: ``arrive``, ``presence: {agent, presence}``, ``accept``/``reject: {conversation,
agent}``, ``transfer: {conversation, queue, agent}``, ``close: {conversation, disposition}``,
``override: {queue, value}`` (open, closed or null), ``join: {agent, skills, capacity}`` and
``tick``. An event the board refuses is expected as ``refused: <part of the reason>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrator.durations import parse_duration
from orchestrator.engine.flowfile import parse_yaml
from orchestrator.routing import decisions as d
from orchestrator.routing.board import Board, Refused
from orchestrator.routing.model import Conversation
from orchestrator.routing.spec import Routing
from tests.unit.policy.cases import merged, when

ROOT = Path(__file__).resolve().parents[3]
CASES = ROOT / "tests" / "routing_cases"
EVENTS = ("arrive", "presence", "accept", "reject", "transfer", "close", "override", "join", "tick")
CONVERSATION_KEYS = {"id", "queue", "channel", "priority", "skills", "customer_id"}


def offset(value: Any) -> timedelta:
    """Seconds, or a duration (``30s``, ``2m``, ``PT1M30S``)."""
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    return parse_duration(str(value))


def case_params() -> list[Any]:
    """One param per case, with the id ``file:case name``; the file's defaults merged in."""
    params = []
    for path in sorted(CASES.glob("*.yaml")):
        doc = parse_yaml(path.read_text(encoding="utf-8"))
        for case in doc["cases"]:
            full = {
                "name": case["name"],
                "routing": merged(doc.get("routing") or {}, case.get("routing") or {}),
                "start": case.get("start", doc.get("start", "2026-12-07T10:00:00Z")),
                "agents": merged(doc.get("agents") or {}, case.get("agents") or {}),
                "steps": case["steps"],
            }
            params.append(pytest.param(full, id=f"{path.stem}:{case['name']}"))
    return params


def board_of(case: Mapping[str, Any]) -> tuple[Board, datetime]:
    """The board with the case's agents on it (available ones idle since ``idle`` ago)."""
    start = when(case["start"])
    board = Board(Routing.model_validate(case["routing"]))
    for agent_id, spec in case["agents"].items():
        board.agent_joined(agent_id, spec.get("skills") or {}, start, spec.get("capacity"))
        presence = spec.get("presence", "offline")
        if presence != "offline":
            idle = offset(spec.get("idle", 0))
            board.presence(agent_id, presence, start - idle if presence == "available" else start)
    return board, start


def play(board: Board, start: datetime, step: Mapping[str, Any]) -> list[d.Step] | str:
    """One step's event; the decisions, or ``refused: ...`` with the board's reason."""
    at = start + offset(step.get("at", 0))
    kinds = [k for k in EVENTS if k in step]
    assert len(kinds) == 1, f"a step has one event of {EVENTS}: {step}"
    kind, body = kinds[0], step[kinds[0]]
    try:
        return _event(board, start, at, kind, body)
    except Refused as exc:
        return f"refused: {exc}"


def _event(board: Board, start: datetime, at: datetime, kind: str, body: Any) -> list[d.Step]:
    if kind == "tick":
        return board.advance(at)
    if kind == "arrive":
        return board.arrive(conversation_of(body, start, at), at)
    if kind == "presence":
        return board.presence(body["agent"], body["presence"], at)
    if kind == "accept":
        return board.accept(body["conversation"], body["agent"], at)
    if kind == "reject":
        return board.reject(body["conversation"], body["agent"], at)
    if kind == "transfer":
        return board.transfer(body["conversation"], at, body.get("queue"), body.get("agent"))
    if kind == "close":
        return board.close(body["conversation"], at, body.get("disposition"))
    if kind == "override":
        return board.override(body["queue"], body.get("value"), at)
    return board.agent_joined(body["agent"], body.get("skills") or {}, at, body.get("capacity"))


def conversation_of(body: Mapping[str, Any], start: datetime, at: datetime) -> Conversation:
    """An arriving conversation; keys other than its own are its attributes (tier, language)."""
    last_at = None
    if "last_agent_ago" in body:
        last_at = at - offset(body["last_agent_ago"])
    attributes = {
        k: v
        for k, v in body.items()
        if k not in CONVERSATION_KEYS and k not in ("last_agent", "last_agent_ago")
    }
    return Conversation(
        str(body["id"]),
        str(body["queue"]),
        str(body.get("channel", "webchat")),
        at,
        customer_id=str(body.get("customer_id", f"cust-{body['id']}")),
        priority=int(body.get("priority", 0)),
        skills=tuple(body.get("skills") or ()),
        attributes=attributes,
        last_agent=body.get("last_agent"),
        last_agent_at=last_at,
    )


def mismatches(got: list[d.Step], expected: list[Any], start: datetime) -> list[str]:
    """How ``got`` differs from ``expected`` (each ``{step: {field: value}}``), in order."""
    names = [g.step for g in got]
    wanted = [next(iter(e)) for e in expected]
    if names != wanted:
        return [f"steps {names} != expected {wanted}: {[g.fields() for g in got]}"]
    out = []
    for decision, entry in zip(got, expected, strict=True):
        fields = {k: getattr(decision, k) for k in decision.fields() if k != "step"}
        for key, value in (next(iter(entry.values())) or {}).items():
            if key not in fields:
                out.append(f"{decision.step} has no field {key!r}")
                continue
            actual, want = fields[key], value
            if isinstance(actual, datetime):
                want = start + offset(value)
            elif isinstance(actual, timedelta):
                want = offset(value)
            if actual != want:
                out.append(f"{decision.step}.{key}: {actual!r} != {want!r}")
    return out


def state_mismatches(board: Board, state: Mapping[str, Any]) -> list[str]:
    """How the board differs from ``state``: agents' and conversations' fields."""
    out = []
    for agent_id, fields in (state.get("agents") or {}).items():
        agent = board.agents[agent_id]
        for key, value in fields.items():
            actual = getattr(agent, key)
            actual = sorted(actual) if isinstance(actual, set) else actual
            if actual != value:
                out.append(f"agent {agent_id}.{key}: {actual!r} != {value!r}")
    for conversation_id, fields in (state.get("conversations") or {}).items():
        conversation = board.conversations.get(conversation_id)
        if fields is None:
            if conversation is not None:
                out.append(f"conversation {conversation_id} is still on the board")
            continue
        if conversation is None:
            out.append(f"conversation {conversation_id} is not on the board")
            continue
        for key, value in fields.items():
            if getattr(conversation, key) != value:
                out.append(f"conversation {conversation_id}.{key}: "
                           f"{getattr(conversation, key)!r} != {value!r}")  # fmt: skip
    return out
