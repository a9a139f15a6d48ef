"""The router role end to end: a flow's ``route`` step hands a conversation over, the router
puts it on the board in Redis and offers it to an available agent at once, and every step is
in the ledger. Redelivered tasks are not routed twice; a task for a queue routing.yaml lacks
is dead-lettered; an offer nobody answers times out at its own time, with no sweep."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import yaml
from redis.asyncio import Redis

from orchestrator.events import AGENT_MESSAGE, AGENT_TASK, AgentMessage, AgentTask, new_event
from orchestrator.routing.spec import Routing
from orchestrator.settings import Settings
from orchestrator.state.routing_board import RoutingStore
from orchestrator.workers.router import notify
from orchestrator.workers.routing import Router
from tests.integration.helpers import Pipeline, customer_of, eventually, sms_event

FLOW = """\
spec_version: 1
id: ask-for-a-person
version: 1
stage: support
owner: contact-centre
trigger: {type: message, match: keyword, words: [AGENT]}
steps:
  - {id: to_desk, type: route, queue: desk, skills: [orders], priority: 4, note: "{{ event.text }}"}
"""
ROUTING = """\
offer_timeout: 2s
queues:
  desk:
    skills: {orders: 1}
"""
NUMBER = "+15551230077"


@pytest.fixture
async def desk(settings: Settings, tmp_path: Path) -> AsyncIterator[Pipeline]:
    """Every worker on a flows folder with one routing flow and its queue."""
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "person.yaml").write_text(FLOW)
    (folder / "routing.yaml").write_text(ROUTING)
    async with Pipeline.running(settings.model_copy(update={"flows_dir": folder})) as pipe:
        yield pipe


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[RoutingStore]:
    """The routing board's store, as another writer (the agent API) sees it."""
    redis = Redis.from_url(settings.redis)
    try:
        yield RoutingStore(redis)
    finally:
        await redis.aclose()


async def board_of(store: RoutingStore) -> Router:
    return await Router.open(store, Routing.model_validate({"queues": {"desk": {}}}))


async def test_a_routed_conversation_is_offered_to_an_available_agent(
    desk: Pipeline, store: RoutingStore
) -> None:
    agent_side = await board_of(store)  # the agent API's writer, on the same board
    now = datetime.now(UTC)
    await agent_side.apply(now, lambda b: b.agent_joined("ana", {"orders": 3}, now), ["ana"])
    await agent_side.apply(now, lambda b: b.presence("ana", "available", now), ["ana"])

    await desk.produce(
        desk.service.topics.inbound("sms"), sms_event("SMr1", NUMBER, "AGENT"), NUMBER
    )
    rows = await eventually(
        lambda: desk.ledger(NUMBER), lambda t: any(r.step == "offered" for r in t)
    )
    steps = [(r.step, r.outcome) for r in rows]
    assert ("handed_off", "desk") in steps
    assert ("queued", "desk") in steps
    assert ("offered", "ana") in steps
    offered = next(r for r in rows if r.step == "offered")
    assert offered.detail["target"] == "any"
    assert offered.detail["rule"] == "default"
    assert offered.channel == "sms"

    router = desk.service.router
    assert router is not None
    board = (await board_of(store)).board
    [conversation] = board.conversations.values()
    assert conversation.offer is not None
    assert conversation.offer.agent == "ana"
    assert conversation.skills == ("orders",)
    assert conversation.priority == 4

    # nobody answers: the router's timer finds the offer's end by itself, and sets ana away
    rows = await eventually(
        lambda: desk.ledger(NUMBER), lambda t: any(r.step == "offer_timeout" for r in t)
    )
    assert [r.detail["agent"] for r in rows if r.step == "offer_timeout"] == ["ana"]
    fresh = (await board_of(store)).board
    assert fresh.agents["ana"].presence == "away"
    assert fresh.agents["ana"].load == 0


