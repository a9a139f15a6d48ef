"""Router worker: ``agent.task`` records become conversations waiting for agents, and
``agent.message`` records (a customer's message for the agent who owns the conversation) reach
that agent's live stream.

Each task from ``continuum.agent.tasks`` (a flow's ``route`` step) arrives on the routing board
(:class:`~orchestrator.workers.routing.Router`, committed to Redis) and is offered at once
when an agent can take it. Beside the consumer, a timer loop commits what falls due (offers
timing out, rings widening, queues opening, overflows) at the exact time the board says, and
is woken early by every event. Every decision goes to the ledger as its own step
(:func:`ledger_rows`) and to the agents' live streams (:func:`notify`).

Assignments, closes, abandonments and closed queues are announced to the customer's flows
(:mod:`orchestrator.workers.conversation_events`). A customer's message for a conversation no
longer on the board (it ended on the way) is given back to flows, with a ``returned_to_flows``
ledger row.

A task for a queue ``routing.yaml`` does not have is dead-lettered (``unknown_queue``); a task
seen before (a redelivery) is skipped; both are counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import ClassVar, Protocol

import orjson
from redis.exceptions import RedisError

from orchestrator.doorbell import Doorbell
from orchestrator.errors import BadRecord
from orchestrator.events import (
    AGENT_CANCEL,
    AGENT_MESSAGE,
    AGENT_TASK,
    AgentCancel,
    AgentMessage,
    AgentTask,
    AuditRecord,
    parse_data,
    parse_envelope,
)
from orchestrator.ledger.records import audit
from orchestrator.metrics import Metrics
from orchestrator.redis_client import RedisClient
from orchestrator.routing import decisions as d
from orchestrator.routing.board import Refused
from orchestrator.routing.model import Conversation
from orchestrator.state import keys
from orchestrator.state.protocols import EventPublisher
from orchestrator.topics import Topics
from orchestrator.workers.base import BatchWorker, Deps, Record
from orchestrator.workers.conversation_events import customer_events, returned_message
from orchestrator.workers.polling import idle_for, poll
from orchestrator.workers.queue_metrics import observe as observe_queues
from orchestrator.workers.routing import Router

log = logging.getLogger(__name__)

TASK_SEEN_FOR = timedelta(days=7)
"""How long a routed task's id is remembered, so a redelivery is not routed twice."""
LISTEN_RETRY_S = 1.0
"""How long the routing notices' listener waits before subscribing again after an error."""
TIMER_MOST_S = 30.0
"""The longest the timer loop sleeps with nothing due (another process may have added work;
its own loop rings for it)."""


