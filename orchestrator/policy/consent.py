"""Consent per channel and purpose, with its source and time.

``state.consent`` is ``{channel or "all": {purpose or "all": {"status", "source", "at"}}}``.
Statuses: ``granted``, ``confirmed`` (the second step of a double opt-in) and ``revoked``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from orchestrator.policy.spec import Policy

ALL = "all"


def record(status: str, source: str, at: datetime) -> dict[str, Any]:
    """One consent record."""
    return {"status": status, "source": source, "at": at.isoformat()}


def opted_out(consent: dict[str, Any], channel: str) -> dict[str, Any] | None:
    """The opt-out record that suppresses ``channel`` (everywhere, or on it), if any."""
    for scope in (ALL, channel):
        entry = consent.get(scope, {}).get(ALL)
        if entry and entry.get("status") == "revoked":
            return dict(entry)
    return None


def check(policy: Policy, consent: dict[str, Any], channel: str, purpose: str) -> tuple[bool, str]:
    """Whether a ``purpose`` message may go on ``channel``, and why (or why not)."""
    stopped = opted_out(consent, channel)
    if stopped is not None:
        if purpose == "transactional" and policy.consent.transactional_after_opt_out:
            return True, "transactional messages are allowed after an opt-out by this policy"
        return False, f"opted out ({stopped.get('source')} at {stopped.get('at')})"
    need = policy.consent.require.get(purpose, "explicit")  # type: ignore[call-overload]
    entry = consent.get(channel, {}).get(purpose) or consent.get(ALL, {}).get(purpose)
    status = entry.get("status") if entry else None
    if status == "revoked":
        return False, f"{purpose} consent revoked ({entry.get('source')} at {entry.get('at')})"
    if need in ("none", "implied"):
        return True, f"{purpose} needs {'no' if need == 'none' else 'implied'} consent"
    wanted = "confirmed" if channel in policy.consent.double_opt_in else None
    if status == "confirmed" or (status == "granted" and wanted is None):
        return True, f"{purpose} consent {status} ({entry.get('source')} at {entry.get('at')})"
    if status == "granted":
        return False, f"{purpose} consent on {channel} needs a double opt-in confirmation"
    return False, f"no {purpose} consent on {channel}"


def revoked_since(
    consent: dict[str, Any], channel: str, purpose: str, since: datetime
) -> dict[str, Any] | None:
    """A revocation covering ``purpose`` on ``channel`` recorded at or after ``since``, if any:
    an opt-out (on ``all`` or the channel) or a revoked purpose (on the channel or ``all``).

    A record without a readable time is taken as older (every record Continuum writes has one).
    """
    for scope, what in ((ALL, ALL), (channel, ALL), (channel, purpose), (ALL, purpose)):
        entry = consent.get(scope, {}).get(what)
        if entry and entry.get("status") == "revoked":
            at = _time(entry.get("at"))
            if at is not None and at >= since:
                return dict(entry)
    return None


def _time(value: object) -> datetime | None:
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def revoke(
    consent: dict[str, Any], channel: str, everywhere: bool, source: str, at: datetime
) -> dict[str, Any]:
    """Consent after an opt-out on ``channel`` (suppressing every channel when ``everywhere``)."""
    scope = ALL if everywhere else channel
    return {**consent, scope: {**consent.get(scope, {}), ALL: record("revoked", source, at)}}


def restore(consent: dict[str, Any], channel: str, source: str, at: datetime) -> dict[str, Any]:
    """Consent after an opt-in keyword: the opt-out that covered ``channel`` is lifted."""
    updated = dict(consent)
    for scope in (ALL, channel):
        entries = dict(updated.get(scope, {}))
        if entries.get(ALL, {}).get("status") == "revoked":
            entries[ALL] = record("restored", source, at)
            updated[scope] = entries
    return updated


def grant(
    consent: dict[str, Any], channel: str, purpose: str, status: str, source: str, at: datetime
) -> dict[str, Any]:
    """Consent after a flow records a customer's answer."""
    return {**consent, channel: {**consent.get(channel, {}), purpose: record(status, source, at)}}
