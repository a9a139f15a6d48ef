"""A second delivery of a message the send ledger already has: it is never sent again.

What the ledger held decides what is recorded: ``blocked`` (by the contact policy) records the
block again under the same id, in case the first attempt ended before its record was confirmed;
``pending`` (an attempt died between claiming and recording, so the provider may or may not have
the message) becomes ``unknown``; anything else is a refused duplicate.

A dispatcher writes a batch's outcomes to the send ledger first and confirms their ledger rows
with the broker after; one killed in between (SIGKILL) loses the rows, and the redelivered batch
finds the outcomes already recorded. So a send ledger entry the dispatcher itself settled
(``accepted``, ``rejected`` or ``unknown``) has its outcome row written again under the same id
(:data:`REPLAYED`): the ledger keeps one row per id, so a row that did arrive is not doubled.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchestrator.events import AuditRecord, MessageSend, parse_envelope
from orchestrator.ledger.records import audit
from orchestrator.policy.send_time import SendCheck
from orchestrator.state.protocols import EventPublisher
from orchestrator.workers.base import Record, position
from orchestrator.workers.outcomes import Outcome
from orchestrator.workers.send_guard import SendGuard, command_fields

REPLAYED = {
    "accepted": "provider_accepted",
    "rejected": "provider_rejected",
    "unknown": "provider_unknown",
}
"""The send ledger states whose outcome row a redelivery writes again, and that row's step (the
dispatcher's: ``provider_failed`` rows are one per attempt, and the attempt is not kept)."""
_SETTLED_ELSEWHERE = ("reconciled", "receipt")
"""Codes of entries made ``accepted`` by the reconciler or a receipt, which wrote rows of their
own (``provider_reconciled``). Such an entry was ``unknown`` first, and the dispatcher's row for
that (``provider_unknown``) is the one written again: a dispatcher killed after recording the
``unknown`` but before its row was confirmed loses the row, and the reconciler beside the next
dispatcher can settle the entry before the redelivered batch comes back."""


async def refuse_resend(
    pub: EventPublisher,
    guard: SendGuard,
    record: Record,
    cmd: MessageSend,
    previous: dict[str, Any],
    at: datetime,
    *,
    stored: bool = False,
) -> tuple[str, Outcome | None]:
    """Record why ``cmd`` is not sent again; return the outcome for the stage metrics, and for
    a ``pending`` entry the ``unknown`` outcome to write with the batch's outcomes. ``stored``:
    ``previous`` is the send ledger's entry (not what this batch made of an earlier copy), so
    its outcome row is written again (:data:`REPLAYED`)."""
    was = previous.get("state", "unknown")
    about: dict[str, Any] = {
        "at": at,
        "customer_id": cmd.customer_id,
        "channel": cmd.channel,
        "address": cmd.to,
        "message_id": cmd.message_id,
        "provider": previous.get("provider"),
    }
    if was == "blocked":
        check = SendCheck("block", str(previous.get("code")), str(previous.get("reason")))
        await guard.record(cmd, check, at, count=False)
        return "blocked", None
    if was == "pending":
        unknown = {**previous, "state": "unknown"}
        row = audit(
            "provider_unknown",
            "unknown",
            identity=(cmd.message_id,),
            **about,
            reason="an earlier attempt ended before its result was recorded",
        )
        event = parse_envelope(record.value or b"", record.headers)  # read once already
        return "unknown", Outcome(cmd.message_id, unknown, "none", (), row, command=event)
    if stored and was in REPLAYED:
        if previous.get("code") in _SETTLED_ELSEWHERE:
            was_unknown = {"provider": previous.get("provider"), "code": "unknown"}
            await pub.audit(_replayed(cmd, was_unknown, "provider_unknown", at))
        else:
            await pub.audit(_replayed(cmd, previous, REPLAYED[was], at))
    await pub.audit(
        audit(
            "duplicate_send_refused",
            was,
            identity=(cmd.message_id, position(record)),
            **about,
            reason=f"the send ledger already has this message as {was}",
        )
    )
    return "duplicate", None


def _replayed(cmd: MessageSend, entry: dict[str, Any], step: str, at: datetime) -> AuditRecord:
    """The outcome row the dispatcher wrote when it settled ``entry``, under the same id."""
    external_ids = entry.get("external_ids") or ()
    when = entry.get("accepted_at")
    return audit(
        step,
        str(entry.get("code") or entry.get("state")),
        identity=(cmd.message_id,),
        at=datetime.fromisoformat(when) if isinstance(when, str) else at,
        **command_fields(cmd),
        provider=entry.get("provider"),
        external_id=str(external_ids[0]) if external_ids else None,
        reason="recorded again: the first attempt may have ended before its record was confirmed",
    )
