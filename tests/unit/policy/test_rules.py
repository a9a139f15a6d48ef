"""The rule pipeline's shape: one order, each rule with both faces, one action vocabulary."""

from __future__ import annotations

from orchestrator.policy import actions
from orchestrator.policy.rules import COUNTED, ORDER


def test_every_rule_has_both_faces_and_a_distinct_name() -> None:
    names = [r.name for r in ORDER]
    assert len(set(names)) == len(names)
    for rule in ORDER:
        assert callable(rule.at_decision)
        assert callable(rule.at_send)
        assert rule.at_decision.__doc__
        assert rule.at_send.__doc__, f"{rule.name}: say what (or why nothing) it checks at send"


def test_the_counted_rules_are_rules_of_the_order() -> None:
    assert all(any(rule is r for r in ORDER) for rule in COUNTED)


def test_consent_comes_first_and_quiet_hours_last() -> None:
    assert [ORDER[0].name, ORDER[-1].name] == ["consent", "quiet_hours"]


def test_the_vocabulary_keeps_every_existing_spelling() -> None:
    assert actions.NOTE_LABELS == {
        "policy_blocked": "blocked",
        "policy_deferred": "deferred",
        "policy_template": "template",
        "policy_fallback": "fallback",
    }
    assert [actions.verdict_action(a) for a in ("allow", "template", "defer", "block")] == [
        "allow",
        "template",
        "defer",
        "drop",
    ]
    assert [actions.send_action(a) for a in ("allow", "defer", "block")] == [
        "send",
        "defer",
        "block",
    ]
    assert actions.of_verdict("allow", moved=True) == "fallback"
    assert actions.of_verdict("drop") == "block"
    assert actions.of_send("block") == "block"
