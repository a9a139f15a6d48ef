"""Opt-out and opt-in keywords, and providers' opt-out reports, handled before any flow. PURE.

An opt-out revokes consent (on every channel, or on this one, as the policy says), ends the
customer's runs, and sends exactly one confirmation. An opt-in keyword counts only from a
customer who is opted out, so that ``YES`` still answers a flow's question otherwise.

A delivery status whose provider says the recipient opted out or complained (``opted_out``:
SendGrid's ``spamreport``, Twilio's 21610) opts the customer out the same way, with source
``provider:<error code or status>:<channel>`` and **no** confirmation: someone who reported
spam is not written to again, not even to say so.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from orchestrator.engine.decisions import Note, SendMessage, derive_id
from orchestrator.policy import consent

if TYPE_CHECKING:
    from orchestrator.engine.session import Session


def handle(s: Session) -> bool:
    """Handle an opt-out or opt-in keyword; say whether the message was one."""
    ev, policy = s.event, s.catalogue.policy
    if ev.kind != "message" or not ev.channel:
        return False
    word = policy.keyword_of(ev.text)
    language = s.state.language or ev.locale
    if word and word in policy.words("opt_out", language):
        _opt_out(s, ev.channel, word)
        return True
    if (
        word
        and word in policy.words("opt_in", language)
        and consent.opted_out(s.state.consent, ev.channel)
    ):
        _opt_in(s, ev.channel, word)
        return True
    return False


def provider_opt_out(s: Session) -> bool:
    """Opt the customer out on a status whose provider reports an opt-out; say whether it was.

    Example (a SendGrid spam report, forwarded by the status worker)::

        Event("st1", "status", channel="email", name="delivered",
              data={"opted_out": True, "error_code": "spamreport", "provider": "email.sendgrid"})
        # -> consent revoked, source "provider:spamreport:email"; Note("opt_out"); no SendMessage
    """
    ev = s.event
    if ev.kind != "status" or not ev.channel or ev.data.get("opted_out") is not True:
        return False
    what = str(ev.data.get("error_code") or ev.name or "unknown")
    data = {
        "rule": "provider.opt_out",
        "provider": ev.data.get("provider"),
        "provider_event": what,
        "message_id": ev.data.get("message_id"),
    }
    data = {k: v for k, v in data.items() if v}
    purpose = ev.data.get("opt_out_purpose")
    if isinstance(purpose, str) and purpose:
        _purpose_opt_out(s, ev.channel, purpose, what, data)
        return True
    already = consent.opted_out(s.state.consent, ev.channel)
    if already is not None:
        detail = f"already opted out ({already.get('source')})"
        s.notes.append(Note("opt_out", f"provider.opt_out: {what} again; {detail}", data=data))
        return True
    scope = _revoke(s, ev.channel, f"provider:{what}:{ev.channel}")
    s.notes.append(
        Note(
            "opt_out",
            f"provider.opt_out: {what} on {ev.channel}; suppressed on {scope}; no confirmation",
            data=data,
        )
    )
    return True


def _purpose_opt_out(
    s: Session, channel: str, purpose: str, what: str, data: dict[str, Any]
) -> None:
    """Revoke one purpose on one channel (Meta's 131050 stops marketing on WhatsApp only):
    the customer's other messages there, and everything elsewhere, still go."""
    current = s.state.consent.get(channel, {}).get(purpose) or {}
    if current.get("status") == "revoked" or consent.opted_out(s.state.consent, channel):
        detail = f"{purpose} on {channel} already revoked ({current.get('source') or 'opt-out'})"
        s.notes.append(Note("opt_out", f"provider.opt_out: {what} again; {detail}", data=data))
        return
    source = f"provider:{what}:{channel}"
    s.state = replace(
        s.state,
        consent=consent.grant(s.state.consent, channel, purpose, "revoked", source, s.now),
    )
    s.notes.append(
        Note(
            "opt_out",
            f"provider.opt_out: {what} on {channel}; {purpose} suppressed on {channel}; "
            "no confirmation",
            data={**data, "purpose": purpose},
        )
    )


def _opt_out(s: Session, channel: str, word: str) -> None:
    already = consent.opted_out(s.state.consent, channel)
    if already is not None:
        s.notes.append(
            Note(
                "opt_out",
                f"keywords.opt_out: {word!r} again; already opted out "
                f"({already.get('source')}); no second confirmation",
                data={"rule": "keywords.opt_out"},
            )
        )
        return
    scope = _revoke(s, channel, f"keyword:{word}:{channel}")
    s.notes.append(
        Note(
            "opt_out",
            f"keywords.opt_out: {word!r} on {channel}; suppressed on {scope}",
            data={"rule": "keywords.opt_out"},
        )
    )
    _confirm(s, channel, s.catalogue.policy.keywords.confirm_opt_out, "opt_out")


def _revoke(s: Session, channel: str, source: str) -> str:
    """End the customer's runs and revoke consent on ``channel`` (on every channel when the
    policy's keyword scope is ``all_channels``); give the scope suppressed, for the note."""
    everywhere = s.catalogue.policy.keywords.scope == "all_channels"
    for run in (s.state.run, s.state.suspended):
        if run is not None:
            s.end_run(run, None)  # cancels its timers, the run's expiry included
            s.notes.append(
                Note("run_ended", "the customer opted out", run.flow_id, run.flow_version, run.step)
            )
    s.state = replace(
        s.state,
        run=None,
        suspended=None,
        current_flow=None,
        consent=consent.revoke(s.state.consent, channel, everywhere, source, s.now),
    )
    return "every channel" if everywhere else channel


def _opt_in(s: Session, channel: str, word: str) -> None:
    s.state = replace(
        s.state,
        consent=consent.restore(s.state.consent, channel, f"keyword:{word}:{channel}", s.now),
    )
    s.notes.append(
        Note(
            "opt_in",
            f"keywords.opt_in: {word!r} on {channel}; opt-out lifted",
            data={"rule": "keywords.opt_in"},
        )
    )
    _confirm(s, channel, s.catalogue.policy.keywords.confirm_opt_in, "opt_in")


def _confirm(s: Session, channel: str, texts: dict[str, str], kind: str) -> None:
    to = s.state.identities.get(channel)
    if to is None or not texts:
        return
    language = s.state.language or s.event.locale or "en"
    text = texts.get(language) or texts.get(language.split("-")[0]) or next(iter(texts.values()))
    s.decide(
        SendMessage(
            message_id=derive_id("msg", s.event.event_id, kind),
            channel=channel,
            to=to,
            sender=s.event.recipient,
            text=text,
            purpose="transactional",
            flow_id="policy",
            flow_version=1,
            step=kind,
            policy_rule=f"keywords.{kind}.confirmation",
        )
    )
