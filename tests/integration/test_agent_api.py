"""The agent API on a real uvicorn server and a real routing board in Redis: an agent's token
says who calls; presence, offers, accept and reject, transfer, wrap-up, the live stream of
server-sent events and the wallboard; every error is a 4xx with a reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from orchestrator.api.app import ApiDeps, create_app
from orchestrator.events import AuditRecord, CloudEvent
from orchestrator.http_server import HttpServer
from orchestrator.metrics import Metrics
from orchestrator.routing.model import Conversation
from orchestrator.routing.spec import Routing
from orchestrator.servers._ports import free_port
from orchestrator.settings import Settings
from orchestrator.state.routing_board import RoutingStore
from orchestrator.topics import Topics
from orchestrator.workers.router import notify
from orchestrator.workers.routing import Router

ROUTING = Routing.model_validate(
    {
        "offer_timeout": "30s",
        "queues": {"billing": {"skills": {"billing": 1}}, "general": {}},
        "agents": {"ana": {"skills": {"billing": 3}}, "bo": {"skills": {"billing": 2}}},
    }
)
TOKENS = {"ana": "ana-token", "bo": "bo-token", "cy": "cy-token"}  # cy: not on the roster


@dataclass
class Ledger:
    """A publisher that keeps the audit rows and the events the API hands it."""

    rows: list[AuditRecord] = field(default_factory=list)
    events: list[tuple[str, CloudEvent, str | None]] = field(default_factory=list)

    async def audit(self, record: AuditRecord) -> None:
        self.rows.append(record)

    async def publish(self, topic: str, event: CloudEvent, key: str | None) -> None:
        self.events.append((topic, event, key))

    async def flush(self) -> None:
        return None

    async def publish_confirmed(self, topic: str, event: CloudEvent, key: str | None) -> None:
        self.events.append((topic, event, key))


@dataclass
class Desk:
    url: str
    router: Router
    routing_side: Router
    ledger: Ledger
    http: httpx.AsyncClient
    redis: Redis
    store: RoutingStore

    def auth(self, agent: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKENS[agent]}"}


@pytest.fixture
async def desk(redis_url: str) -> AsyncIterator[Desk]:
    redis = Redis.from_url(redis_url)
    store = RoutingStore(redis)
    await store.clear()
    router = await Router.open(store, ROUTING)
    routing_side = await Router.open(store, ROUTING)  # the router role, another writer
    ledger = Ledger()
    settings = Settings(api={"agent_tokens": TOKENS, "operator_token": "op-token"})
    deps = ApiDeps(
        settings,
        Metrics(CollectorRegistry()),
        Topics(),
        ledger,  # type: ignore[arg-type]
        {},
        reload_flows=_no_reload,
        redis=redis,
        router=router,
    )
    port = free_port()
    server = HttpServer(create_app(deps), "127.0.0.1", port, "api")
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            yield Desk(f"http://127.0.0.1:{port}", router, routing_side, ledger, http, redis, store)
    finally:
        await server.stop()
        await store.clear()
        await redis.aclose()


async def _no_reload() -> Any:
    raise AssertionError("not used")


async def arrive(desk: Desk, conversation_id: str, queue: str = "billing") -> None:
    """A conversation the router role puts on the board, and tells the agents' streams of."""
    now = datetime.now(UTC)
    customer = f"cus-{conversation_id}"
    conversation = Conversation(conversation_id, queue, "sms", now, customer_id=customer)
    out = await desk.routing_side.apply(now, lambda b: b.arrive(conversation, now))
    await notify(desk.redis, out)


