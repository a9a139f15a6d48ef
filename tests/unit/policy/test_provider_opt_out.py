"""A provider's opt-out report (a status with ``opted_out``) through the engine
(``policy/keywords.py::provider_report``, applied by ``engine/opt_outs.py``): the customer is
opted out as by STOP, without a confirmation, and a second report is only a note.

The customer and flows are those of ``test_keywords.py``: an sms number and an email address,
the shipped flows plus ``promo`` (marketing) and ``notice`` (service, on email then sms).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.model import Event
from orchestrator.flowtools.script import Conversation
from orchestrator.policy import consent
from tests.unit.policy.test_keywords import (
    EMAIL,
    SMS,
    catalogue,
    codes,
    rules,
    sends,
    talk,
)


@pytest.fixture
def flows(tmp_path: Path) -> Catalogue:
    return catalogue(tmp_path)


SPAM = {"opted_out": True, "error_code": "spamreport", "provider": "email.sendgrid"}


def report(c: Conversation, data: dict[str, Any], status: str = "delivered") -> Any:
    """A ``message.status`` the status worker forwarded about an email we sent the customer."""
    event = Event(f"st{len(c.state.applied)}", "status", channel="email", name=status, data=data)
    return c.send(event)


def test_a_spam_report_revokes_consent_and_sends_nothing(flows: Catalogue) -> None:
    c = talk(flows)
    out = report(c, {**SPAM, "message_id": "msg-1"})
    assert sends(out) == []  # no confirmation: never email someone who reported spam
    revoked = out.state.consent["all"]["all"]  # the shipped policy's scope: all_channels
    assert (revoked["status"], revoked["source"]) == ("revoked", "provider:spamreport:email")
    [note] = [n for n in out.notes if n.code == "opt_out"]
    assert note.data == {
        "rule": "provider.opt_out",
        "provider": "email.sendgrid",
        "provider_event": "spamreport",
        "message_id": "msg-1",
    }
    assert "suppressed on every channel; no confirmation" in note.detail


def test_after_a_spam_report_flow_sends_are_blocked(flows: Catalogue) -> None:
    c = talk(flows)
    assert len(sends(c.event("store.closing"))) == 1  # the flow does send before the report
    report(c, SPAM)
    out = c.event("store.closing")
    assert sends(out) == []
    assert rules(out, "policy_blocked") == ["consent.service"]
    assert sends(c.message("email", EMAIL, "HELP")) == []  # transactional too, by default


def test_the_opt_out_covers_every_address_of_the_customer_on_the_channel(
    tmp_path: Path,
) -> None:
    c = talk(catalogue(tmp_path, {"keywords": {"scope": "channel"}}))
    report(c, SPAM)
    # the customer's other email address (linked later, or the one a flow picks): consent is
    # the customer's, per channel, so it is suppressed too
    c.state = replace(c.state, identities={**c.state.identities, "email": "ann@work.example"})
    assert consent.opted_out(c.state.consent, "email") is not None
    [notice] = sends(c.event("store.closing"))
    assert (notice.channel, notice.to) == ("sms", SMS)  # scope channel: sms is not stopped


def test_a_report_mid_flow_ends_the_run_and_its_timers(flows: Catalogue) -> None:
    c = talk(flows)
    assert c.message("sms", SMS, "JOIN").state.run is not None
    out = report(c, SPAM)
    assert out.state.run is None
    assert "run_ended" in codes(out)
    assert c.timers == {}


def test_a_second_report_when_opted_out_is_a_note_only(flows: Catalogue) -> None:
    c = talk(flows)
    first = report(c, SPAM).state.consent
    again = report(c, {**SPAM, "error_code": "unsubscribe"})
    assert sends(again) == []
    assert again.state.consent == first  # not revoked a second time: the first source stays
    [note] = [n for n in again.notes if n.code == "opt_out"]
    assert note.detail == (
        "provider.opt_out: unsubscribe again; already opted out (provider:spamreport:email)"
    )
    assert note.data["rule"] == "provider.opt_out"


def test_a_report_after_stop_keeps_the_keyword_opt_out(flows: Catalogue) -> None:
    c = talk(flows)
    c.message("sms", SMS, "STOP")
    out = report(c, SPAM)
    assert out.state.consent["all"]["all"]["source"] == "keyword:stop:sms"
    assert codes(out) == ["opt_out"]


def test_a_status_without_opted_out_opts_nobody_out(flows: Catalogue) -> None:
    c = talk(flows)
    for data in ({}, {"opted_out": False, "error_code": "5.1.1"}):
        out = report(c, data)
        assert "opt_out" not in codes(out)
        assert out.state.consent == {}
    assert len(sends(c.event("store.closing"))) == 1


def test_without_an_error_code_the_source_names_the_status(flows: Catalogue) -> None:
    out = report(talk(flows), {"opted_out": True}, status="failed")
    assert out.state.consent["all"]["all"]["source"] == "provider:failed:email"


STOPPED_MARKETING = {
    "opted_out": True,
    "opt_out_purpose": "marketing",
    "error_code": "131050",
    "provider": "whatsapp.meta",
}


def test_a_marketing_stop_revokes_marketing_on_that_channel_only(flows: Catalogue) -> None:
    c = talk(flows, identities={"sms": SMS, "email": EMAIL, "whatsapp": SMS})
    event = Event("st-wa", "status", channel="whatsapp", name="failed", data=STOPPED_MARKETING)
    out = c.send(event)
    assert sends(out) == []
    revoked = out.state.consent["whatsapp"]["marketing"]
    assert (revoked["status"], revoked["source"]) == ("revoked", "provider:131050:whatsapp")
    assert consent.opted_out(out.state.consent, "whatsapp") is None  # not a whole opt-out
    policy = flows.policy
    assert consent.check(policy, out.state.consent, "whatsapp", "marketing")[0] is False
    assert consent.check(policy, out.state.consent, "whatsapp", "service")[0] is True
    [note] = [n for n in out.notes if n.code == "opt_out"]
    assert note.data["purpose"] == "marketing"
    assert "marketing suppressed on whatsapp" in note.detail
    assert len(sends(c.event("store.closing"))) == 1  # service messages still go
    again = c.send(replace(event, event_id="st-wa2"))
    assert again.state.consent == out.state.consent
    assert "already revoked" in next(n.detail for n in again.notes if n.code == "opt_out")
