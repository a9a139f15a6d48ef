"""Opt-out and opt-in keywords through the engine, before any flow (``policy/keywords.py``).

Conversations run against a copy of ``flows/`` plus two test flows started by business events:
``promo`` (marketing) and ``notice`` (service, on email then sms). A test may write a policy
override into the copy (merged onto the shipped ``flows/policy.yaml``).
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.decisions import CancelTimer, Outcome, SendMessage
from orchestrator.engine.flowfile import parse_yaml
from orchestrator.flowfiles import load_flows
from orchestrator.flowtools.script import Conversation, initial_state
from tests.unit.policy.cases import merged

ROOT = Path(__file__).resolve().parents[3]
HOSTS = ("127.0.0.1:8090", "localhost:8090")
NOW = datetime(2026, 11, 18, 18, 0, tzinfo=UTC)  # 10:00 in Los Angeles: no quiet hours
SMS, EMAIL = "+14155550100", "ann@example.com"
UNSUBSCRIBED = "You have been unsubscribed"
RESUBSCRIBED = "You have been resubscribed"

PROMO = """\
spec_version: 1
id: promo
version: 1
stage: win-back
owner: tests
channels: [sms, email]
trigger: {type: event, name: promo.launched}
steps:
  - {id: offer, type: send, purpose: marketing, channel: [sms, email], template: "20% off!"}
"""
NOTICE = """\
spec_version: 1
id: notice
version: 1
stage: support
owner: tests
channels: [sms, email]
trigger: {type: event, name: store.closing}
steps:
  - {id: tell, type: send, purpose: service, channel: [email, sms], template: "We close at 6."}
