"""Topic names, all under one configurable prefix."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.delivery.rate_plan import lane_of
from orchestrator.media import MEDIA

BULK_SUFFIX = ".bulk"


@dataclass(frozen=True, slots=True)
class Topics:
    """Every topic Continuum reads or writes."""

    prefix: str = "continuum."

    def inbound(self, channel: str) -> str:
        """Inbound messages of one channel, keyed by sender address."""
        return f"{self.prefix}inbound.{channel}"

    def outbound(self, channel: str) -> str:
        """``message.send`` commands for one channel, keyed by customer id: the reply lane
        (replies, transactional and service messages)."""
        return f"{self.prefix}outbound.{channel}"

    def outbound_bulk(self, channel: str) -> str:
        """The bulk lane of one channel's ``message.send`` commands (marketing), consumed by
        a dispatcher of its own so that a bulk batch never holds a reply."""
        return f"{self.outbound(channel)}{BULK_SUFFIX}"

    def outbound_for(self, channel: str, purpose: str | None) -> str:
        """The outbound topic of a message of ``purpose``: its lane's
        (:func:`orchestrator.delivery.rate_plan.lane_of`)."""
        bulk = lane_of(purpose) == "bulk"
        return self.outbound_bulk(channel) if bulk else self.outbound(channel)

    @property
    def customer(self) -> str:
        """Inbound messages re-keyed by customer id."""
        return f"{self.prefix}customer"

    @property
    def events(self) -> str:
        """Business events."""
        return f"{self.prefix}events"

    @property
    def agent_tasks(self) -> str:
        """Conversations handed to agent queues."""
        return f"{self.prefix}agent.tasks"

    @property
    def status(self) -> str:
        """Provider delivery receipts."""
        return f"{self.prefix}status"

    @property
    def audit(self) -> str:
        """Audit records, on their way to the ledger."""
        return f"{self.prefix}audit"

    @property
    def dlq(self) -> str:
        """Records that could not be processed, with the reason."""
        return f"{self.prefix}dlq"

    def all(self) -> list[str]:
        """Every topic, for creation at start."""
        per_channel = [
            t for c in MEDIA for t in (self.inbound(c), self.outbound(c), self.outbound_bulk(c))
        ]
        return [
            *per_channel,
            self.customer,
            self.events,
            self.status,
            self.audit,
            self.dlq,
            self.agent_tasks,
        ]

    def external(self) -> frozenset[str]:
        """The topics that clients other than Continuum produce to: the inbound channels and
        business events. Their consumers never sleep (nothing rings for their records)."""
        return frozenset([*(self.inbound(c) for c in MEDIA), self.events])

    def channel_of(self, topic: str) -> str:
        """The channel a per-channel topic belongs to (its last dotted part, the bulk lane's
        suffix aside)."""
        return topic.removesuffix(BULK_SUFFIX).rsplit(".", 1)[-1]