class RouterWorker(BatchWorker):
    """Puts handed-off conversations on the routing board."""

    name: ClassVar[str] = "router"
    stage: ClassVar[str] = "route"

    def __init__(
        self, deps: Deps, publisher: EventPublisher, router: Router, redis: RedisClient
    ) -> None:
        super().__init__(deps, publisher)
        self.router = router
        self._redis = redis
        self.wake = Doorbell()

    def topics(self) -> list[str]:
        """The agent tasks topic."""
        return [self._deps.topics.agent_tasks]

    async def handle(self, records: Sequence[Record]) -> None:
        """Route one batch; durable when this returns."""
        started = time.perf_counter()
        tasks: list[tuple[Record, AgentTask]] = []
        messages: list[AgentMessage] = []
        cancels: list[AgentCancel] = []
        for record in records:
            try:
                item = _decode(record)
            except BadRecord as exc:
                await self.reject(record, exc)
                continue
            if isinstance(item, AgentMessage):
                messages.append(item)
            elif isinstance(item, AgentCancel):
                cancels.append(item)
            else:
                tasks.append((record, item))
        seen, lasts = await self._look_up([t for _, t in tasks])
        outcomes: list[tuple[str | None, str]] = []
        if messages:
            outcomes += await self._messages(messages)
        for (record, task), again, last in zip(tasks, seen, lasts, strict=True):
            if again:
                outcomes.append((task.channel, "duplicate"))
                continue
            outcomes.append((task.channel, await self._route(record, task, last)))
        for cancel in cancels:  # after the tasks: a hand-off and its cancel in one batch
            outcomes.append((None, await self._cancel(cancel)))
        await self._pub.flush()
        await self._remember([t.task_id for _, t in tasks])
        self.wake.ring()
        self.observe(outcomes, started, len(records))

    async def _route(
        self, record: Record, task: AgentTask, last: tuple[str, datetime] | None
    ) -> str:
        now = self._deps.clock()
        if task.queue not in self.router.board.routing.queues:
            await self.reject(
                record, BadRecord("unknown_queue", f"routing.yaml has no queue {task.queue!r}")
            )
            return "rejected"
        conversation = conversation_of(task, now, last)
        self.router.arriving(conversation)
        try:
            out = await self.router.apply(
                now, lambda b: b.arrive(conversation, now), conversations=[task.task_id]
            )
        except Refused:
            return "duplicate"  # already on the board: a redelivery before it was remembered
        await publish_steps(self._pub, self._redis, self.router, out, self._deps)
        return out[-1].step if out else "queued"

    async def _cancel(self, cancel: AgentCancel) -> str:
        """The customer ended it: abandoned while it waits, closed with the reason if assigned;
        one that is no longer on the board (closed meanwhile, a redelivery) changes nothing."""
        now = self._deps.clock()
        conversation_id, reason = cancel.conversation_id, cancel.reason
        try:
            out = await self.router.apply(
                now,
                lambda b: b.close(conversation_id, now, reason),
                conversations=[conversation_id],
            )
        except Refused:
            return "gone"
        await publish_steps(self._pub, self._redis, self.router, out, self._deps)
        return "cancelled"

    async def _messages(self, messages: Sequence[AgentMessage]) -> list[tuple[str | None, str]]:
        """Customers' messages for agents: to the live streams (one notice for the batch), or
        back to flows when the conversation is no longer on the board."""
        board = await self.router.refresh()
        notices: list[dict[str, object]] = []
        outcomes: list[tuple[str | None, str]] = []
        at = self._deps.clock()
        for m in messages:
            conversation = board.conversations.get(m.conversation_id)
            if conversation is not None:
                offer = conversation.offer  # between a transfer and an accept: the one offered it
                agent = conversation.agent or (offer.agent if offer is not None else None)
                notices.append(message_notice(m, agent, at))
                outcomes.append((m.channel, "to_agent"))
                continue
            await self._pub.publish(self._deps.topics.customer, returned_message(m), m.customer_id)
            await self._pub.audit(
                audit(
                    "returned_to_flows",
                    "returned",
                    identity=("returned", m.received_id, m.conversation_id),
                    at=at,
                    customer_id=m.customer_id,
                    channel=m.channel,
                    address=m.sender,
                    reason=f"conversation {m.conversation_id} had ended",
                    detail={"conversation_id": m.conversation_id},
                )
            )
            outcomes.append((m.channel, "returned"))
        if notices:
            await announce(self._redis, notices)
        return outcomes

    async def run_timers(self, stop: asyncio.Event) -> None:
        """Commit what falls due, at the time it falls due, until ``stop`` is set; woken early
        by this router's events and by every other writer's (the agent API's offers end here,
        see :meth:`listen`)."""
        listener = asyncio.create_task(self.listen(stop), name="router-listen")
        try:
            await self._run_timers(stop)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def listen(self, stop: asyncio.Event) -> None:
        """Ring the timer loop on every notice of routing steps (:func:`notify`): another
        writer committed, and the next due time may be earlier than the loop knows."""
        while not stop.is_set():
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(keys.routing_key("steps"))
                self.wake.ring()  # what was committed before the subscription
                while not stop.is_set():
                    got = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if got is not None:
                        self.wake.ring()
            except (RedisError, OSError) as exc:
                log.warning("router: routing notices unavailable (%s); retrying in 1s", exc)
                await asyncio.sleep(LISTEN_RETRY_S)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()

    async def _run_timers(self, stop: asyncio.Event) -> None:

        async def step() -> bool:
            out = await self.router.advance(self._deps.clock())
            await publish_steps(self._pub, self._redis, self.router, out, self._deps)
            await self._pub.flush()
            return False

        async def idle() -> float:
            return idle_for(
                self.router.board.next_due(), self._deps.clock(), least_s=0.0, most_s=TIMER_MOST_S
            )

        await poll(
            "router-timers",
            step,
            stop,
            self._deps.metrics,
            tick_s=TIMER_MOST_S,
            backoff_s=0.5,
            idle_wait=idle,
            doorbell=self.wake,
        )

    async def _look_up(
        self, tasks: Sequence[AgentTask]
    ) -> tuple[list[bool], list[tuple[str, datetime] | None]]:
        """For each task, one round trip for the batch: routed before (a redelivery), and the
        customer's last agent (for the last-agent ring)."""
        if not tasks:
            return [], []
        async with self._redis.pipeline(transaction=False) as pipe:
            for task in tasks:
                pipe.exists(keys.routed_task_key(task.task_id))
                pipe.get(keys.last_agent_key(task.customer_id))
            found = await pipe.execute()
        return [bool(x) for x in found[0::2]], [_last_agent(raw) for raw in found[1::2]]

    async def _remember(self, task_ids: list[str]) -> None:
        if not task_ids:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for task_id in task_ids:
                pipe.set(keys.routed_task_key(task_id), 1, ex=TASK_SEEN_FOR)
            await pipe.execute()