"""


def catalogue(tmp_path: Path, policy: dict[str, Any] | None = None) -> Catalogue:
    """The shipped flows, the two test flows, and the policy with ``policy`` merged on."""
    folder = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", folder)
    (folder / "promo.yaml").write_text(PROMO, encoding="utf-8")
    (folder / "notice.yaml").write_text(NOTICE, encoding="utf-8")
    if policy:
        shipped = parse_yaml((folder / "policy.yaml").read_text(encoding="utf-8"))
        text = yaml.safe_dump(merged(shipped, policy), allow_unicode=True)
        (folder / "policy.yaml").write_text(text, encoding="utf-8")
    return load_flows(folder, HOSTS)


@pytest.fixture
def flows(tmp_path: Path) -> Catalogue:
    return catalogue(tmp_path)


def talk(cat: Catalogue, **state: Any) -> Conversation:
    doc = {"identities": {"sms": SMS, "email": EMAIL}, "timezone": "America/Los_Angeles", **state}
    return Conversation(cat, initial_state(doc), NOW)


def sends(outcome: Outcome) -> list[SendMessage]:
    return [d for d in outcome.decisions if isinstance(d, SendMessage)]


def codes(outcome: Outcome) -> list[str]:
    return [n.code for n in outcome.notes]


def rules(outcome: Outcome, code: str) -> list[str]:
    return [str(n.data["rule"]) for n in outcome.notes if n.code == code and n.data]


WORDS = ["STOP", "stop", "  Stop  ", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE"]


@pytest.mark.parametrize("word", [*WORDS, "OPTOUT", "Stop!"])
def test_every_opt_out_word_revokes_and_confirms_once(flows: Catalogue, word: str) -> None:
    out = talk(flows).message("sms", SMS, word)
    [confirmation] = sends(out)
    assert confirmation.text.startswith(UNSUBSCRIBED)
    assert (confirmation.channel, confirmation.to, confirmation.purpose) == (
        "sms",
        SMS,
        "transactional",
    )
    assert confirmation.policy_rule == "keywords.opt_out.confirmation"
    assert out.state.consent["all"]["all"]["status"] == "revoked"
    assert out.state.consent["all"]["all"]["source"] == f"keyword:{word.strip(' !').lower()}:sms"
    assert rules(out, "opt_out") == ["keywords.opt_out"]


def test_a_second_stop_sends_nothing(flows: Catalogue) -> None:
    c = talk(flows)
    c.message("sms", SMS, "STOP")
    again = c.message("sms", SMS, "stop")
    assert sends(again) == []
    assert "again; already opted out" in again.notes[0].detail


def test_a_stop_on_another_channel_after_stop_everywhere_sends_nothing(flows: Catalogue) -> None:
    c = talk(flows)
    c.message("sms", SMS, "STOP")
    assert sends(c.message("email", EMAIL, "UNSUBSCRIBE")) == []


def test_a_sentence_containing_stop_is_not_an_opt_out(flows: Catalogue) -> None:
    out = talk(flows).message("sms", SMS, "please stop the order")
    assert "opt_out" not in codes(out)  # match: whole_message
    assert out.state.consent == {}


def test_stop_mid_flow_ends_the_run_and_its_timers(flows: Catalogue) -> None:
    c = talk(flows)
    started = c.message("sms", SMS, "JOIN")
    assert started.state.run is not None
    assert len(c.timers) == 2  # the question's timeout and the run's expiry (expires_after: 3d)
    out = c.message("sms", SMS, "STOP")
    assert out.state.run is None
    assert out.state.current_flow is None
    assert "run_ended" in codes(out)
    assert [s.text[:26] for s in sends(out)] == [UNSUBSCRIBED]
    assert len([d for d in out.decisions if isinstance(d, CancelTimer)]) == 2
    assert c.timers == {}
    assert all(sends(o) == [] for o in c.advance(timedelta(days=4)))


@pytest.mark.parametrize(
    ("event", "rule"),
    [
        pytest.param("promo.launched", "consent.marketing", id="marketing"),
        pytest.param("store.closing", "consent.service", id="service"),
    ],
)
def test_after_stop_flow_sends_are_blocked(flows: Catalogue, event: str, rule: str) -> None:
    c = talk(flows, consent={"all": {"marketing": {"status": "granted", "source": "t", "at": ""}}})
    before = c.event(event)
    assert len(sends(before)) == 1  # the flow does send before the opt-out
    c.message("sms", SMS, "STOP")
    out = c.event(event)
    assert sends(out) == []
    assert rules(out, "policy_blocked") == [rule]


def test_after_stop_help_is_blocked_too_by_default(flows: Catalogue) -> None:
    """HELP is transactional; transactional_after_opt_out is false in flows/policy.yaml."""
    c = talk(flows)
    c.message("sms", SMS, "STOP")
    out = c.message("sms", SMS, "HELP")
    assert sends(out) == []
    assert rules(out, "policy_blocked") == ["consent.transactional"]


def test_after_stop_help_answers_when_transactional_may_go(tmp_path: Path) -> None:
    c = talk(catalogue(tmp_path, {"consent": {"transactional_after_opt_out": True}}))
    c.message("sms", SMS, "STOP")
    [reply] = sends(c.message("sms", SMS, "HELP"))
    assert reply.flow_id == "help"
    assert "Reply STOP to opt out" in reply.text


@pytest.mark.parametrize("word", ["START", "unstop", "Yes"])
def test_opt_in_words_restore_and_confirm_once(flows: Catalogue, word: str) -> None:
    c = talk(flows)
    c.message("sms", SMS, "STOP")
    out = c.message("sms", SMS, word)
    [confirmation] = sends(out)
    assert confirmation.text.startswith(RESUBSCRIBED)
    assert confirmation.policy_rule == "keywords.opt_in.confirmation"
    assert out.state.consent["all"]["all"]["status"] == "restored"
    assert rules(out, "opt_in") == ["keywords.opt_in"]
    assert len(sends(c.event("store.closing"))) == 1  # service flows reach the customer again


def test_yes_from_a_customer_who_is_not_opted_out_answers_the_flow(flows: Catalogue) -> None:
    c = talk(flows)
    c.message("sms", SMS, "JOIN")
    out = c.message("sms", SMS, "YES")
    assert "opt_in" not in codes(out)
    assert [s.step for s in sends(out)] == ["confirm_opt_in", "ask_language"]
    assert out.state.consent["sms"]["marketing"]["status"] == "granted"


def test_start_from_a_customer_who_is_not_opted_out_is_not_a_keyword(flows: Catalogue) -> None:
    out = talk(flows).message("sms", SMS, "START")
    assert "opt_in" not in codes(out)
    assert sends(out) == []


def test_spanish_parar_with_language_es(flows: Catalogue) -> None:
    c = talk(flows, language="es")
    out = c.message("sms", SMS, "parar")
    [confirmation] = sends(out)
    assert confirmation.text.startswith("Te has dado de baja")
    assert out.state.consent["all"]["all"]["status"] == "revoked"
    [back] = sends(c.message("sms", SMS, "ALTA"))
    assert back.text.startswith("Te has vuelto a suscribir")


def test_parar_from_an_english_customer_is_not_a_keyword(flows: Catalogue) -> None:
    out = talk(flows).message("sms", SMS, "PARAR")
    assert "opt_out" not in codes(out)


def test_scope_all_channels_stops_email_after_stop_on_sms(flows: Catalogue) -> None:
    c = talk(flows)
    c.message("sms", SMS, "STOP")
    out = c.event("store.closing")
    assert sends(out) == []
    assert rules(out, "policy_blocked") == ["consent.service"]


def test_scope_channel_stops_only_that_channel(tmp_path: Path) -> None:
    c = talk(catalogue(tmp_path, {"keywords": {"scope": "channel"}}))
    out = c.message("sms", SMS, "STOP")
    assert out.state.consent == {"sms": {"all": out.state.consent["sms"]["all"]}}
    assert "suppressed on sms" in out.notes[-1].detail
    [notice] = sends(c.event("store.closing"))
    assert notice.channel == "email"  # email is first in the step's list, and not stopped


def test_scope_channel_falls_back_past_the_stopped_channel(tmp_path: Path) -> None:
    c = talk(catalogue(tmp_path, {"keywords": {"scope": "channel"}}))
    c.message("email", EMAIL, "UNSUBSCRIBE")
    out = c.event("store.closing")
    [notice] = sends(out)
    assert notice.channel == "sms"
    assert codes(out).count("policy_fallback") == 1
    assert c.message("sms", SMS, "STOP").state.consent["sms"]["all"]["status"] == "revoked"
    assert sends(c.event("store.closing")) == []


def test_a_redelivered_stop_changes_nothing(flows: Catalogue) -> None:
    c = talk(flows)
    first = c.message("sms", SMS, "STOP", provider_id="SM1")
    again = c.message("sms", SMS, "STOP", provider_id="SM1")
    assert len(sends(first)) == 1
    assert sends(again) == []
    assert codes(again) == ["duplicate_event"]
