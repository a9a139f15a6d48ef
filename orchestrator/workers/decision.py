"""Decision worker: load state for the batch, run the pure engine, execute, save, commit.

Order of effects, for effectively-once behaviour under redelivery: commands and audit records
are confirmed by the broker first, then timers change, then state is saved (recording the
applied event ids), then offsets are committed. A crash at any point replays into the same
deterministic ids.

An event for a customer merged into another (the engine's ``merged_away`` note names the
survivor) is re-published, unchanged but for the customer it names, to the survivor: see
:meth:`DecisionWorker._forward` and docs/architecture.md, "Links and merges".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from orchestrator.doorbell import Doorbell
from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.decide import decide
from orchestrator.engine.model import Context, CustomerState, Event
from orchestrator.errors import BadRecord
from orchestrator.events import (
    AGENT_REPLY,
    BUSINESS_PREFIX,
    CALL_COMPLETED,
    MESSAGE_RECEIVED,
    MESSAGE_STATUS,
    RETURNED,
    SCHEDULE_FIRED,
    TIMER_FIRED,
    AgentReply,
    CloudEvent,
    MessageReceived,
    parse_data,
    parse_envelope,
)
from orchestrator.executor import Executor
from orchestrator.ledger.records import audit
from orchestrator.policy.actions import NOTE_LABELS
from orchestrator.policy.send_time import rule_label
from orchestrator.state.protocols import EventPublisher
from orchestrator.state.store import MAX_REDIRECTS
from orchestrator.workers.base import BatchWorker, Deps, Record

FORWARD_HOPS = "forwardhops"
"""The extension attribute a forwarded event carries: how many times it has been forwarded."""


@dataclass(frozen=True, slots=True)
class _Forward:
    """An event that reached a merged-away customer, and the survivor the engine named."""

    customer_id: str
    survivor: str
    envelope: CloudEvent
    event: Event
    position: int
    """Its place in the batch's outcomes (the stage outcome is known once it is forwarded)."""


class DecisionWorker(BatchWorker):
    """Consumes ``continuum.customer``; the catalogue can be swapped while running."""

    name: ClassVar[str] = "decision"
    stage: ClassVar[str] = "decision"

    def __init__(
        self,
        deps: Deps,
        publisher: EventPublisher,
        catalogue: Catalogue,
        executor: Callable[[EventPublisher], Executor],
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
        items: list[tuple[str, Event, CloudEvent]] = []
        for record in records:
            try:
                envelope = parse_envelope(record.value or b"", record.headers)
                items.append((*decode(envelope), envelope))
            except BadRecord as exc:
                await self.reject(record, exc)
        states = await self._deps.store.load_states([cid for cid, _, _ in items])
        changed: dict[str, CustomerState] = {}
        outcomes: list[tuple[str | None, str]] = []
        forwards: list[_Forward] = []
        catalogue = self.catalogue  # one catalogue for the whole batch, even during a reload
        for customer_id, event, envelope in items:
            at = self._deps.clock()
            outcome = decide(catalogue, states[customer_id], event, Context(now=at))
            if outcome.state is not states[customer_id]:
                states[customer_id] = changed[customer_id] = outcome.state
            await self._executor.apply(outcome, event, customer_id, at)
            self._count_policy(outcome.notes)
            survivor = _survivor(outcome.notes) if outcome.state.merged_into else None
            if survivor is not None:
                forwards.append(_Forward(customer_id, survivor, envelope, event, len(outcomes)))
            outcomes.append((event.channel, _result(outcome.decisions, outcome.notes)))
        if forwards:  # only a batch with merged-away customers pays the look-up
            for forward, result in zip(forwards, await self._forward(forwards), strict=True):
                outcomes[forward.position] = (forward.event.channel, result)
        cancel, schedule = await self._executor.confirm()
        await self._deps.store.save_states(list(changed.values()), schedule=schedule, cancel=cancel)
        if schedule and self._timers_added is not None:
            self._timers_added.ring()
        self.observe(outcomes, started, len(records))

    async def _forward(self, forwards: Sequence[_Forward]) -> list[str]:
        """Re-publish each event for the customer at the end of its survivor's chain of merges
        (one look-up for the whole batch).

        The same CloudEvent, id included (the survivor's dedupe of applied events holds on a
        redelivery), keyed by the survivor, with ``customerid`` and any ``data.customer_id``
        naming it and ``forwardhops`` counted up. Never back to the customer it came to, and
        not past :data:`MAX_REDIRECTS` hops (a loop of merges that a race wrote): those are
        refused. Each writes an ``event_forwarded`` row and is counted; the stage outcome of
        each is returned (``forwarded``, ``forward_refused``). Durable with the batch: the
        executor's ``confirm`` flushes the same publisher."""
        ends = await self._deps.store.redirects([f.survivor for f in forwards])
        at, results = self._deps.clock(), []
        for f in forwards:
            target = ends.get(f.survivor, f.survivor)
            hops = _hops(f.envelope) + 1
            refused = _refusal(f.customer_id, target, hops)
            if refused is None:
                data = f.envelope.data
                if data is not None and "customer_id" in data:
                    data = {**data, "customer_id": target}
                update = {"customerid": target, FORWARD_HOPS: hops, "data": data}
                forwarded = f.envelope.model_copy(update=update)
                await self._pub.publish(self._deps.topics.customer, forwarded, target)
            outcome = "forwarded" if refused is None else "refused"
            await self._pub.audit(
                audit(
                    "event_forwarded",
                    outcome,
                    identity=(f.envelope.id, f.customer_id),
                    at=at,
                    customer_id=f.customer_id,
                    channel=f.event.channel,
                    event_id=f.event.event_id,
                    reason=refused,
                    detail={
                        "survivor": target,
                        "merged_into": f.survivor,
                        "type": f.envelope.type,
                        "hops": hops,
                    },
                )
            )
            self._deps.metrics.merge_forwards_total.labels(f.event.kind, outcome).inc()
            results.append("forwarded" if refused is None else "forward_refused")
        return results


def _survivor(notes: Sequence[Any]) -> str | None:
    """The survivor the engine forwards this event to (its ``merged_away`` note names one)."""
    for note in notes:
        if note.code == "merged_away" and note.data.get("survivor"):
            return str(note.data["survivor"])
    return None


def _hops(envelope: CloudEvent) -> int:
    value = (envelope.model_extra or {}).get(FORWARD_HOPS)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _refusal(customer_id: str, target: str, hops: int) -> str | None:
    if target == customer_id:
        return f"the merges of {customer_id} lead back to it"
    if hops > MAX_REDIRECTS:
        return f"forwarded {hops - 1} times already: a loop of merges"
    return None


_POLICY_ACTIONS = NOTE_LABELS  # note code -> metrics action label


def _result(decisions: Sequence[Any], notes: Sequence[Any]) -> str:
    if any(n.code == "duplicate_event" for n in notes):
        return "duplicate"
    return "acted" if decisions else "no_action"


def decode(envelope: CloudEvent) -> tuple[str, Event]:
    """A record of ``continuum.customer`` as (customer id, engine event)."""
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
            data={"returned": True} if (envelope.model_extra or {}).get(RETURNED) else {},
        )
    if kind == AGENT_REPLY:
        reply = parse_data(envelope, AgentReply)
        return customer_id, Event(
            event_id=envelope.id, kind="agent_reply", data=reply.model_dump(mode="json")
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
            sender=data.get("address"),  # the customer's address the message went to
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
