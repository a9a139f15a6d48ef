"""Golden routing cases: ``tests/routing_cases/*.yaml`` (format in ``tests/unit/routing/cases.py``),
each a routing model, agents and a script of events with the decisions each must give."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.routing import decisions as d
from tests.unit.routing.cases import (
    CASES,
    board_of,
    case_params,
    mismatches,
    play,
    state_mismatches,
)

EVERY_STEP = {
    cls.step
    for cls in vars(d).values()
    if isinstance(cls, type) and issubclass(cls, d.Step) and cls not in (d.Step, d.Decision)
}


@pytest.mark.parametrize("case", case_params())
def test_routing_case(case: dict[str, Any]) -> None:
    board, start = board_of(case)
    for i, step in enumerate(case["steps"]):
        got = play(board, start, step)
        expected = step.get("expect", [])
        if isinstance(got, str):
            assert isinstance(expected, str), f"step {i}: {got}"
            assert got.startswith("refused: "), f"step {i}: {got}"
            assert expected in got, f"step {i}: {got}"
        else:
            assert not isinstance(expected, str), f"step {i}: expected {expected!r}, got {got}"
            assert mismatches(got, expected, start) == [], f"step {i} ({step.get('at', 0)})"
        assert state_mismatches(board, step.get("state") or {}) == [], f"step {i}"


def test_the_cases_cover_every_decision() -> None:
    seen: set[str] = set()
    for param in case_params():
        for step in param.values[0]["steps"]:
            expected = step.get("expect", [])
            if isinstance(expected, list):
                seen |= {next(iter(e)) for e in expected}
    assert EVERY_STEP - seen == set(), f"no golden case shows {sorted(EVERY_STEP - seen)}"
    assert sorted(CASES.glob("*.yaml"))
