"""Decision worker: load state for the batch, run the pure engine, execute, save, commit.

Order of effects, for effectively-once behaviour under redelivery: commands and audit records
are confirmed by the broker first, then timers change, then state is saved (recording the
applied event ids), then offsets are committed. A crash at any point replays into the same
deterministic ids.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from orchestrator.doorbell import Doorbell
from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.decide import decide
from orchestrator.engine.model import Context, CustomerState, Event
from orchestrator.errors import BadRecord
from orchestrator.events import (
    BUSINESS_PREFIX,
    CALL_COMPLETED,
    MESSAGE_RECEIVED,
    MESSAGE_STATUS,
    SCHEDULE_FIRED,
    TIMER_FIRED,
    CloudEvent,
    MessageReceived,
    parse_data,
    parse_envelope,
)
from orchestrator.executor import Executor
from orchestrator.policy.send_time import rule_label
from orchestrator.workers.base import BatchWorker, Deps, Record
from orchestrator.workers.publisher import Publisher


class DecisionWorker(BatchWorker):
    """Consumes ``continuum.customer``; the catalogue can be swapped while running."""

    name: ClassVar[str] = "decision"
    stage: ClassVar[str] = "decision"

    def __init__(
        self,
        deps: Deps,
        publisher: Publisher,
        catalogue: Catalogue,
        executor: Callable[[Publisher], Executor],
        timers_added: Doorbell | None = None,
    ) -> None:
        super().__init__(deps, publisher)
        self.catalogue = catalogue
        self._executor = executor(publisher)
        self._timers_added = timers_added  # the scheduler of this process looks at once

    def _count_policy(self, notes: Sequence[Any]) -> None:
        for note in notes:
            action = _POLICY_ACTIONS.get(note.code)
            if action:
                rule = rule_label(str(note.data.get("rule", "")))
                self._deps.metrics.policy_total.labels(rule, action, "decision").inc()

    def topics(self) -> list[str]:
        """The customer-keyed topic."""
        return [self._deps.topics.customer]

    async def handle(self, records: Sequence[Record]) -> None:
        """Process one batch; durable when this returns."""
        started = time.perf_counter()
        items: list[tuple[str, Event]] = []
        for record in records:
            try:
                items.append(decode(record))
            except BadRecord as exc:
                await self.reject(record, exc)
        states = await self._deps.store.load_states([cid for cid, _ in items])
        changed: dict[str, CustomerState] = {}
        outcomes: list[tuple[str | None, str]] = []
        catalogue = self.catalogue  # one catalogue for the whole batch, even during a reload
        for customer_id, event in items:
            at = self._deps.clock()
            outcome = decide(catalogue, states[customer_id], event, Context(now=at))
            if outcome.state is not states[customer_id]:
                states[customer_id] = changed[customer_id] = outcome.state
            await self._executor.apply(outcome, event, customer_id, at)
            self._count_policy(outcome.notes)
            outcomes.append((event.channel, _result(outcome.decisions, outcome.notes)))
        cancel, schedule = await self._executor.confirm()
        await self._deps.store.save_states(list(changed.values()), schedule=schedule, cancel=cancel)
        if schedule and self._timers_added is not None:
            self._timers_added.ring()
        self.observe(outcomes, started, len(records))


_POLICY_ACTIONS = {
    "policy_blocked": "blocked",
    "policy_deferred": "deferred",
    "policy_template": "template",
    "policy_fallback": "fallback",
}


def _result(decisions: Sequence[Any], notes: Sequence[Any]) -> str:
    if any(n.code == "duplicate_event" for n in notes):
        return "duplicate"
    return "acted" if decisions else "no_action"


def decode(record: Record) -> tuple[str, Event]:
    """A record of ``continuum.customer`` as (customer id, engine event)."""
    envelope = parse_envelope(record.value or b"", record.headers)
    customer_id = _customer_id(envelope)
    data = envelope.data or {}
    kind = envelope.type
    if kind == MESSAGE_RECEIVED:
        msg = parse_data(envelope, MessageReceived)
        return customer_id, Event(
            event_id=f"{msg.channel}:{envelope.id}",
            kind="message",
            channel=msg.channel,
            sender=msg.sender,
            recipient=msg.recipient,
            text=msg.text,
            locale=msg.locale,
        )
    if kind == TIMER_FIRED:
        return customer_id, Event(
            event_id=envelope.id,
            kind="timer",
            timer_id=str(data.get("timer_id") or envelope.id),
            name=data.get("name"),
            data=data,
        )
    if kind == CALL_COMPLETED:
        return customer_id, Event(event_id=envelope.id, kind="call_result", data=data)
    if kind == SCHEDULE_FIRED:
        return customer_id, Event(
            event_id=envelope.id, kind="schedule", name=str(data.get("flow_id", "")), data=data
        )
    if kind == MESSAGE_STATUS:
        return customer_id, Event(
            event_id=envelope.id,
            kind="status",
            name=str(data.get("status", "")),
            channel=data.get("channel"),
            data=data,
        )
    if kind.startswith(BUSINESS_PREFIX):
        return customer_id, Event(
            event_id=envelope.id, kind="event", name=kind[len(BUSINESS_PREFIX) :], data=data
        )
    raise BadRecord("wrong_type", f"no decision is made on {kind!r} events")


def _customer_id(envelope: CloudEvent) -> str:
    extra = envelope.model_extra or {}
    value = extra.get("customerid") or (envelope.data or {}).get("customer_id")
    if not isinstance(value, str) or not value:
        raise BadRecord("invalid_data", "no customer id (customerid attribute or data.customer_id)")
    return value
