"""An opt-out on one channel covers the channels its scope names on every address linked to the
customer: one customer holds its sms, whatsapp and email identities (sms and whatsapp share the
number, ``identity.share_phone_across_media``), and consent is the customer's, per scope."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.decisions import Outcome, SendMessage
from orchestrator.engine.flowfile import parse_yaml
from orchestrator.flowfiles import load_flows
from orchestrator.flowtools.script import Conversation, initial_state
from tests.unit.policy.cases import merged
from tests.unit.policy.test_keywords import HOSTS, NOW, ROOT

PHONE, EMAIL = "+14155550100", "ann@example.com"
ON_WHATSAPP = """\
spec_version: 1
id: on-whatsapp
version: 1
stage: support
owner: tests
channels: [whatsapp]
trigger: {type: event, name: tell.whatsapp}
steps:
  - {id: tell, type: send, purpose: service, channel: [whatsapp], template: "On WhatsApp."}
"""
ON_EMAIL = ON_WHATSAPP.replace("whatsapp", "email").replace("WhatsApp", "email")


def catalogue(tmp_path: Path, scope: str) -> Catalogue:
    folder = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", folder)
    (folder / "on_whatsapp.yaml").write_text(ON_WHATSAPP, encoding="utf-8")
    (folder / "on_email.yaml").write_text(ON_EMAIL, encoding="utf-8")
    shipped = parse_yaml((folder / "policy.yaml").read_text(encoding="utf-8"))
    policy = merged(shipped, {"keywords": {"scope": scope}})
    (folder / "policy.yaml").write_text(yaml.safe_dump(policy), encoding="utf-8")
    return load_flows(folder, HOSTS)


def linked(cat: Catalogue) -> Conversation:
    """A customer with a number (on sms and whatsapp) and an email, who wrote on whatsapp just
    now (inside its 24 h window: the window is not what these tests are about)."""
    doc: dict[str, Any] = {
        "identities": {"sms": PHONE, "whatsapp": PHONE, "email": EMAIL},
        "timezone": "America/Los_Angeles",
        "last_inbound": {"whatsapp": NOW.isoformat()},
    }
    return Conversation(cat, initial_state(doc), NOW)


def sent(outcome: Outcome) -> list[tuple[str, str]]:
    return [(d.channel, d.to) for d in outcome.decisions if isinstance(d, SendMessage)]


def blocked(outcome: Outcome) -> list[str]:
    return [n.detail for n in outcome.notes if n.code == "policy_blocked"]


def test_before_any_stop_the_linked_channels_are_reached(tmp_path: Path) -> None:
    c = linked(catalogue(tmp_path, "all_channels"))
    assert sent(c.event("tell.whatsapp")) == [("whatsapp", PHONE)]
    assert sent(c.event("tell.email")) == [("email", EMAIL)]


def test_stop_on_sms_with_scope_all_refuses_whatsapp_and_email(tmp_path: Path) -> None:
    c = linked(catalogue(tmp_path, "all_channels"))
    c.message("sms", PHONE, "STOP")
    for event in ("tell.whatsapp", "tell.email"):
        out = c.event(event)
        assert sent(out) == []
        [why] = blocked(out)
        assert why.startswith("consent.service: opted out (keyword:stop:sms")


def test_stop_on_sms_with_scope_channel_leaves_whatsapp_and_email(tmp_path: Path) -> None:
    c = linked(catalogue(tmp_path, "channel"))
    c.message("sms", PHONE, "STOP")
    assert sent(c.event("tell.whatsapp")) == [("whatsapp", PHONE)]
    assert sent(c.event("tell.email")) == [("email", EMAIL)]


def test_stop_on_whatsapp_with_scope_channel_refuses_whatsapp_only(tmp_path: Path) -> None:
    c = linked(catalogue(tmp_path, "channel"))
    c.message("whatsapp", PHONE, "STOP")
    out = c.event("tell.whatsapp")
    assert sent(out) == []
    assert blocked(out)[0].startswith("consent.service: opted out (keyword:stop:whatsapp")
    assert sent(c.event("tell.email")) == [("email", EMAIL)]
