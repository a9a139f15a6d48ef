"""Building audit records with deterministic ids."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchestrator.engine.decisions import derive_id
from orchestrator.events import AuditRecord


def audit(
    step: str,
    outcome: str,
    *,
    identity: tuple[str, ...],
    at: datetime,
    **fields: Any,
) -> AuditRecord:
    """An audit record for ``step``; ``identity`` makes its id, so a replay writes the same id.

    The outcome is not part of the id: a replay that sees a different outcome (a customer found
    ``existing`` where the first pass ``created`` it) must not add a second record.
    """
    return AuditRecord(
        record_id=derive_id("aud", step, *identity),
        occurred_at=at,
        step=step,
        outcome=outcome,
        **fields,
    )
