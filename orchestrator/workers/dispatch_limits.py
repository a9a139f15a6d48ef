"""The provider rate limits in the dispatcher: which sends may go now, what the others become.

The dispatcher asks once per batch, in the pipeline that claims its sends (round trip 3 of
:mod:`orchestrator.workers.dispatcher`): :meth:`DispatchLimits.queue` puts one take per send on
it and :meth:`DispatchLimits.read` reads the grants (one more round trip only if Redis had lost
the script). A send the limiter refuses is not sent and holds nothing up: its claim is released
and its original record (attempt number and all: a refusal is not an attempt) goes to the
deferred queue, due when its bucket has room (:meth:`DispatchLimits.deferral`), with one
``rate_limited`` ledger row per message and bucket. A provider's 429 (``Throttled``) empties the
bucket until its ``Retry-After`` (:meth:`DispatchLimits.feed_throttles`), so the other
dispatchers slow down too.

Example::

    limits = DispatchLimits(RateLimiter(redis, s.rate_limits), provider_limits(s),
                            s.rate_limits, metrics)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from channels.errors import Throttled
from orchestrator.delivery.rate_plan import ProviderLimit, Take, plan
from orchestrator.events import AuditRecord, MessageSend
from orchestrator.ledger.records import audit
from orchestrator.metrics import Metrics
from orchestrator.settings import RateLimitSettings, Settings
from orchestrator.state.deferred import DeferredSend
from orchestrator.state.rate_limits import GRANTED, Grant, RateLimiter
from orchestrator.workers.base import Record
from orchestrator.workers.outcomes import Outcome
from orchestrator.workers.send_guard import command_fields

STEP = "rate_limited"
"""The ledger step of a send the rate limits deferred."""


def provider_limits(settings: Settings) -> dict[str, ProviderLimit]:
    """Each provider's limits, by channel type, from ``CONTINUUM_RATE_LIMITS__*`` and the
    provider's own settings (its account and default sender)."""
    r, twilio, vonage = settings.rate_limits, settings.twilio, settings.vonage
    return {
        "sms.twilio": ProviderLimit(
            "sms.twilio",
            twilio.account_sid,
            r.twilio_account_mps,
            {"long_code": r.twilio_long_code_mps, "toll_free": r.twilio_toll_free_mps},
            # a messaging service picks the sender itself: then only the account is limited
            None if twilio.messaging_service_sid else twilio.from_number,
            "segment",
        ),
        "sms.vonage": ProviderLimit(
            "sms.vonage",
            vonage.api_key,
            r.vonage_account_mps,
            {"long_code": r.vonage_long_code_mps},
            vonage.from_number,
            "message",  # the SMS API's limit is in requests: one per message
        ),
        "whatsapp.meta": ProviderLimit(
            "whatsapp.meta", settings.meta.phone_number_id, r.meta_number_mps
        ),
        "email.sendgrid": ProviderLimit("email.sendgrid", "default", r.sendgrid_account_mps),
    }


@dataclass(frozen=True, slots=True)
class Queued:
    """The takes one batch queued on a pipeline, for :meth:`DispatchLimits.read`."""

    takes: list[Take | None]
    todo: list[int]
    now: datetime


class DispatchLimits:
    """The dispatcher's view of the rate limits: plans, takes, refusals, throttles."""

    def __init__(
        self,
        limiter: RateLimiter,
        limits: Mapping[str, ProviderLimit],
        settings: RateLimitSettings,
        metrics: Metrics,
    ) -> None:
        self._limiter, self._limits = limiter, limits
        self._settings, self._metrics = settings, metrics

    def take(self, cmd: MessageSend, provider: str | None) -> Take | None:
        """What ``cmd`` asks of its provider's buckets (None: not limited)."""
        limit = self._limits.get(provider or "")
        if limit is None:
            return None
        s = self._settings
        return plan(
            limit,
            sender=cmd.sender,
            text=cmd.text,
            purpose=cmd.purpose,
            burst_s=s.burst_s,
            bulk_share=s.bulk_share,
        )

    def queue(
        self, pipe: Any, sends: Sequence[tuple[MessageSend, str | None]], now: datetime
    ) -> Queued:
        """Queue on ``pipe`` the takes of (command, provider) pairs, in order."""
        takes = [self.take(cmd, provider) for cmd, provider in sends]
        return Queued(takes, self._limiter.queue(pipe, takes, now), now)

    async def read(self, queued: Queued, results: Sequence[Any]) -> list[Grant]:
        """The grants of :meth:`queue`'s takes, one per pair; if Redis had lost the script,
        taken again in a round trip of their own."""
        grants = self._limiter.read(queued.takes, queued.todo, results)
        if grants is None:
            grants = await self._limiter.take_many(queued.takes, queued.now)
        return grants

    def deferral(
        self, record: Record, cmd: MessageSend, grant: Grant, provider: str | None, now: datetime
    ) -> Outcome:
        """The outcome of a refused, claimed send: the claim released, the original record
        deferred to ``grant.retry_at``, a ``rate_limited`` row (one per message and bucket)."""
        bucket, due = grant.bucket, grant.retry_at or now
        ident = bucket.ident if bucket else "unknown"
        row = audit(
            STEP,
            bucket.kind if bucket else "bucket",
            identity=(cmd.message_id, ident),
            at=now,
            **command_fields(cmd),
            provider=provider,
            reason=f"rate limit of {ident}: deferred to {due.isoformat()}",
            detail={"bucket": ident, "retry_at": due.isoformat()},
        )
        value = (record.value or b"").decode()
        retry = DeferredSend(cmd.message_id, cmd.customer_id, cmd.channel, due, value)
        take = self.take(cmd, provider)
        lane = take.lane if take else "reply"
        self._metrics.rate_limited_total.labels(provider or "none", lane).inc()
        return Outcome(cmd.message_id, None, provider or "none", (), row, retry)

    async def feed_throttles(
        self, sends: Sequence[tuple[MessageSend, str | None, AuditRecord | None]], now: datetime
    ) -> None:
        """Empty the buckets of the sends a provider throttled (their ledger row's outcome is
        ``connection_throttled``) until their ``Retry-After`` (else ``throttle_s``), at most
        ``throttle_max_s``; one round trip, none if there was no 429."""
        s = self._settings
        penalties = []
        for cmd, provider, row in sends:
            if row is None or row.outcome != Throttled.code:
                continue
            take = self.take(cmd, provider)
            if take is None:
                continue
            after = (row.detail or {}).get("retry_after_s") or s.throttle_s
            until = now + timedelta(seconds=min(float(after), s.throttle_max_s))
            penalties += [(bucket, until) for bucket in take.buckets]
            self._metrics.rate_throttled_total.labels(provider or "none").inc()
        await self._limiter.penalise_many(penalties, now)


__all__ = ["GRANTED", "STEP", "DispatchLimits", "Queued", "provider_limits"]
