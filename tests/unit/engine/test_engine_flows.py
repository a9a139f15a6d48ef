"""The engine's own golden conversations: ``tests/engine_flows_cases/`` against the small flows in
``tests/engine_flows/`` (one or more per step type, trigger type and flow-level feature).

Run by the same runner as ``continuum flows test``; every engine test flow has a case file and
every one of its steps is visited. A few checks the file format cannot say are made here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.engine.decide import decide
from orchestrator.engine.decisions import Outcome
from orchestrator.engine.model import Context, CustomerState, message
from orchestrator.engine.session import STEP_TYPES
from orchestrator.flowtools.testing import DEFAULT_NOW
from tests.unit.engine.conversations import (
    ROOT,
    case_params,
    catalogue,
    check_case,
    flow_files,
    flows_with_cases,
    uncovered,
)

FLOWS = ROOT / "tests" / "engine_flows"
CASES = ROOT / "tests" / "engine_flows_cases"
HOSTS = ("127.0.0.1:8090",)
TRIGGERS = {"event", "schedule", "stage", "status", "timer"}
MATCHES = {"keyword", "any_word", "regex", "expression", "catch_all", "new_customer"}


@pytest.mark.parametrize(("path", "index"), case_params(CASES))
def test_case(path: Path, index: int) -> None:
    check_case(path, index, FLOWS, HOSTS)


def test_every_engine_flow_has_a_case_file_and_every_file_a_flow() -> None:
    assert flows_with_cases(CASES) == flow_files(FLOWS)


def test_every_step_of_every_engine_flow_is_visited() -> None:
    assert uncovered(CASES, FLOWS, HOSTS) == {}


def test_the_engine_flows_use_every_step_type_and_trigger() -> None:
    flows = catalogue(FLOWS, HOSTS).flows
    assert {s.type for f in flows for s in f.steps} == set(STEP_TYPES)
    assert {f.trigger.type for f in flows} == TRIGGERS | {"message"}
    matches = {getattr(f.trigger, "match", None) for f in flows}
    assert matches - {None} == MATCHES
    assert any(getattr(f.trigger, "interrupts", False) for f in flows)
    assert {f.reentry.policy for f in flows} == {"never", "always", "after"}


def _decide(text: str, state: CustomerState | None = None) -> Outcome:
    event = message("sms:SM1", "sms", "+15551230001", text)
    return decide(
        catalogue(FLOWS, HOSTS), state or CustomerState("c1"), event, Context(DEFAULT_NOW)
    )


def test_every_broken_template_is_its_own_note() -> None:
    outcome = _decide("BROKEN")
    errors = {n.step: n.detail for n in outcome.notes if n.code == "template_error"}
    assert sorted(errors) == ["bad_call", "budget", "division", "repeat", "too_long"]
    assert "budget" in errors["budget"]
    assert "budget" in errors["repeat"]
    assert "characters" in errors["too_long"]


@pytest.mark.parametrize(("text", "limit", "sends"), [("LOOP", 5, 2), ("VISITS", 6, 3)])
def test_a_guard_cuts_the_loop_at_its_limit(text: str, limit: int, sends: int) -> None:
    outcome = _decide(text)
    assert len(outcome.trace) == limit
    assert [n.code for n in outcome.notes][-1] == "guard_tripped"
    assert len(outcome.decisions) == sends
    assert outcome.state.run is None
