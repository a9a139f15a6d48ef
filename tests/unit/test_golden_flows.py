"""Golden cases: ``tests/flows/<flow id>.yaml`` for every flow in ``flows/``.

Each file is a list of cases::

    - label: HELP on sms gets the compliance reply
      state: {customer_id: c1}                       # CustomerState fields
      event: {event_id: SM1, channel: sms, sender: "+1555", recipient: null, text: HELP}
      now: "2026-11-22T12:00:00+00:00"               # Context.now
      decisions: [{message_id: any, channel: sms, ...}]   # every SendMessage field
      state_after: {message_count: 1}                # a subset of CustomerState.to_dict()
      notes: [flow_matched]                          # Note codes, in order
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.engine.decide import decide
from orchestrator.engine.decisions import SendMessage
from orchestrator.engine.flowfile import Catalogue, load_flows
from orchestrator.engine.model import Context, CustomerState, Inbound

ROOT = Path(__file__).resolve().parents[2]
FLOWS_DIR = ROOT / "flows"
GOLDEN_DIR = ROOT / "tests" / "flows"
CASE_KEYS = {"label", "state", "event", "now", "decisions", "state_after", "notes"}
SEND_FIELDS = {f.name for f in dataclasses.fields(SendMessage)}
STATE_FIELDS = {f.name for f in dataclasses.fields(CustomerState)}


def _golden_files() -> list[Path]:
    return sorted(GOLDEN_DIR.glob("*.yaml"))


def _cases() -> list[Any]:
    params = []
    for path in _golden_files():
        cases = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert isinstance(cases, list), f"{path}: a golden file holds a list of cases"
        params += [pytest.param(path.stem, c, id=f"{path.stem}:{c['label']}") for c in cases]
    return params


def _state(doc: dict[str, Any]) -> CustomerState:
    return CustomerState(**{**doc, "applied": tuple(doc.get("applied", ()))})


def _now(value: str | datetime) -> datetime:
    now = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    assert now.tzinfo is not None, "`now` needs a UTC offset"
    return now


def _actual_decision(decision: SendMessage, expected: dict[str, Any]) -> dict[str, Any]:
    actual = dataclasses.asdict(decision)
    if expected.get("message_id") == "any":
        actual["message_id"] = "any"
    return actual


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_flows(FLOWS_DIR)


@pytest.mark.parametrize(("flow_id", "case"), _cases())
def test_golden_case(catalogue: Catalogue, flow_id: str, case: dict[str, Any]) -> None:
    assert set(case) == CASE_KEYS, f"case keys must be exactly {sorted(CASE_KEYS)}"
    for expected in case["decisions"]:
        assert set(expected) == SEND_FIELDS, "a decision lists every SendMessage field"
        assert expected["flow_id"] == flow_id, "a golden file only expects its own flow to send"
    assert set(case["state_after"]) <= STATE_FIELDS

    outcome = decide(
        catalogue, _state(case["state"]), Inbound(**case["event"]), Context(now=_now(case["now"]))
    )

    assert [
        _actual_decision(d, e) for d, e in zip(outcome.decisions, case["decisions"], strict=False)
    ] == case["decisions"]
    assert len(outcome.decisions) == len(case["decisions"])
    after = outcome.state.to_dict()
    assert {k: after[k] for k in case["state_after"]} == case["state_after"]
    assert [n.code for n in outcome.notes] == case["notes"]


def test_every_flow_has_a_golden_file(catalogue: Catalogue) -> None:
    golden = {p.stem for p in _golden_files()}
    missing = [f.id for f in catalogue.flows if f.id not in golden]
    assert missing == [], f"add tests/flows/<id>.yaml for {missing}"


def test_every_golden_file_names_an_existing_flow(catalogue: Catalogue) -> None:
    ids = {f.id for f in catalogue.flows}
    orphans = [p.name for p in _golden_files() if p.stem not in ids]
    assert orphans == []


def test_every_flow_has_enough_cases(catalogue: Catalogue) -> None:
    for flow in catalogue.flows:
        cases = yaml.safe_load((GOLDEN_DIR / f"{flow.id}.yaml").read_text(encoding="utf-8"))
        matched = {c["event"]["channel"] for c in cases if c["decisions"]}
        misses = [c for c in cases if not c["decisions"]]
        assert len(matched) >= 2, f"{flow.id}: match on at least two channels"
        assert misses, f"{flow.id}: include a near miss that must not match"
