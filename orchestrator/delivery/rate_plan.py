"""Which rate buckets a message draws on, at what cost, and in which lane. PURE.

A provider's published limits are per account (Twilio's account and its short codes and
messaging services, a Vonage API key, a SendGrid account, a WhatsApp business phone number) and
per sender (a Twilio long code: 1 segment a second). :class:`ProviderLimit` says both for one
configured provider (built from ``CONTINUUM_RATE_LIMITS__*``:
:func:`orchestrator.workers.dispatch_limits.provider_limits`), and :func:`plan` turns one
message into a :class:`Take`: its buckets, its cost (SMS in segments:
:mod:`orchestrator.delivery.segments`; anything else 1) and its lane.

Two lanes per outbound channel: ``reply`` (replies, transactional and service messages) and
``bulk`` (the purposes in :data:`BULK_PURPOSES`: marketing). Bulk may only take while the bucket
keeps a reserve of ``1 - bulk_share`` of its size for replies, so a marketing campaign never
starves a reply; a bucket holds ``burst_s`` seconds of its rate, and at least ``1 / bulk_share``
units so that bulk can take one message from a full bucket while a reply still finds room.

Example::

    twilio = ProviderLimit("sms.twilio", "AC1", account_rate=100,
                           sender_rates={"long_code": 1}, unit="segment")
    take = plan(twilio, sender="+15559990000", text="Hi", purpose="marketing")
    assert take is not None and take.lane == "bulk" and take.cost == 1
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from orchestrator.delivery.segments import count_segments

Lane = Literal["reply", "bulk"]
LANES: tuple[Lane, ...] = ("reply", "bulk")
BULK_PURPOSES = frozenset({"marketing"})
"""The purposes (:data:`orchestrator.vocabulary.PURPOSES`) that travel in the bulk lane; the
others (``transactional``, ``service``: replies, receipts, one-time codes) go ahead of them."""

SenderKind = Literal["long_code", "toll_free", "short_code", "alphanumeric"]
Unit = Literal["segment", "message"]

_TOLL_FREE = re.compile(r"^\+1(800|833|844|855|866|877|888)\d{7}$")
_LONG_CODE = re.compile(r"^\+?\d{7,15}$")
_SHORT_CODE = re.compile(r"^\d{3,6}$")


def lane_of(purpose: str | None) -> Lane:
    """``bulk`` for a marketing message, ``reply`` for any other purpose."""
    return "bulk" if purpose in BULK_PURPOSES else "reply"


def sender_kind(sender: str) -> SenderKind:
    """What kind of sender an address is: a US/Canada toll-free number, a long code (an
    E.164 number), a short code (3 to 6 digits, no ``+``) or an alphanumeric sender id."""
    compact = sender.replace(" ", "").replace("-", "")
    if _TOLL_FREE.match(compact):
        return "toll_free"
    if _SHORT_CODE.match(compact):
        return "short_code"
    if _LONG_CODE.match(compact):
        return "long_code"
    return "alphanumeric"


@dataclass(frozen=True, slots=True)
class Bucket:
    """One rate: ``rate`` units a second, holding at most ``burst`` units.

    ``scope`` is ``account`` or ``sender:<address>``; every bucket of one account shares the
    account's Redis hash tag, so one script checks a message's buckets together.
    """

    provider: str
    account: str
    scope: str
    rate: float
    burst: float

    @property
    def kind(self) -> str:
        """``account`` or ``sender`` (a ledger and log label; never a metric label)."""
        return self.scope.partition(":")[0]

    @property
    def ident(self) -> str:
        """The bucket's name in the ledger: ``sms.twilio:AC1:sender:+15559990000``."""
        return f"{self.provider}:{self.account}:{self.scope}"


@dataclass(frozen=True, slots=True)
class Take:
    """What one message asks of the limiter: ``cost`` units from every bucket, or none."""

    buckets: tuple[Bucket, ...]
    cost: int
    lane: Lane


@dataclass(frozen=True, slots=True)
class ProviderLimit:
    """One configured provider's limits. A rate of 0 is no limit.

    Attributes:
        provider: its ``channel_type`` (``sms.twilio``).
        account: the account the limits belong to (a Twilio account SID, a Meta phone number
            id, a Vonage API key); never a secret, as it is part of a Redis key.
        account_rate: units a second for the whole account.
        sender_rates: units a second per sender, by :func:`sender_kind`; a kind not listed has
            no sender bucket (a short code shares the account's rate).
        default_sender: the sender of a message that names none (None: the provider picks,
            as a Twilio messaging service does: then there is no sender bucket).
        unit: ``segment`` (SMS: :func:`~orchestrator.delivery.segments.count_segments`) or
            ``message``.
    """

    provider: str
    account: str
    account_rate: float = 0.0
    sender_rates: Mapping[SenderKind, float] = field(default_factory=dict)
    default_sender: str | None = None
    unit: Unit = "message"


def burst_of(rate: float, burst_s: float, bulk_share: float) -> float:
    """A bucket's size: ``burst_s`` seconds of ``rate``, at least one unit, and at least
    ``1 / bulk_share`` so that bulk can take a unit and leave the replies' reserve."""
    return max(rate * burst_s, 1.0, 1.0 / bulk_share)


def cost_of(unit: Unit, text: str) -> int:
    """The units one message costs: its segments, or 1."""
    return count_segments(text) if unit == "segment" else 1


def plan(
    limit: ProviderLimit,
    *,
    sender: str | None,
    text: str,
    purpose: str | None,
    burst_s: float = 1.0,
    bulk_share: float = 0.8,
) -> Take | None:
    """The buckets, cost and lane of one message through ``limit``'s provider; None when no
    bucket limits it."""
    rates: list[tuple[str, float]] = []
    if limit.account_rate > 0:
        rates.append(("account", limit.account_rate))
    who = sender or limit.default_sender
    if who:
        rate = limit.sender_rates.get(sender_kind(who), 0.0)
        if rate > 0:
            rates.append((f"sender:{who}", rate))
    if not rates:
        return None
    buckets = tuple(
        Bucket(limit.provider, limit.account, scope, rate, burst_of(rate, burst_s, bulk_share))
        for scope, rate in rates
    )
    return Take(buckets, cost_of(limit.unit, text), lane_of(purpose))
