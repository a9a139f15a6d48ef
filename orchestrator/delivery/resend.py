"""An operator's re-send of a send whose outcome stayed unknown (pure).

``continuum dispatch resend --unknown`` (:mod:`orchestrator.commands.dispatch`) re-sends, on an
operator's decision, the sends no provider could confirm. Each is published again as a new
``message.send`` whose message id is derived from the original (``<id>.r1``: deterministic, so
that a second run, or a run that died half way, is refused by the send ledger as a duplicate,
and the customer gets the message at most once more), carrying the original's id in the
CloudEvent extension attribute ``resendof``. A send whose entry in the send ledger is no longer
``unknown`` (a receipt or the reconciler made it known meanwhile) is never re-sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

RESEND_OF = "resendof"
"""The CloudEvent extension attribute of a re-sent ``message.send``: the original message id."""
SUFFIX = ".r1"
_DROPPED = ("dispatchattempt",)  # the re-send starts its attempts again


def resend_id(message_id: str) -> str:
    """The message id of the re-send of ``message_id``."""
    return message_id + SUFFIX


def still_unknown(entries: Sequence[Mapping[str, Any] | None]) -> list[bool]:
    """Whether each send ledger entry says the send is still unknown (may be re-sent)."""
    return [entry is not None and entry.get("state") == "unknown" for entry in entries]


def resend_event(original: Mapping[str, Any], at: datetime) -> dict[str, Any]:
    """The re-send of an original ``message.send`` event (a JSON object, as stored in the
    index): a new id (event and message), ``resendof`` naming the original, the time ``at``."""
    data = dict(original.get("data") or {})
    message_id = str(data.get("message_id") or original["id"])
    data["message_id"] = resend_id(message_id)
    event = {k: v for k, v in original.items() if k not in _DROPPED}
    event.update({"id": resend_id(str(original["id"])), "time": at.isoformat(), "data": data})
    event[RESEND_OF] = message_id
    return event
