"""Linking an address to a customer, and merging two customers found to be one person. PURE.

The events worker (:mod:`orchestrator.workers.events`) does the Redis side (identity keys, the
``ct:merged:{old}`` redirect) and then sends each customer's own engine an event, so that each
state keeps one writer, its decision worker:

- ``identity.link`` to the survivor: ``data`` holds ``channel`` and ``address`` (added to
  ``identities``) and, for a merge, ``merged``: the other customer's state as the events worker
  read it, merged in by :func:`merge_states`;
- ``identity.merged`` to the other customer: its runs (active and suspended) end, their
  timers are cancelled, and ``merged_into`` names the survivor.

Both are system events: they start no flow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from orchestrator.engine.decisions import Note
from orchestrator.engine.handling import Handling
from orchestrator.engine.model import CustomerState, Event

LINK = "identity.link"
MERGED = "identity.merged"
SYSTEM_EVENTS = frozenset({LINK, MERGED})

CONSENT_ORDER = ("revoked", "granted", "confirmed", "restored")
"""Consent statuses from the strictest: of two records for one (scope, purpose), a merge keeps
the one that comes first here (an opt-out beats an opt-in; a single opt-in beats a confirmed
double opt-in). A status not listed counts as the loosest."""


def is_system(event: Event) -> bool:
    """Whether ``event`` is ``identity.link`` or ``identity.merged``."""
    return event.kind == "event" and event.name in SYSTEM_EVENTS


def handle(s: Handling) -> bool:
    """Apply a system identity event; ``False`` when the event is not one."""
    event = s.event
    if not is_system(event):
        return False
    if event.name == LINK:
        _link(s, event.data)
    else:
        _merged_away(s, str(event.data.get("survivor") or ""))
    return True


def _link(s: Handling, data: Mapping[str, Any]) -> None:
    merged = data.get("merged")
    if isinstance(merged, Mapping):
        other = CustomerState.from_dict(merged)
        s.state = merge_states(s.state, other)
        s.notes.append(Note("customer_merged", f"{other.customer_id} merged into this customer"))
    channel, address = data.get("channel"), data.get("address")
    if isinstance(channel, str) and isinstance(address, str) and channel and address:
        s.state = replace(s.state, identities={**s.state.identities, channel: address})
        s.notes.append(Note("identity_linked", f"{channel}:{address}"))


def _merged_away(s: Handling, survivor: str) -> None:
    for run in (s.state.run, s.state.suspended):
        if run is not None:
            s.end_run(run, None)  # cancels its timers, the run's expiry included
            s.notes.append(
                Note(
                    "run_ended",
                    f"the customer was merged into {survivor}",
                    run.flow_id,
                    run.flow_version,
                    run.step,
                )
            )
    s.state = replace(
        s.state, run=None, suspended=None, current_flow=None, merged_into=survivor or None
    )


def merge_states(survivor: CustomerState, other: CustomerState) -> CustomerState:
    """``other`` merged into ``survivor``, under the rules in docs/architecture.md:

    - consent: per (scope, purpose), the strictest record (:data:`CONSENT_ORDER`); a record
      only one side has is kept;
    - fields, stage, preferred channel, language, timezone, last channel and contact: the
      state has one update time (``last_contact``), so the newer state's value wins, and the
      other's fills what the newer one lacks (fields: per key);
    - identities: the union; on a channel both have, the survivor's address stays in the state
      (the other address still resolves to the survivor through its identity key);
    - tags, flow history, last inbound per channel, recent sends: the union (latest times);
      message counts add up;
    - runs: the survivor's; the other customer's end (``identity.merged``).
    """
    newer, older = (
        (other, survivor)
        if _time(other.last_contact) > _time(survivor.last_contact)
        else (survivor, other)
    )
    sent_log = sorted(
        {tuple(sorted(e.items())): e for e in (*survivor.sent_log, *other.sent_log)}.values(),
        key=lambda e: str(e.get("at", "")),
    )
    return replace(
        survivor,
        last_channel=newer.last_channel or older.last_channel,
        last_contact=newer.last_contact or older.last_contact,
        message_count=survivor.message_count + other.message_count,
        fields={**older.fields, **newer.fields},
        identities={**other.identities, **survivor.identities},
        tags=tuple(dict.fromkeys((*survivor.tags, *other.tags))),
        stage=newer.stage or older.stage,
        preferred_channel=newer.preferred_channel or older.preferred_channel,
        language=newer.language or older.language,
        timezone=newer.timezone or older.timezone,
        consent=merge_consent(survivor.consent, other.consent),
        last_inbound=_latest(survivor.last_inbound, other.last_inbound),
        sent_log=tuple(sent_log),
        flow_history=_latest(survivor.flow_history, other.flow_history),
        merged_into=None,
    )


def merge_consent(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Per scope and purpose, the stricter of the two records (:data:`CONSENT_ORDER`)."""
    merged: dict[str, Any] = {}
    for scope in dict.fromkeys((*a, *b)):
        left, right = dict(a.get(scope) or {}), dict(b.get(scope) or {})
        entries: dict[str, Any] = {}
        for purpose in dict.fromkeys((*left, *right)):
            x, y = left.get(purpose), right.get(purpose)
            entries[purpose] = y if x is None else x if y is None else _stricter(x, y)
        merged[scope] = entries
    return merged


def _stricter(x: Mapping[str, Any], y: Mapping[str, Any]) -> Mapping[str, Any]:
    rank_x, rank_y = _rank(x.get("status")), _rank(y.get("status"))
    if rank_x != rank_y:
        return x if rank_x < rank_y else y
    return x if _time(x.get("at")) >= _time(y.get("at")) else y  # same status: the newer


def _rank(status: object) -> int:
    return CONSENT_ORDER.index(status) if status in CONSENT_ORDER else len(CONSENT_ORDER)


def _latest(a: Mapping[str, str], b: Mapping[str, str]) -> dict[str, str]:
    out = dict(a)
    for key, value in b.items():
        if key not in out or _time(value) > _time(out[key]):
            out[key] = value
    return out


def _time(value: object) -> datetime:
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
