"""A second delivery of a message the send ledger already has: it is never sent again.

What the ledger held decides what is recorded: ``blocked`` (by the contact policy) records the
block again under the same id, in case the first attempt ended before its record was confirmed;
``pending`` (an attempt died between claiming and recording, so the provider may or may not have
the message) becomes ``unknown``; anything else is a refused duplicate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchestrator.events import MessageSend, parse_envelope
from orchestrator.ledger.records import audit
from orchestrator.policy.send_time import SendCheck
from orchestrator.state.protocols import EventPublisher
from orchestrator.workers.base import Record, position
from orchestrator.workers.outcomes import Outcome
from orchestrator.workers.send_guard import SendGuard


async def refuse_resend(
    pub: EventPublisher,
    guard: SendGuard,
    record: Record,
    cmd: MessageSend,
    previous: dict[str, Any],
    at: datetime,
) -> tuple[str, Outcome | None]:
    """Record why ``cmd`` is not sent again; return the outcome for the stage metrics, and for
    a ``pending`` entry the ``unknown`` outcome to write with the batch's outcomes."""
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
