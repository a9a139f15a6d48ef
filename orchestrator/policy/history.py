"""What was sent to a customer recently, for caps, dedupe and the loop guard.

At decision time the history comes from the customer's state (one customer's events are
decided in order, on one partition); at send time the dispatcher counts in Redis, atomically
across workers, with the same rules.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from orchestrator.policy.spec import CapSpec, Policy

KEEP = timedelta(days=31)
KEEP_MAX = 500


@dataclass(frozen=True, slots=True)
class Sent:
    """One message sent (or queued) to the customer."""

    at: datetime
    channel: str
    purpose: str
    template: str
    text_hash: str
    run_id: str = ""

    def to_dict(self) -> dict[str, str]:
        """Plain JSON."""
        return {
            "at": self.at.isoformat(),
            "channel": self.channel,
            "purpose": self.purpose,
            "template": self.template,
            "text_hash": self.text_hash,
            "run_id": self.run_id,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Sent:
        """The inverse of :meth:`to_dict`."""
        return cls(
            datetime.fromisoformat(str(doc["at"])),
            str(doc["channel"]),
            str(doc["purpose"]),
            str(doc["template"]),
            str(doc["text_hash"]),
            str(doc.get("run_id", "")),
        )


def text_hash(text: str) -> str:
    """A short stable digest of a message text."""
    return hashlib.sha256(text.strip().casefold().encode()).hexdigest()[:16]


def trimmed(log: Iterable[Mapping[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The log without entries too old to matter, newest last, bounded in size."""
    kept = [dict(e) for e in log if datetime.fromisoformat(str(e["at"])) > now - KEEP]
    return kept[-KEEP_MAX:]


def cap_key_matches(cap: CapSpec, purpose: str, channel: str, sent: Sent) -> bool:
    """Whether ``sent`` counts towards ``cap`` for a new message on ``channel``."""
    if cap.purpose != "any" and sent.purpose != cap.purpose:
        return False
    return cap.channel == "all" or sent.channel == channel


def caps_for(policy: Policy, purpose: str) -> list[CapSpec]:
    """The caps that apply to a ``purpose`` message."""
    return [c for c in policy.caps if c.purpose in ("any", purpose)]


def over_cap(
    cap: CapSpec, purpose: str, channel: str, history: Sequence[Sent], now: datetime
) -> datetime | None:
    """``None`` when one more message fits ``cap``; else when the oldest counted one leaves
    the window (the earliest a deferred message may go)."""
    counted = sorted(
        s.at
        for s in history
        if s.at > now - cap.window and cap_key_matches(cap, purpose, channel, s)
    )
    if len(counted) < cap.limit:
        return None
    if cap.limit == 0 or not counted:
        return now + cap.window
    return counted[len(counted) - cap.limit] + cap.window
