"""Golden policy cases: every rule of ``flows/policy.yaml``, one param per case.

The cases live in ``tests/policy_cases/*.yaml`` (format in ``tests/unit/policy/cases.py``); each
runs :func:`orchestrator.policy.evaluate.evaluate` once and checks the verdict.
"""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.engine.flowfile import parse_yaml
from orchestrator.policy.evaluate import evaluate
from tests.unit.policy.cases import (
    CASES,
    candidate_of,
    case_params,
    customer_of,
    policy_of,
    when,
)

EXPECT_KEYS = {"action", "rule", "channel", "not_before", "template_name", "reason_contains"}
EVERY_RULE = {
    "consent.transactional",
    "consent.service",
    "consent.marketing",
    "whatsapp.window",
    "loop_guard",
    "dedupe.template",
    "cap.marketing-weekly",
    "cap.marketing-daily",
    "quiet_hours.marketing",
    "quiet_hours.service",
}
"""The rules a verdict can name (a cap, dropping or deferring, names itself)."""


@pytest.mark.parametrize("case", case_params())
def test_case(case: dict[str, Any]) -> None:
    now = when(case["now"])
    who = customer_of(case, now)
    verdict = evaluate(policy_of(case), who, candidate_of(case, who), now)
    expect = case["expect"]
    assert set(expect) <= EXPECT_KEYS, f"unknown expectations {set(expect) - EXPECT_KEYS}"
    got = {
        "action": verdict.action,
        "rule": verdict.rule,
        "channel": verdict.channel,
        "not_before": verdict.not_before,
        "template_name": verdict.template_name,
    }
    wanted = {k: v for k, v in expect.items() if k != "reason_contains"}
    if "not_before" in wanted and wanted["not_before"] is not None:
        wanted["not_before"] = when(wanted["not_before"])
    findings = "\n".join(f"  {'✓' if f.ok else '✗'} {f.rule}  {f.reason}" for f in verdict.findings)
    assert {k: got[k] for k in wanted} == wanted, f"{verdict.reason}\n{findings}"
    if "reason_contains" in expect:
        assert expect["reason_contains"] in verdict.reason
    if verdict.action == "defer":
        assert verdict.not_before is not None
        assert verdict.not_before > now


def test_every_rule_decides_some_case() -> None:
    decided = {
        str(case["expect"]["rule"])
        for path in CASES.glob("*.yaml")
        for case in parse_yaml(path.read_text(encoding="utf-8"))["cases"]
    }
    assert EVERY_RULE - decided == set()


def test_every_action_is_exercised() -> None:
    actions = {
        str(case["expect"]["action"])
        for path in CASES.glob("*.yaml")
        for case in parse_yaml(path.read_text(encoding="utf-8"))["cases"]
    }
    assert actions == {"allow", "defer", "drop", "template"}