async def test_a_redelivered_task_is_not_routed_twice_and_an_unknown_queue_is_dead_lettered(
    desk: Pipeline, store: RoutingStore
) -> None:
    topics = desk.service.topics
    task = AgentTask(task_id="task-1", customer_id="cus_1", queue="desk", priority=1, channel="sms")
    event = new_event(AGENT_TASK, "task-1", "/test", task).to_bytes()
    await desk.produce(topics.agent_tasks, event, "cus_1")
    await desk.produce(topics.agent_tasks, event, "cus_1")
    lost = AgentTask(task_id="task-2", customer_id="cus_1", queue="nowhere", priority=1)
    bad = new_event(AGENT_TASK, "task-2", "/test", lost).to_bytes()
    await desk.produce(topics.agent_tasks, bad, "cus_1")

    [record] = await desk.read_topic(topics.dlq, 1)
    letter = orjson.loads(record.value)["data"]
    assert letter["reason"] == "unknown_queue"
    assert "nowhere" in letter["detail"]
    assert letter["original_b64"]  # the original bytes are kept
    metric = desk.service.metrics.stage_total.labels("route", "sms", "duplicate")
    assert metric._value.get() == 1  # the second copy, before the dead letter (one partition)
    rows = await eventually(
        lambda: desk.service.ledger.query(customer_id="cus_1"),
        lambda t: any(r.step == "queued" for r in t),
    )
    assert [r.step for r in rows].count("queued") == 1
    board = (await board_of(store)).board
    assert list(board.conversations) == ["task-1"]


async def test_an_offer_another_writer_made_times_out_at_the_router_without_a_task(
    desk: Pipeline, store: RoutingStore, settings: Settings
) -> None:
    """The agent API (another writer) makes the offer when its agent becomes available; the
    router role hears of it (the routing notices) and times it out at its end, with no new task
    to make it look. Before, its timer loop slept on its own copy of the board for 30 s."""
    topics = desk.service.topics
    task = AgentTask(task_id="task-9", customer_id="cus_9", queue="desk", priority=1, channel="sms")
    await desk.produce(topics.agent_tasks, new_event(AGENT_TASK, "task-9", "/t", task).to_bytes())
    await eventually(
        lambda: desk.service.ledger.query(customer_id="cus_9"),
        lambda t: any(r.step == "queued" for r in t),
    )
    agent_side = await Router.open(store, Routing.model_validate(yaml.safe_load(ROUTING)))
    now = datetime.now(UTC)
    await agent_side.apply(now, lambda b: b.agent_joined("bo", {"orders": 3}, now), ["bo"])
    out = await agent_side.apply(now, lambda b: b.presence("bo", "available", now), ["bo"])
    assert [s.step for s in out] == ["offered"]  # offered by the API's writer, not the router
    redis = Redis.from_url(settings.redis)
    try:
        await notify(redis, out)  # as the API's publish_steps does
    finally:
        await redis.aclose()
    rows = await eventually(
        lambda: desk.service.ledger.query(customer_id="cus_9"),
        lambda t: any(r.step == "offer_timeout" for r in t),
        timeout=10,  # the offer lasts 2 s; the router's own sleep with nothing due is 30 s
    )
    timed_out = next(r for r in rows if r.step == "offer_timeout")
    assert timed_out.detail["agent"] == "bo"


