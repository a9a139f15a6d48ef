"""A receipt makes an unknown send known (called by the status worker).

A send whose outcome is ``unknown`` is mapped under our own message id as a provider id
(:func:`orchestrator.workers.outcomes.unknown_send`), so a receipt of a provider that echoes our
id (SendGrid's ``continuum_message_id`` custom argument) finds its send ledger entry. When the
entry is still ``unknown``, the provider had the message after all: :func:`make_known` records
it ``accepted`` with the receipt's provider id, drops it from the index of unknown sends
(:mod:`orchestrator.state.unknown_sends`), both in one round trip, and writes a
``provider_reconciled`` row (outcome ``accepted``, ``detail.by = "receipt"``). A receipt
matched through a provider id the reconciler mapped finds the entry ``accepted`` already.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from orchestrator.events import MessageStatus
from orchestrator.ledger.records import audit
from orchestrator.metrics import Metrics
from orchestrator.state.protocols import EventPublisher, StateStore
from orchestrator.state.store import FinishedSend

STEP = "provider_reconciled"


async def make_known(
    store: StateStore,
    pub: EventPublisher,
    metrics: Metrics,
    clock: Callable[[], datetime],
    receipts: Sequence[MessageStatus],
    sends: Sequence[dict[str, Any] | None],
) -> tuple[list[dict[str, Any] | None], list[bytes]]:
    """``sends`` (the entry each receipt matched, or None), with each ``unknown`` one made
    ``accepted`` by its receipt, recorded and dropped from the index (one round trip when
    there is any, none otherwise); and the receipts parked under the receipts' provider ids,
    taken back, for the caller to hand back (:func:`orchestrator.workers.status.hand_back`)."""
    known: dict[str, tuple[MessageStatus, dict[str, Any]]] = {}
    for receipt, send in zip(receipts, sends, strict=True):
        if send and send.get("state") == "unknown" and send.get("message_id"):
            known.setdefault(str(send["message_id"]), (receipt, send))
    if not known:
        return list(sends), []
    made: dict[str, dict[str, Any]] = {}
    finished: list[FinishedSend] = []
    for message_id, (receipt, send) in known.items():
        entry = {**send, "state": "accepted", "code": "receipt"}
        entry["external_ids"] = [receipt.external_id]
        made[message_id] = entry
        finished.append(FinishedSend(message_id, entry, receipt.provider, (receipt.external_id,)))
    taken = await store.settle_sends(finished, known=list(known))
    now = clock()
    for message_id, (receipt, send) in known.items():
        metrics.reconcile_total.labels(receipt.provider, "receipt").inc()
        await pub.audit(
            audit(
                STEP,
                "accepted",
                identity=(message_id,),
                at=now,
                customer_id=send.get("customer_id"),
                channel=send.get("channel"),
                address=send.get("to"),
                message_id=message_id,
                provider=receipt.provider,
                external_id=receipt.external_id,
                reason="a receipt of the provider names the message: its send is accepted",
                detail={"by": "receipt", "status": receipt.status},
            )
        )
    entries = [made.get(str(send.get("message_id")), send) if send else send for send in sends]
    return entries, taken
