"""Opt-out and opt-in keywords, and providers' opt-out reports: what each means, as a value the
engine applies (:mod:`orchestrator.engine.opt_outs`). PURE, and knows nothing of the engine.

An opt-out revokes consent (on every channel, or on this one, as the policy says), ends the
customer's runs, and sends exactly one confirmation. An opt-in keyword counts only from a
customer who is opted out, so that ``YES`` still answers a flow's question otherwise.

A delivery status whose provider says the recipient opted out or complained (``opted_out``:
SendGrid's ``spamreport``, Twilio's 21610) opts the customer out the same way, with source
``provider:<error code or status>:<channel>`` and **no** confirmation: someone who reported
spam is not written to again, not even to say so. A report may name one purpose
(``opt_out_purpose``: Meta's 131050 stops marketing on WhatsApp only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from orchestrator.policy import consent
from orchestrator.policy.spec import Policy

Kind = Literal["opt_out", "opt_in"]


@dataclass(frozen=True, slots=True)
class OptChange:
    """A change of consent the customer (or their provider) asked for.

    ``already`` is the record that makes it a repeat (nothing to change: only ``detail`` is
    noted); ``ends_runs`` says whether the customer's runs end; ``confirmation`` is the text to
    send back on ``channel`` (keywords only), ``None`` for none.
    """

    kind: Kind
    channel: str
    source: str
    detail: str
    data: Mapping[str, Any]
    everywhere: bool = False
    purpose: str | None = None
    already: Mapping[str, Any] | None = None
    confirmation: str | None = None

    @property
    def ends_runs(self) -> bool:
        """A whole opt-out ends every run; one purpose, or an opt-in, ends none."""
        return self.kind == "opt_out" and self.purpose is None and self.already is None

    def consent_after(self, consent_state: dict[str, Any], now: datetime) -> dict[str, Any]:
        """The customer's consent once the change is made."""
        if self.already is not None:
            return consent_state
        if self.kind == "opt_in":
            return consent.restore(consent_state, self.channel, self.source, now)
        if self.purpose is not None:
            return consent.grant(
                consent_state, self.channel, self.purpose, "revoked", self.source, now
            )
        return consent.revoke(consent_state, self.channel, self.everywhere, self.source, now)


def keyword(
    policy: Policy,
    consent_state: dict[str, Any],
    channel: str,
    text: str,
    language: str | None,
    reply_language: str,
) -> OptChange | None:
    """What a message on ``channel`` asks for, if it is an opt-out or (from a customer who is
    opted out) an opt-in keyword; ``reply_language`` picks the confirmation's text."""
    word = policy.keyword_of(text)
    if not word:
        return None
    stopped = consent.opted_out(consent_state, channel)
    if word in policy.words("opt_out", language):
        rule = {"rule": "keywords.opt_out"}
        if stopped is not None:
            detail = (
                f"keywords.opt_out: {word!r} again; already opted out "
                f"({stopped.get('source')}); no second confirmation"
            )
            return OptChange("opt_out", channel, "", detail, rule, already=stopped)
        everywhere = policy.keywords.scope == "all_channels"
        scope = "every channel" if everywhere else channel
        return OptChange(
            "opt_out",
            channel,
            f"keyword:{word}:{channel}",
            f"keywords.opt_out: {word!r} on {channel}; suppressed on {scope}",
            rule,
            everywhere=everywhere,
            confirmation=_text(policy.keywords.confirm_opt_out, reply_language),
        )
    if word in policy.words("opt_in", language) and stopped is not None:
        return OptChange(
            "opt_in",
            channel,
            f"keyword:{word}:{channel}",
            f"keywords.opt_in: {word!r} on {channel}; opt-out lifted",
            {"rule": "keywords.opt_in"},
            confirmation=_text(policy.keywords.confirm_opt_in, reply_language),
        )
    return None


def provider_report(
    policy: Policy,
    consent_state: dict[str, Any],
    channel: str,
    status: str,
    data: Mapping[str, Any],
) -> OptChange | None:
    """What a forwarded delivery status asks for, when its provider reported an opt-out.

    Example (a SendGrid spam report, forwarded by the status worker)::

        spam = {"opted_out": True, "error_code": "spamreport", "provider": "email.sendgrid"}
        provider_report(policy, {}, "email", "delivered", spam)
        # -> OptChange("opt_out", "email", "provider:spamreport:email", ..., everywhere=True)
    """
    if data.get("opted_out") is not True:
        return None
    what = str(data.get("error_code") or status or "unknown")
    info = {
        "rule": "provider.opt_out",
        "provider": data.get("provider"),
        "provider_event": what,
        "message_id": data.get("message_id"),
    }
    info = {k: v for k, v in info.items() if v}
    source = f"provider:{what}:{channel}"
    stopped = consent.opted_out(consent_state, channel)
    purpose = data.get("opt_out_purpose")
    if isinstance(purpose, str) and purpose:
        current = consent_state.get(channel, {}).get(purpose) or {}
        if current.get("status") == "revoked" or stopped is not None:
            held = current.get("source") or "opt-out"
            detail = (
                f"provider.opt_out: {what} again; {purpose} on {channel} already revoked ({held})"
            )
            return OptChange("opt_out", channel, source, detail, info, already=current or stopped)
        detail = (
            f"provider.opt_out: {what} on {channel}; {purpose} suppressed on {channel}; "
            "no confirmation"
        )
        return OptChange(
            "opt_out", channel, source, detail, {**info, "purpose": purpose}, purpose=purpose
        )
    if stopped is not None:
        detail = f"provider.opt_out: {what} again; already opted out ({stopped.get('source')})"
        return OptChange("opt_out", channel, source, detail, info, already=stopped)
    everywhere = policy.keywords.scope == "all_channels"
    scope = "every channel" if everywhere else channel
    detail = f"provider.opt_out: {what} on {channel}; suppressed on {scope}; no confirmation"
    return OptChange("opt_out", channel, source, detail, info, everywhere=everywhere)


def _text(texts: dict[str, str], language: str) -> str | None:
    if not texts:
        return None
    return texts.get(language) or texts.get(language.split("-")[0]) or next(iter(texts.values()))