async def test_a_message_for_a_conversation_that_ended_goes_back_to_flows(
    desk: Pipeline,
) -> None:
    """The customer wrote while the close was on its way to the decision worker: the router has
    no such conversation any more, so it gives the message back (``returned``), and the
    customer's flows answer it (here: a new hand-off)."""
    topics = desk.service.topics
    await desk.produce(topics.inbound("sms"), sms_event("SMr5", NUMBER, "hello"), NUMBER)
    cid = await customer_of(desk, NUMBER)
    late = AgentMessage(
        conversation_id="task-gone",
        customer_id=cid,
        agent="ana",
        channel="sms",
        sender=NUMBER,
        recipient="+15559990000",
        text="AGENT again",
        received_id="SMr6",
    )
    await desk.produce(topics.agent_tasks, new_event(AGENT_MESSAGE, "fwd-1", "/t", late).to_bytes())
    rows = await eventually(
        lambda: desk.service.ledger.query(customer_id=cid),
        lambda t: any(r.step == "handed_off" for r in t),
        timeout=30,
    )
    (back,) = [r for r in rows if r.step == "returned_to_flows"]
    assert back.detail == {"conversation_id": "task-gone"}
    assert "had ended" in (back.reason or "")
    assert any(r.step == "queued" for r in rows)  # the new conversation, on the board


async def test_a_customer_who_opts_out_while_waiting_abandons_the_conversation(
    desk: Pipeline, store: RoutingStore
) -> None:
    """Nobody is available; the customer gives up with STOP: the conversation leaves the board
    as abandoned (counted, in the ledger), and the customer's flows are told."""
    topics = desk.service.topics
    await desk.produce(topics.inbound("sms"), sms_event("SMs1", NUMBER, "AGENT"), NUMBER)
    await eventually(lambda: desk.ledger(NUMBER), lambda t: any(r.step == "queued" for r in t))
    await desk.produce(topics.inbound("sms"), sms_event("SMs2", NUMBER, "STOP"), NUMBER)
    rows = await eventually(
        lambda: desk.ledger(NUMBER), lambda t: any(r.step == "abandoned" for r in t), timeout=30
    )
    steps = [r.step for r in rows]
    assert steps.index("conversation_cancelled") < steps.index("abandoned")
    (cancelled,) = [r for r in rows if r.step == "conversation_cancelled"]
    assert cancelled.outcome == "opted_out"
    board = (await board_of(store)).board
    assert board.conversations == {}
    abandoned = desk.service.metrics.queue_abandoned.labels("desk")._value.get()
    assert abandoned == 1


async def test_a_message_for_a_conversation_on_offer_reaches_the_agent_offered_it(
    desk: Pipeline, store: RoutingStore, settings: Settings
) -> None:
    """Between a hand-off (or a transfer) and an accept nobody owns the conversation; the
    agent it is offered to sees the customer's message come in."""
    agent_side = await Router.open(store, Routing.model_validate(yaml.safe_load(ROUTING)))
    now = datetime.now(UTC)
    await agent_side.apply(now, lambda b: b.agent_joined("cy", {"orders": 3}, now), ["cy"])
    await agent_side.apply(now, lambda b: b.presence("cy", "available", now), ["cy"])
    topics = desk.service.topics
    task = AgentTask(task_id="task-7", customer_id="cus_7", queue="desk", priority=1, channel="sms")
    await desk.produce(topics.agent_tasks, new_event(AGENT_TASK, "task-7", "/t", task).to_bytes())
    await eventually(
        lambda: desk.service.ledger.query(customer_id="cus_7"),
        lambda t: any(r.step == "offered" for r in t),
    )
    redis = Redis.from_url(settings.redis)
    pubsub = redis.pubsub()
    try:
        await pubsub.subscribe("ct:rt:{routing}:steps")
        late = AgentMessage(
            conversation_id="task-7", customer_id="cus_7", channel="sms", text="hello?",
            sender=NUMBER, received_id="SMo1",
        )  # fmt: skip
        await desk.produce(
            topics.agent_tasks, new_event(AGENT_MESSAGE, "fwd-7", "/t", late).to_bytes()
        )

        async def notice() -> list[dict[str, object]]:
            got = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            return orjson.loads(got["data"]) if got else []

        (seen,) = await eventually(notice, lambda n: any(s["step"] == "message" for s in n))
        assert (seen["agent"], seen["text"]) == ("cy", "hello?")
    finally:
        await pubsub.aclose()
        await redis.aclose()
