"""Golden policy cases: ``tests/policy_cases/*.yaml`` read into policies, customers and candidates.

A case file::

    cases:
      - name: marketing without consent is dropped
        policy: {consent: {double_opt_in: [sms]}}   # merged onto flows/policy.yaml (lists replace)
        now: "2026-11-18T18:00:00Z"
        customer:
          consent: {sms: {marketing: {status: granted}}}   # source and at are filled in
          identities: {sms: "+14155550100"}
          timezone: America/Los_Angeles                  # optional
          last_inbound: {whatsapp: "2026-11-18T10:00:00Z"}
          support_ago: 1h                                 # or support_at: a time (the engine's
                                                          # Customer.support_at: support_quiet)
          sent_log:                                       # `at` or `ago`; `text` or `text_hash`
            - {ago: 2h, channel: sms, purpose: marketing, template: promo.offer, text: "Sale!"}
        candidate: {channel: sms, purpose: marketing, template: promo.offer, text: "Sale!",
                    run_id: r1, to: "+1..."}              # `to` defaults to the identity
        expect: {action: drop, rule: consent.marketing, channel: sms,
                 not_before: "2026-...", template_name: ..., reason_contains: ...}
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from orchestrator.durations import parse_duration
from orchestrator.engine.flowfile import parse_yaml
from orchestrator.policy.evaluate import Candidate, Customer
from orchestrator.policy.history import Sent, text_hash
from orchestrator.policy.spec import Policy

ROOT = Path(__file__).resolve().parents[3]
CASES = ROOT / "tests" / "policy_cases"
SHIPPED = ROOT / "flows" / "policy.yaml"


def merged(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` onto ``base``: mappings merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def when(value: Any) -> datetime:
    """An aware time from YAML (a string, or a datetime YAML already parsed); naive is UTC."""
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def policy_of(case: Mapping[str, Any]) -> Policy:
    """The shipped policy with the case's overrides."""
    shipped = parse_yaml(SHIPPED.read_text(encoding="utf-8"))
    return Policy.model_validate(merged(shipped, case.get("policy") or {}))


def customer_of(case: Mapping[str, Any], now: datetime) -> Customer:
    """The recipient: consent records get a source and time when the case leaves them out."""
    doc = case.get("customer") or {}
    consent = {
        scope: {
            purpose: {"source": "case", "at": "2026-01-01T00:00:00+00:00", **entry}
            for purpose, entry in purposes.items()
        }
        for scope, purposes in (doc.get("consent") or {}).items()
    }
    history = [_sent(e, now) for e in doc.get("sent_log") or []]
    last_inbound = {k: when(v).isoformat() for k, v in (doc.get("last_inbound") or {}).items()}
    support_at = when(doc["support_at"]) if "support_at" in doc else None
    if "support_ago" in doc:
        support_at = now - parse_duration(str(doc["support_ago"]))
    return Customer(
        consent,
        dict(doc.get("identities") or {}),
        doc.get("timezone"),
        last_inbound,
        history,
        support_at,
    )


def candidate_of(case: Mapping[str, Any], who: Customer) -> Candidate:
    """The send under test; ``to`` defaults to the customer's address on its channel."""
    c = case["candidate"]
    channel = str(c["channel"])
    return Candidate(
        channel,
        str(c.get("to") or who.identities[channel]),
        str(c.get("purpose", "marketing")),
        str(c.get("template", "promo.offer")),
        text_hash(str(c.get("text", ""))),
        str(c.get("run_id", "")),
        c.get("own_template"),
    )


def case_params() -> list[Any]:
    """One param per case, with the id ``file:case name``."""
    params = []
    for path in sorted(CASES.glob("*.yaml")):
        for case in parse_yaml(path.read_text(encoding="utf-8"))["cases"]:
            params.append(pytest.param(case, id=f"{path.stem}:{case['name']}"))
    return params


def _sent(entry: Mapping[str, Any], now: datetime) -> Sent:
    at = when(entry["at"]) if "at" in entry else now - parse_duration(str(entry["ago"]))
    digest = entry.get("text_hash") or text_hash(str(entry.get("text", "")))
    return Sent(
        at,
        str(entry.get("channel", "sms")),
        str(entry.get("purpose", "marketing")),
        str(entry.get("template", "promo.earlier")),
        str(digest),
        str(entry.get("run_id", "")),
    )