def _last_agent(raw: bytes | str | None) -> tuple[str, datetime] | None:
    """A customer's last agent as :func:`publish_steps` stored it (unreadable: none)."""
    if not raw:
        return None
    try:
        doc = orjson.loads(raw)
        return str(doc["agent"]), datetime.fromisoformat(doc["at"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def _decode(record: Record) -> AgentTask | AgentMessage | AgentCancel:
    event = parse_envelope(record.value or b"", record.headers)
    if event.type == AGENT_MESSAGE:
        return parse_data(event, AgentMessage)
    if event.type == AGENT_CANCEL:
        return parse_data(event, AgentCancel)
    if event.type != AGENT_TASK:
        raise BadRecord(
            "wrong_type",
            f"expected {AGENT_TASK}, {AGENT_MESSAGE} or {AGENT_CANCEL}, got {event.type!r}",
        )
    return parse_data(event, AgentTask)


def message_notice(m: AgentMessage, agent: str | None, at: datetime) -> dict[str, object]:
    """A customer's message as the agents' live streams carry it (a ``message`` event)."""
    return {
        "step": "message",
        "conversation": m.conversation_id,
        "agent": agent,
        "customer_id": m.customer_id,
        "channel": m.channel,
        "text": m.text,
        "at": at.isoformat(),
    }


def conversation_of(
    task: AgentTask, now: datetime, last: tuple[str, datetime] | None
) -> Conversation:
    """The conversation a task hands over (its channel, or web chat when it names none)."""
    attributes: dict[str, object] = {"flow_id": task.flow_id, "step": task.step}
    if task.note:
        attributes["note"] = task.note
    return Conversation(
        task.task_id,
        task.queue,
        task.channel or "webchat",
        now,
        customer_id=task.customer_id,
        priority=task.priority,
        skills=tuple(task.skills),
        attributes=attributes,
        last_agent=last[0] if last else None,
        last_agent_at=last[1] if last else None,
    )


class StepsDeps(Protocol):
    """What :func:`publish_steps` needs of its caller (a worker's or the API's dependencies)."""

    @property
    def metrics(self) -> Metrics: ...

    @property
    def topics(self) -> Topics: ...


async def publish_steps(
    pub: EventPublisher,
    redis: RedisClient,
    router: Router,
    out: Sequence[d.Step],
    deps: StepsDeps,
) -> None:
    """What a router's decisions mean outside it: a ledger row each, the customer's last agent
    remembered on assignment, the customer's flows told (assigned, closed ...), and one notice
    to the agents' live streams."""
    observe_queues(deps.metrics, router.board, out, router.board.clock)  # gauges: even if none
    if not out:
        return
    metrics = deps.metrics
    for row in ledger_rows(router, out):
        await pub.audit(row)
    for whose, event in customer_events(out, router.customer_of, router.channel_of):
        await pub.publish(deps.topics.customer, event, whose)
    window = router.board.routing.last_agent_window
    for step in out:
        metrics.routing_steps.labels(getattr(step, "queue", ""), step.step).inc()
        if isinstance(step, d.Assigned):
            customer = router.customer_of(step.conversation)
            if customer:
                value = orjson.dumps({"agent": step.agent, "at": step.at.isoformat()})
                await redis.set(keys.last_agent_key(customer), value, ex=window)
    await notify(redis, out)


def ledger_rows(router: Router, out: Sequence[d.Step]) -> list[AuditRecord]:
    """One ledger row per decision: the step's name, the agent (or the queue) as the outcome,
    and every field of the decision in the detail."""
    rows = []
    for step in out:
        fields = step.fields()
        conversation = getattr(step, "conversation", None)
        agent = getattr(step, "agent", None)
        rows.append(
            audit(
                step.step,
                agent or getattr(step, "queue", "") or "routing",
                identity=("routing", conversation or "", step.step, fields["at"], agent or ""),
                at=d.when(step),
                customer_id=router.customer_of(conversation) if conversation else None,
                channel=router.channel_of(conversation) if conversation else None,
                detail=fields,
            )
        )
    return rows


async def notify(redis: RedisClient, out: Sequence[d.Step]) -> None:
    """Tell every API process (and so every agent's live stream) what was decided."""
    await announce(redis, [s.fields() for s in out])


async def announce(redis: RedisClient, notices: Sequence[Mapping[str, object]]) -> None:
    """One message on the routing notices channel: the agents' live streams, and every
    router's timer loop (:meth:`RouterWorker.listen`), hear it."""
    await redis.publish(keys.routing_key("steps"), orjson.dumps(notices))