async def test_tokens_say_who_calls(desk: Desk) -> None:
    resp = await desk.http.get("/v1/agent")
    assert resp.status_code == 401
    assert "agent token" in resp.json()["detail"]
    resp = await desk.http.get("/v1/agent", headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401
    resp = await desk.http.get("/v1/agent", headers=desk.auth("cy"))
    assert resp.status_code == 404  # known by token, not yet on the board
    assert "presence" in resp.json()["detail"]
    resp = await desk.http.get("/v1/agent", headers=desk.auth("ana"))
    assert resp.json()["presence"] == "offline"  # on the roster: on the board, offline
    resp = await desk.http.put(
        "/v1/agent/presence", json={"presence": "dancing"}, headers=desk.auth("ana")
    )
    assert resp.status_code == 422


async def test_an_agent_is_offered_work_accepts_it_and_wraps_up(desk: Desk) -> None:
    await arrive(desk, "c1")  # waits: nobody is available
    resp = await desk.http.put(
        "/v1/agent/presence", json={"presence": "available"}, headers=desk.auth("ana")
    )
    assert resp.status_code == 200
    me = resp.json()
    assert me["skills"] == {"billing": 3}  # from the roster
    assert [o["conversation_id"] for o in me["offers"]] == ["c1"]  # offered at once
    assert me["load"] == 25

    resp = await desk.http.post("/v1/conversations/c1/accept", headers=desk.auth("bo"))
    assert resp.status_code == 409
    assert "not offered to 'bo'" in resp.json()["detail"]
    resp = await desk.http.post("/v1/conversations/c1/accept", headers=desk.auth("ana"))
    assert resp.status_code == 200
    assert [s["step"] for s in resp.json()["steps"]] == ["assigned"]
    me = (await desk.http.get("/v1/agent", headers=desk.auth("ana"))).json()
    assert [c["conversation_id"] for c in me["conversations"]] == ["c1"]
    assert me["conversations"][0]["status"] == "assigned"

    resp = await desk.http.post(
        "/v1/conversations/c1/close", json={"disposition": "paid"}, headers=desk.auth("bo")
    )
    assert resp.status_code == 409
    resp = await desk.http.post(
        "/v1/conversations/c1/close", json={"disposition": "no spaces"}, headers=desk.auth("ana")
    )
    assert resp.status_code == 422
    resp = await desk.http.post(
        "/v1/conversations/c1/close", json={"disposition": "paid"}, headers=desk.auth("ana")
    )
    assert [s["step"] for s in resp.json()["steps"]] == ["wrapped_up", "closed"]
    resp = await desk.http.post(
        "/v1/conversations/c1/close", json={"disposition": "paid"}, headers=desk.auth("ana")
    )
    assert resp.status_code == 404

    steps = [(r.step, r.outcome, r.customer_id) for r in desk.ledger.rows]
    assert ("offered", "ana", "cus-c1") in steps
    assert ("assigned", "ana", "cus-c1") in steps
    assert ("wrapped_up", "ana", "cus-c1") in steps
    board = (await Router.open(desk.store, ROUTING)).board
    assert board.agents["ana"].load == 0
    assert "c1" not in board.conversations
    # the customer's flows heard: assigned to ana, then closed by ana as paid
    told = [(t, e.type, k, e.data) for t, e, k in desk.ledger.events]
    assert [(t, kind, k) for t, kind, k, _ in told] == [
        (Topics().customer, "event.conversation.assigned", "cus-c1"),
        (Topics().customer, "event.conversation.closed", "cus-c1"),
    ]
    assert told[0][3] is not None
    assert (told[0][3]["conversation_id"], told[0][3]["agent"]) == ("c1", "ana")
    assert told[1][3] is not None
    assert (told[1][3]["agent"], told[1][3]["disposition"]) == ("ana", "paid")


async def test_the_owner_replies_and_adds_notes_others_may_not(desk: Desk) -> None:
    await arrive(desk, "c5")
    await desk.http.put(
        "/v1/agent/presence", json={"presence": "available"}, headers=desk.auth("ana")
    )
    body = {"text": "Your refund is on its way"}
    resp = await desk.http.post(
        "/v1/conversations/c5/messages", json=body, headers=desk.auth("ana")
    )
    assert resp.status_code == 409  # offered, not yet accepted
    await desk.http.post("/v1/conversations/c5/accept", headers=desk.auth("ana"))
    resp = await desk.http.post("/v1/conversations/c5/messages", json=body, headers=desk.auth("bo"))
    assert resp.status_code == 409
    assert "not yours" in resp.json()["detail"]
    resp = await desk.http.post(
        "/v1/conversations/c5/messages", json={"text": ""}, headers=desk.auth("ana")
    )
    assert resp.status_code == 422
    resp = await desk.http.post(
        "/v1/conversations/nope/messages", json=body, headers=desk.auth("ana")
    )
    assert resp.status_code == 404
    resp = await desk.http.post(
        "/v1/conversations/c5/messages", json=body, headers=desk.auth("ana")
    )
    assert resp.status_code == 202
    accepted = resp.json()
    (topic, event, key) = desk.ledger.events[-1]
    assert (topic, event.type, key, event.id) == (
        Topics().customer,
        "agent.reply",
        "cus-c5",
        accepted["event_id"],
    )
    assert event.data == {
        "conversation_id": "c5",
        "customer_id": "cus-c5",
        "agent": "ana",
        "text": "Your refund is on its way",
    }
    resp = await desk.http.post(
        "/v1/conversations/c5/notes", json={"text": "refund #77"}, headers=desk.auth("ana")
    )
    assert resp.status_code == 201
    (note,) = [r for r in desk.ledger.rows if r.step == "agent_note"]
    assert (note.record_id, note.outcome, note.customer_id) == (
        resp.json()["record_id"],
        "ana",
        "cus-c5",
    )
    assert note.detail["text"] == "refund #77"
    resp = await desk.http.get("/v1/conversations/c5", headers=desk.auth("ana"))
    assert resp.status_code == 503  # this API has no ledger to read the history from
    assert "ledger" in resp.json()["detail"]


async def test_reject_passes_on_and_transfer_hands_over(desk: Desk) -> None:
    for agent in ("ana", "bo"):
        await desk.http.put(
            "/v1/agent/presence", json={"presence": "available"}, headers=desk.auth(agent)
        )
    await arrive(desk, "c1")
    first = desk.routing_side.board.conversations["c1"].offer
    assert first is not None
    other = "bo" if first.agent == "ana" else "ana"
    resp = await desk.http.post("/v1/conversations/c1/reject", headers=desk.auth(first.agent))
    assert [(s["step"], s["agent"]) for s in resp.json()["steps"]] == [
        ("offer_rejected", first.agent),
        ("offered", other),
    ]
    await desk.http.post("/v1/conversations/c1/accept", headers=desk.auth(other))
    resp = await desk.http.post(
        "/v1/conversations/c1/transfer", json={"queue": "nowhere"}, headers=desk.auth(other)
    )
    assert resp.status_code == 404
    resp = await desk.http.post(
        "/v1/conversations/c1/transfer", json={"queue": "general"}, headers=desk.auth(first.agent)
    )
    assert resp.status_code == 409  # not theirs
    resp = await desk.http.post(
        "/v1/conversations/c1/transfer", json={"agent": first.agent}, headers=desk.auth(other)
    )
    assert [s["step"] for s in resp.json()["steps"]] == ["transferred", "queued", "offered"]
    assert resp.json()["steps"][-1]["agent"] == first.agent


async def test_the_stream_pushes_the_agents_offers(desk: Desk) -> None:
    await desk.http.put(
        "/v1/agent/presence", json={"presence": "available"}, headers=desk.auth("ana")
    )
    events: list[str] = []
    async with desk.http.stream("GET", "/v1/agent/stream", headers=desk.auth("ana")) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        lines = resp.aiter_lines()
        assert await anext(lines) == ": connected"
        await arrive(desk, "c7")  # the router role's offer reaches ana's stream
        async for line in lines:
            events.append(line)
            if line.startswith("data:"):
                break
    assert "event: offered" in events
    assert '"conversation":"c7"' in events[-1]


async def test_the_wallboard(desk: Desk) -> None:
    await arrive(desk, "c1")
    await arrive(desk, "c2", "general")
    resp = await desk.http.get("/v1/queues")
    assert resp.status_code == 401
    resp = await desk.http.get("/v1/queues", headers={"Authorization": "Bearer op-token"})
    assert resp.status_code == 200
    board = {q["queue"]: q for q in resp.json()["queues"]}
    assert board["billing"]["waiting"] == 1
    assert board["billing"]["open"] is True
    assert board["billing"]["oldest_wait_s"] >= 0
    assert board["general"]["waiting"] == 1
    await desk.http.put("/v1/agent/presence", json={"presence": "busy"}, headers=desk.auth("bo"))
    resp = await desk.http.get("/v1/queues", headers=desk.auth("ana"))
    assert {q["queue"]: q["agents"] for q in resp.json()["queues"]}["billing"] == {
        "busy": 1,
        "offline": 1,  # ana, on the roster
    }


async def test_the_operator_closes_a_queue_in_an_emergency_and_gives_it_back(desk: Desk) -> None:
    op = {"Authorization": "Bearer op-token"}
    body = {"override": "closed", "reason": "fire drill"}
    resp = await desk.http.put("/v1/queues/billing/override", json=body, headers=desk.auth("ana"))
    assert resp.status_code == 401  # an agent is not the operator
    resp = await desk.http.put("/v1/queues/nowhere/override", json=body, headers=op)
    assert resp.status_code == 404
    assert "nowhere" in resp.json()["detail"]
    resp = await desk.http.put("/v1/queues/billing/override", json={"override": "ajar"}, headers=op)
    assert resp.status_code == 422
    resp = await desk.http.put("/v1/queues/billing/override", json=body, headers=op)
    assert resp.status_code == 200, resp.text

    def is_open(board: Any) -> bool:
        return {q["queue"]: q["open"] for q in board["queues"]}["billing"]

    assert is_open((await desk.http.get("/v1/queues", headers=op)).json()) is False
    (row,) = [r for r in desk.ledger.rows if r.step == "queue_override"]
    assert (row.outcome, row.reason, row.detail["queue"]) == ("closed", "fire drill", "billing")
    # every writer decides on it: a conversation arriving at the router now is closed-hours
    now = datetime.now(UTC)
    conversation = Conversation("c9", "billing", "sms", now, customer_id="cus-c9")
    out = await desk.routing_side.apply(now, lambda b: b.arrive(conversation, now))
    assert [s.step for s in out] == ["closed_hours", "queued"]  # when_closed: queue (default)

    resp = await desk.http.put("/v1/queues/billing/override", json={"override": None}, headers=op)
    assert resp.status_code == 200
    assert is_open((await desk.http.get("/v1/queues", headers=op)).json()) is True
    assert [r.outcome for r in desk.ledger.rows if r.step == "queue_override"] == [
        "closed",
        "schedule",
    ]
