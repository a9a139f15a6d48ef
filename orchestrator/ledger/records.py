"""Building audit records with deterministic ids."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orchestrator.engine.decisions import derive_id
from orchestrator.events import AuditRecord
from orchestrator.provenance import NO_FLOW, Provenance


def audit(
    step: str,
    outcome: str,
    *,
    identity: tuple[str, ...],
    at: datetime,
    customer_id: str | None = None,
    channel: str | None = None,
    address: str | None = None,
    event_id: str | None = None,
    message_id: str | None = None,
    provenance: Provenance = NO_FLOW,
    provider: str | None = None,
    external_id: str | None = None,
    reason: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditRecord:
    """An audit record for ``step``; ``identity`` makes its id, so a replay writes the same id.

    The outcome is not part of the id: a replay that sees a different outcome (a customer found
    ``existing`` where the first pass ``created`` it) must not add a second record. Every field
    is a keyword of its own (a misspelt one is a ``TypeError``); ``provenance`` fills the
    record's ``flow_id``, ``flow_version`` and ``flow_step``.
    """
    return AuditRecord(
        record_id=derive_id("aud", step, *identity),
        occurred_at=at,
        step=step,
        outcome=outcome,
        customer_id=customer_id,
        channel=channel,
        address=address,
        event_id=event_id,
        message_id=message_id,
        flow_id=provenance.flow_id,
        flow_version=provenance.flow_version,
        flow_step=provenance.step,
        provider=provider,
        external_id=external_id,
        reason=reason,
        detail=dict(detail) if detail else {},
    )
