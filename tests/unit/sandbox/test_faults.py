"""Fault rules: which send a rule matches, its odds (seeded), its count, and what it refuses."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from channels.sandbox.faults import (
    DuplicateFault,
    FaultBook,
    FaultRule,
    describe,
    validation_reason,
)


def rule(**fields: object) -> FaultRule:
    return FaultRule.model_validate({"provider": "twilio", "kind": "error", **fields})


def book(*rules: FaultRule, seed: int = 1) -> FaultBook:
    faults = FaultBook(random.Random(seed))
    for r in rules:
        faults.add(r)
    return faults


def test_a_rule_matches_its_provider_or_every_provider_with_a_star() -> None:
    assert rule().matches("twilio", "+15550001", "hi")
    assert not rule().matches("vonage", "+15550001", "hi")
    assert rule(provider="*").matches("sendgrid", "a@example.com", "hi")


def test_match_to_ignores_a_leading_plus_and_case_and_text_is_a_substring() -> None:
    by_to = rule(match={"to": "+15550001"})
    assert by_to.matches("twilio", "15550001", "x")  # Vonage and Meta drop the '+'
    assert not by_to.matches("twilio", "+15550002", "x")
    assert rule(match={"to": "Ann@Example.com"}).matches("twilio", "ann@example.com", "x")
    by_text = rule(match={"text": "order"})
    assert by_text.matches("twilio", "+1", "where is my order?")
    assert not by_text.matches("twilio", "+1", "hello")
    both = rule(match={"to": "+1", "text": "order"})
    assert not both.matches("twilio", "+1", "hello")


def test_the_first_matching_rule_wins() -> None:
    faults = book(rule(id="ann", match={"to": "+1"}, status=503), rule(id="all", provider="*"))
    assert faults.pick("twilio", "+1", "x").id == "ann"  # type: ignore[union-attr]
    assert faults.pick("twilio", "+2", "x").id == "all"  # type: ignore[union-attr]
    assert faults.pick("meta", "+1", "x").id == "all"  # type: ignore[union-attr]


def test_no_rule_no_fault() -> None:
    assert book().pick("twilio", "+1", "x") is None
    assert book(rule(provider="meta")).pick("twilio", "+1", "x") is None


def test_a_counted_rule_fires_count_times_then_expires_and_the_next_rule_applies() -> None:
    faults = book(rule(id="thrice", count=3), rule(id="after", kind="down"))
    picked = [faults.pick("twilio", "+1", "x") for _ in range(5)]
    assert [r.id for r in picked if r] == ["thrice"] * 3 + ["after"] * 2
    listed = {r["id"]: r for r in faults.listing()}
    assert (listed["thrice"]["fired"], listed["thrice"]["expired"]) == (3, True)
    assert (listed["after"]["fired"], listed["after"]["expired"]) == (2, False)


def test_probability_draws_from_the_seeded_source_so_runs_repeat() -> None:
    def fired(seed: int) -> list[bool]:
        faults = book(rule(probability=0.3), seed=seed)
        return [faults.pick("twilio", "+1", "x") is not None for _ in range(200)]

    first = fired(7)
    assert first == fired(7)
    assert 30 < sum(first) < 90  # about 60 of 200: neither never nor always
    assert first != fired(8)


def test_reseeding_restarts_the_draws() -> None:
    faults = book(rule(probability=0.5), seed=3)
    before = [faults.pick("twilio", "+1", "x") is not None for _ in range(50)]
    faults.seed(3)
    assert [faults.pick("twilio", "+1", "x") is not None for _ in range(50)] == before


def test_a_rule_whose_draw_fails_lets_the_next_one_try_and_is_not_counted() -> None:
    faults = book(rule(id="never", probability=0), rule(id="always"))
    assert faults.pick("twilio", "+1", "x").id == "always"  # type: ignore[union-attr]
    assert faults.listing()[0]["fired"] == 0


def test_remove_and_clear() -> None:
    faults = book(rule(id="a"), rule(id="b"))
    assert faults.remove("a")
    assert not faults.remove("a")
    assert [r["id"] for r in faults.listing()] == ["b"]
    assert faults.clear() == 1
    assert faults.listing() == []


def test_ids_are_generated_and_must_be_unique() -> None:
    assert rule().id != rule().id
    faults = book(rule(id="x"))
    with pytest.raises(DuplicateFault):
        faults.add(rule(id="x"))


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        pytest.param({"provider": "acme"}, "provider: Input should be", id="unknown-provider"),
        pytest.param({"kind": "explode"}, "kind: Input should be", id="unknown-kind"),
        pytest.param({"probability": 1.5}, "probability: Input should be less", id="odds"),
        pytest.param({"count": 0}, "count: Input should be greater", id="count"),
        pytest.param({"status": 200}, "status: Input should be greater", id="not-an-error"),
        pytest.param(
            {"kind": "latency", "status": 503},
            "status does not apply to kind latency (it takes seconds)",
            id="other-kind-parameter",
        ),
        pytest.param({"match": {"from": "x"}}, "match.from: Extra inputs", id="unknown-match"),
        pytest.param({"kind": "reject", "at": "later"}, "at: Input should be", id="reject-at"),
    ],
)
def test_bad_rules_are_refused_with_a_reason(fields: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationError) as caught:
        rule(**fields)
    assert reason in validation_reason(caught.value)


def test_a_rule_is_described_with_its_own_kind_parameters_and_default_seconds() -> None:
    timeout = describe(FaultRule(id="t", provider="*", kind="timeout"))
    assert timeout == {
        "id": "t",
        "provider": "*",
        "kind": "timeout",
        "match": {},
        "probability": 1.0,
        "count": None,
        "seconds": 30.0,
    }
    throttle = describe(FaultRule(id="r", provider="meta", kind="throttle", count=2))
    assert throttle["retry_after"] == 1
    assert "status" not in throttle
    assert "seconds" not in throttle
