"""Decision worker: load state for the batch, run the pure engine, publish, save, commit.

Order of effects, for effectively-once behaviour under redelivery: commands and audit records
are confirmed by the broker first, then state is saved (recording the applied event ids), then
offsets are committed. A crash at any point replays into the same deterministic ids.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar

from orchestrator.engine.decide import decide
from orchestrator.engine.flowfile import Catalogue
from orchestrator.engine.model import Context, CustomerState, Inbound
from orchestrator.errors import BadRecord
from orchestrator.events import MESSAGE_RECEIVED, MessageReceived, parse_data, parse_envelope
from orchestrator.executor import execute
from orchestrator.workers.base import BatchWorker, Deps, Record
from orchestrator.workers.publisher import Publisher


class DecisionWorker(BatchWorker):
    """Consumes ``continuum.customer``; the catalogue can be swapped while running."""

    name: ClassVar[str] = "decision"
    stage: ClassVar[str] = "decision"

    def __init__(self, deps: Deps, publisher: Publisher, catalogue: Catalogue) -> None:
        super().__init__(deps, publisher)
        self.catalogue = catalogue

    def topics(self) -> list[str]:
        """The customer-keyed topic."""
        return [self._deps.topics.customer]

    async def handle(self, records: Sequence[Record]) -> None:
        """Process one batch; durable when this returns."""
        started = time.perf_counter()
        items: list[tuple[str, Inbound]] = []
        for record in records:
            try:
                items.append(self._decode(record))
            except BadRecord as exc:
                await self.reject(record, exc)
        states = await self._deps.store.load_states([cid for cid, _ in items])
        changed: dict[str, CustomerState] = {}
        outcomes: list[tuple[str | None, str]] = []
        for customer_id, event in items:
            at = self._deps.clock()
            outcome = decide(self.catalogue, states[customer_id], event, Context(now=at))
            if outcome.state is not states[customer_id]:
                states[customer_id] = changed[customer_id] = outcome.state
            await execute(outcome, event, customer_id, at, self._pub, self._deps.topics)
            outcomes.append((event.channel, "replied" if outcome.decisions else "no_reply"))
        await self._pub.flush()
        await self._deps.store.save_states(list(changed.values()))
        self.observe(outcomes, started, len(records))

    def _decode(self, record: Record) -> tuple[str, Inbound]:
        event = parse_envelope(record.value or b"")
        if event.type != MESSAGE_RECEIVED:
            raise BadRecord("wrong_type", f"expected {MESSAGE_RECEIVED}, got {event.type!r}")
        data = parse_data(event, MessageReceived)
        if not data.customer_id:
            raise BadRecord("invalid_data", "data.customer_id is missing (not re-keyed?)")
        inbound = Inbound(
            event_id=f"{data.channel}:{event.id}",
            channel=data.channel,
            sender=data.sender,
            recipient=data.recipient,
            text=data.text,
            locale=data.locale,
        )
        return data.customer_id, inbound
