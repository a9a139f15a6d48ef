"""``continuum policy explain``: the pure part (explain + rendering) and the argument parsing."""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime

import pytest

from orchestrator.cli import build_parser, main
from orchestrator.commands.policy import explain, render_json, render_text
from orchestrator.engine.model import CustomerState
from orchestrator.flowfiles import load_policy
from orchestrator.policy.history import Sent, text_hash
from tests.unit.policy.cases import ROOT

POLICY = load_policy(ROOT / "flows")
NOON_LA = datetime(2026, 11, 18, 20, 0, tzinfo=UTC)
NIGHT_LA = datetime(2026, 11, 19, 7, 0, tzinfo=UTC)  # 23:00 PST
GRANTED = {"status": "granted", "source": "flow:welcome.opt_in", "at": "2026-11-01T10:00:00+00:00"}


def _state(**kw: object) -> CustomerState:
    base: dict[str, object] = {
        "identities": {"sms": "+14155550100", "whatsapp": "+14155550100"},
        "consent": {"sms": {"marketing": GRANTED}},
    }
    return CustomerState("c42", **{**base, **kw})  # type: ignore[arg-type]


def test_allow_lists_every_rule_then_the_verdict() -> None:
    text = render_text(explain(POLICY, _state(), "sms", "marketing", NOON_LA))
    assert text.splitlines() == [
        "customer c42: marketing on sms to +14155550100 at 2026-11-18T20:00:00+00:00",
        "✓ consent.marketing  marketing consent granted (flow:welcome.opt_in at "
        "2026-11-01T10:00:00+00:00)",
        "✓ loop_guard  0 identical texts recently",
        "✓ dedupe.template  not sent recently",
        "✓ cap.marketing-weekly  under 3 per 7 days, 0:00:00",
        "✓ cap.marketing-daily  under 1 per 1 day, 0:00:00",
        "✓ quiet_hours.marketing  not quiet in America/Los_Angeles",
        "verdict: allow  (consent.marketing: marketing consent granted (flow:welcome.opt_in at "
        "2026-11-01T10:00:00+00:00))",
    ]


def test_defer_names_the_time() -> None:
    text = render_text(explain(POLICY, _state(), "sms", "marketing", NIGHT_LA))
    assert "✗ quiet_hours.marketing  quiet in America/Los_Angeles until 2026-11-19T09:00" in text
    assert text.splitlines()[-1] == (
        "verdict: defer until 2026-11-19T09:00:00-08:00  (quiet_hours.marketing: deferred to "
        "2026-11-19T09:00:00-08:00)"
    )


def test_drop_stops_at_the_rule_that_failed() -> None:
    lines = render_text(explain(POLICY, _state(consent={}), "sms", "marketing", NOON_LA))
    assert lines.splitlines()[1:] == [
        "✗ consent.marketing  no marketing consent on sms",
        "verdict: drop  (consent.marketing: no marketing consent on sms)",
    ]


def test_whatsapp_template_and_fallback() -> None:
    state = _state()
    template = explain(
        POLICY, state, "whatsapp", "service", NOON_LA, template="renewal-reminder.first_reminder"
    )
    assert (
        render_text(template).splitlines()[-1].startswith("verdict: template renewal_reminder_v1")
    )
    fallback = render_text(explain(POLICY, state, "whatsapp", "service", NOON_LA))
    assert "✗ whatsapp.window  outside the 1 day, 0:00:00 window: falls back to sms" in fallback
    assert fallback.splitlines()[-1].startswith("verdict: allow on sms  (consent.service: ")


def test_text_and_template_feed_the_loop_guard_and_dedupe() -> None:
    log = tuple(
        Sent(
            NOON_LA.replace(minute=5, second=10 * i), "sms", "service", f"f.s{i}", text_hash("Hi")
        ).to_dict()
        for i in range(5)
    )
    state = _state(sent_log=log)
    at = NOON_LA.replace(minute=6)
    looping = explain(POLICY, state, "sms", "service", at, text="hi")
    assert looping.verdict is not None
    assert looping.verdict.rule == "loop_guard"
    repeat = explain(POLICY, state, "sms", "service", at, text="other", template="f.s4")
    assert repeat.verdict is not None
    assert repeat.verdict.rule == "dedupe.template"


def test_no_address_on_the_channel_is_unreachable() -> None:
    found = explain(POLICY, _state(), "email", "service", NOON_LA)
    assert render_text(found).splitlines()[1:] == [
        "✗ reachable  the customer has no email address",
        "verdict: blocked: unreachable  (no email address)",
    ]
    doc = json.loads(render_json(found))
    assert doc["verdict"]["action"] == "blocked"
    assert doc["verdict"]["rule"] == "unreachable"
    assert doc["findings"] == []


def test_json_has_findings_and_verdict() -> None:
    doc = json.loads(render_json(explain(POLICY, _state(), "sms", "marketing", NIGHT_LA)))
    assert doc["customer"] == "c42"
    assert doc["to"] == "+14155550100"
    assert doc["at"] == "2026-11-19T07:00:00+00:00"
    assert doc["findings"][0] == {
        "rule": "consent.marketing",
        "ok": True,
        "reason": "marketing consent granted (flow:welcome.opt_in at 2026-11-01T10:00:00+00:00)",
    }
    assert doc["verdict"] == {
        "action": "defer",
        "rule": "quiet_hours.marketing",
        "reason": "deferred to 2026-11-19T09:00:00-08:00",
        "channel": "sms",
        "not_before": "2026-11-19T09:00:00-08:00",
        "template_name": None,
    }


def test_arguments_parse() -> None:
    args = build_parser().parse_args(
        shlex.split(
            "policy explain --customer c42 --purpose marketing --channel sms "
            "--at 2026-11-19T07:00:00 --format json"
        )
    )
    assert (args.command, args.policy_command, args.customer) == ("policy", "explain", "c42")
    assert args.at == NIGHT_LA  # a naive time is UTC
    assert (args.text, args.template) == ("", "")


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["policy"], id="no-subcommand"),
        pytest.param(["policy", "explain", "--purpose", "marketing", "--channel", "sms"], id="who"),
        pytest.param(
            ["policy", "explain", "--customer", "c1", "--purpose", "ads", "--channel", "sms"],
            id="purpose",
        ),
        pytest.param(
            ["policy", "explain", "--customer", "c1", "--purpose", "service", "--channel", "fax"],
            id="channel",
        ),
        pytest.param(
            [
                *("policy", "explain", "--customer", "c1", "--purpose", "service"),
                *("--channel", "sms", "--at", "tomorrow"),
            ],
            id="at",
        ),
    ],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
