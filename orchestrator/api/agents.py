"""The agent API: an agent's presence, offers and conversations, and the queues' wallboard.

Each agent has a bearer token (``CONTINUUM_API__AGENT_TOKENS``, agent id to token): the token
says who is asking, and every call acts as that agent on the routing board
(:class:`~orchestrator.workers.routing.Router`, committed to Redis like the router's own
decisions). Each decision a call leads to goes to the ledger, as the router's do.

- ``GET /v1/agent``: the agent as the board has it, with its offers and conversations;
- ``PUT /v1/agent/presence``: available, busy, away or offline (an agent on the roster of
  ``routing.yaml`` joins with the roster's skills the first time);
- ``POST /v1/conversations/{id}/accept`` and ``/reject``: answer an offer;
- ``POST /v1/conversations/{id}/transfer``: to a queue, or to one agent;
- ``POST /v1/conversations/{id}/close``: wrap up with a disposition code;
- ``POST /v1/conversations/{id}/messages`` and ``/notes``, ``GET /v1/conversations/{id}``: a
  reply to the customer, a note, the history (:mod:`orchestrator.api.agent_conversations`);
- ``GET /v1/agent/stream``: server-sent events, one per routing step about the agent;
- ``GET /v1/queues``: the wallboard, for agents and operators;
- ``PUT /v1/queues/{queue}/override``: the operator opens or closes a queue whatever its
  schedule (an emergency), or gives it back to it.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import orjson
from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from orchestrator.api.models import error
from orchestrator.ledger.records import audit
from orchestrator.routing import decisions as d
from orchestrator.routing.board import Board, Refused, Unknown
from orchestrator.routing.matching import has_skills, priority_of
from orchestrator.routing.model import Agent, Conversation, Presence
from orchestrator.routing.schedule import Override, is_open
from orchestrator.state import keys
from orchestrator.workers.router import publish_steps
from orchestrator.workers.routing import Router

if TYPE_CHECKING:
    from orchestrator.api.app import ApiDeps

log = logging.getLogger(__name__)

KEEPALIVE_S = 15.0
"""A comment line on an idle stream this often, so proxies keep it open."""


class ConversationView(BaseModel):
    """A conversation as an agent sees it."""

    conversation_id: str
    customer_id: str
    queue: str
    channel: str
    status: Literal["waiting", "offered", "assigned", "closed"]
    priority: int = Field(description="with aging, now")
    arrived_at: datetime
    offer_expires_at: datetime | None = None
    note: str | None = None


class AgentView(BaseModel):
    """``GET /v1/agent``."""

    agent: str
    presence: Presence
    capacity: int
    load: int = Field(description="the capacity its conversations and offers take")
    skills: dict[str, int]
    offers: list[ConversationView]
    conversations: list[ConversationView]


class PresenceRequest(BaseModel):
    """``PUT /v1/agent/presence``."""

    presence: Presence


class TransferRequest(BaseModel):
    """``POST /v1/conversations/{id}/transfer``: a queue, an agent, or both."""

    queue: str | None = Field(None, description="the queue (default: the conversation's own)")
    agent: str | None = Field(None, description="offer it to this agent alone first")


class OverrideRequest(BaseModel):
    """``PUT /v1/queues/{queue}/override``."""

    override: Override | None = Field(
        description="open or closed whatever the schedule; null: back to the schedule"
    )
    reason: str | None = Field(None, max_length=500, description="why, for the ledger")


class CloseRequest(BaseModel):
    """``POST /v1/conversations/{id}/close``."""

    disposition: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")


class Steps(BaseModel):
    """What an agent's call decided, in order (each as its ledger row's detail)."""

    steps: list[dict[str, Any]]


class QueueBoard(BaseModel):
    """One queue on the wallboard, now."""

    queue: str
    open: bool
    waiting: int = Field(description="conversations not yet offered")
    offered: int
    assigned: int
    oldest_wait_s: float | None = Field(description="the longest wait of those not assigned")
    agents: dict[str, int] = Field(description="agents with the queue's skills, by presence")


class Wallboard(BaseModel):
    """``GET /v1/queues``."""

    at: datetime
    queues: list[QueueBoard]


_AGENT_ERRORS: dict[int | str, dict[str, Any]] = {
    401: error("no `Authorization: Bearer <agent token>`, or an unknown token"),
    403: error("agent endpoints are disabled: CONTINUUM_API__AGENT_TOKENS is empty"),
    503: error("this process has no routing board (Redis)"),
}


class Desk:
    """What every agent endpoint shares: the board, the clock, and applying one event."""

    def __init__(self, deps: ApiDeps, router: Router | None, now: Callable[[], datetime]):
        self.deps = deps
        self._router = router
        self.now = now

    def router(self) -> Router:
        """The routing board's writer, or 503."""
        if self._router is None:
            raise HTTPException(503, "this process has no routing board")
        return self._router

    async def act(
        self, what: Callable[[Board], list[d.Step]], at: datetime, **named: list[str]
    ) -> list[d.Step]:
        """Apply one event (404 for what the board lacks, 409 for what it refuses now), and
        publish its decisions as the router does."""
        r = self.router()
        try:
            out = await r.apply(at, what, **named)
        except Unknown as exc:
            raise HTTPException(404, str(exc)) from None
        except Refused as exc:
            raise HTTPException(409, str(exc)) from None
        deps = self.deps
        if deps.redis is not None:
            await publish_steps(deps.publisher, deps.redis, r, out, deps)
            await deps.publisher.flush()
        return out


def agents_router(deps: ApiDeps, router: Router | None, now: Callable[[], datetime]) -> APIRouter:
    """The agent endpoints, acting on ``router``'s board (``None``: they answer 503)."""
    api = APIRouter(tags=["agents"], responses=_AGENT_ERRORS)
    desk = Desk(deps, router, now)
    _agent_routes(api, desk)
    _conversation_routes(api, desk)
    from orchestrator.api.agent_conversations import conversation_routes  # it builds on these

    conversation_routes(api, desk)
    return api


def _agent_routes(api: APIRouter, desk: Desk) -> None:
    deps = desk.deps

    @api.get("/v1/agent", response_model=AgentView)
    async def me(authorization: str | None = Header(None)) -> AgentView:
        """The calling agent, its offers and its conversations."""
        agent_id = agent_of(deps, authorization)
        board = await desk.router().refresh()
        agent = board.agents.get(agent_id)
        if agent is None:
            raise HTTPException(404, f"agent {agent_id!r} has not set a presence yet")
        return view_of(board, agent, desk.now())

    @api.put(
        "/v1/agent/presence",
        response_model=AgentView,
        responses={422: error("not a presence")},
    )
    async def presence(
        body: PresenceRequest, authorization: str | None = Header(None)
    ) -> AgentView:
        """Set the calling agent's presence; becoming available offers it work at once."""
        agent_id = agent_of(deps, authorization)
        at = desk.now()
        r = desk.router()
        roster = r.routing.agents.get(agent_id)
        if roster is not None or agent_id not in r.board.agents:
            skills = dict(roster.skills) if roster else {}
            capacity = roster.capacity if roster else None
            await desk.act(
                lambda b: b.agent_joined(agent_id, skills, at, capacity), at, agents=[agent_id]
            )
        await desk.act(lambda b: b.presence(agent_id, body.presence, at), at, agents=[agent_id])
        return view_of(r.board, r.board.agents[agent_id], at)

    @api.get(
        "/v1/agent/stream",
        response_class=StreamingResponse,
        responses={
            200: {"description": "server-sent events", "content": {"text/event-stream": {}}}
        },
    )
    async def stream(
        request: Request, authorization: str | None = Header(None)
    ) -> StreamingResponse:
        """Server-sent events: each routing step that names the calling agent (offers, their
        ends, assignments), as ``event: <step>`` with the step as JSON."""
        agent_id = agent_of(deps, authorization)
        if deps.redis is None:
            raise HTTPException(503, "this process has no Redis")
        return StreamingResponse(
            _events(deps, request, agent_id),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @api.get("/v1/queues", response_model=Wallboard)
    async def queues(authorization: str | None = Header(None)) -> Wallboard:
        """Every queue now: depth, offers, assignments, the oldest wait, agents by presence."""
        agent_or_operator(deps, authorization)
        return wallboard(await desk.router().refresh(), desk.now())

    @api.put(
        "/v1/queues/{queue}/override",
        response_model=Steps,
        responses={404: error("no such queue"), 401: error("not the operator's token")},
    )
    async def override(
        queue: str, body: OverrideRequest, authorization: str | None = Header(None)
    ) -> Steps:
        """The operator opens or closes a queue whatever its schedule (an emergency), or gives
        it back to its schedule (``null``); written to the ledger as ``queue_override``."""
        from orchestrator.api.flows import authorize  # the operator's token, as flows reload

        authorize(deps, authorization, "PUT /v1/queues/{queue}/override")
        at = desk.now()
        out = await desk.act(lambda b: b.override(queue, body.override, at), at, queues=[queue])
        await deps.publisher.audit(
            audit(
                "queue_override",
                body.override or "schedule",
                identity=("override", queue, at.isoformat()),
                at=at,
                reason=body.reason,
                detail={"queue": queue, "override": body.override, "reason": body.reason},
            )
        )
        await deps.publisher.flush()
        return steps_of(out)


def _conversation_routes(api: APIRouter, desk: Desk) -> None:
    deps = desk.deps
    answer: dict[int | str, dict[str, Any]] = {
        404: error("no such conversation"),
        409: error("not offered to you (now)"),
    }

    @api.post("/v1/conversations/{conversation_id}/accept", response_model=Steps, responses=answer)
    async def accept(conversation_id: str, authorization: str | None = Header(None)) -> Steps:
        """Accept an offer: the conversation is yours."""
        agent_id = agent_of(deps, authorization)
        at = desk.now()
        return steps_of(await desk.act(lambda b: b.accept(conversation_id, agent_id, at), at))

    @api.post("/v1/conversations/{conversation_id}/reject", response_model=Steps, responses=answer)
    async def reject(conversation_id: str, authorization: str | None = Header(None)) -> Steps:
        """Pass an offer on: the next agent is offered it at once."""
        agent_id = agent_of(deps, authorization)
        at = desk.now()
        return steps_of(await desk.act(lambda b: b.reject(conversation_id, agent_id, at), at))

    @api.post(
        "/v1/conversations/{conversation_id}/transfer",
        response_model=Steps,
        responses={404: error("no such conversation, queue or agent"), 409: error("not yours")},
    )
    async def transfer(
        conversation_id: str, body: TransferRequest, authorization: str | None = Header(None)
    ) -> Steps:
        """Hand your conversation to a queue, or to one agent."""
        agent_id = agent_of(deps, authorization)
        owned(desk.router().board, conversation_id, agent_id)
        at = desk.now()
        out = await desk.act(lambda b: b.transfer(conversation_id, at, body.queue, body.agent), at)
        return steps_of(out)

    @api.post(
        "/v1/conversations/{conversation_id}/close",
        response_model=Steps,
        responses={404: error("no such conversation"), 409: error("not yours")},
    )
    async def close(
        conversation_id: str, body: CloseRequest, authorization: str | None = Header(None)
    ) -> Steps:
        """Wrap up your conversation with a disposition code; it goes back to automation."""
        agent_id = agent_of(deps, authorization)
        owned(desk.router().board, conversation_id, agent_id)
        at = desk.now()
        out = await desk.act(lambda b: b.close(conversation_id, at, body.disposition), at)
        return steps_of(out)


async def _events(deps: ApiDeps, request: Request, agent_id: str) -> AsyncIterator[bytes]:
    redis = deps.redis
    assert redis is not None  # noqa: S101 - checked by the route
    pubsub = redis.pubsub()
    await pubsub.subscribe(keys.routing_key("steps"))
    try:
        yield b": connected\n\n"
        while not await request.is_disconnected():
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=KEEPALIVE_S)
            if message is None:
                yield b": keepalive\n\n"
                continue
            for step in orjson.loads(message["data"]):
                if step.get("agent") == agent_id or step.get("to_agent") == agent_id:
                    yield (
                        b"event: "
                        + step["step"].encode()
                        + b"\ndata: "
                        + orjson.dumps(step)
                        + b"\n\n"
                    )
    finally:
        await pubsub.unsubscribe()
        await pubsub.aclose()


def agent_of(deps: ApiDeps, authorization: str | None) -> str:
    """The agent whose token the request carries, or 403 (no agent tokens) / 401."""
    tokens = deps.settings.api.agent_tokens
    if not tokens:
        raise HTTPException(403, "agent endpoints are disabled: set CONTINUUM_API__AGENT_TOKENS")
    scheme, _, given = (authorization or "").partition(" ")
    found = None
    for agent_id, token in tokens.items():  # every one compared: no early exit to time
        if hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
            found = agent_id
    if scheme.lower() != "bearer" or found is None:
        raise HTTPException(
            401,
            "a valid `Authorization: Bearer <agent token>` is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return found


def agent_or_operator(deps: ApiDeps, authorization: str | None) -> None:
    """An agent's token or the operator's; else 401 (or 403 when neither is configured)."""
    operator = deps.settings.api.operator_token
    scheme, _, given = (authorization or "").partition(" ")
    if (
        operator is not None
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.encode(), operator.get_secret_value().encode())
    ):
        return
    if not deps.settings.api.agent_tokens and operator is None:
        raise HTTPException(403, "set CONTINUUM_API__AGENT_TOKENS or CONTINUUM_API__OPERATOR_TOKEN")
    agent_of(deps, authorization)


def owned(board: Board, conversation_id: str, agent_id: str) -> None:
    """409 unless the calling agent owns the conversation (404 when there is none)."""
    conversation = board.conversations.get(conversation_id)
    if conversation is None:
        raise HTTPException(404, f"conversation {conversation_id!r} is not routed")
    if conversation.agent != agent_id:
        raise HTTPException(409, f"conversation {conversation_id!r} is not yours")


def steps_of(out: list[d.Step]) -> Steps:
    """The decisions as the ledger's details."""
    return Steps(steps=[s.fields() for s in out])


def conversation_view(board: Board, c: Conversation, at: datetime) -> ConversationView:
    """One conversation, with its priority aged to ``at``."""
    queue = board.routing.queues.get(c.queue)
    note = c.attributes.get("note")
    return ConversationView(
        conversation_id=c.id,
        customer_id=c.customer_id,
        queue=c.queue,
        channel=c.channel,
        status=c.status,
        priority=priority_of(queue, c, at) if queue is not None else c.base_priority,
        arrived_at=c.arrived_at,
        offer_expires_at=c.offer.expires_at if c.offer is not None else None,
        note=str(note) if note is not None else None,
    )


def view_of(board: Board, agent: Agent, at: datetime) -> AgentView:
    """An agent with its offers and conversations."""
    conversations = board.conversations

    def views(ids: set[str]) -> list[ConversationView]:
        found = [conversations[i] for i in sorted(ids) if i in conversations]
        return [conversation_view(board, c, at) for c in found]

    return AgentView(
        agent=agent.id,
        presence=agent.presence,
        capacity=agent.capacity,
        load=agent.load,
        skills=dict(agent.skills),
        offers=views(agent.offers),
        conversations=views(agent.holding),
    )


def wallboard(board: Board, at: datetime) -> Wallboard:
    """Every queue of the model, as the board has it at ``at``."""
    rows = []
    for name, queue in board.routing.queues.items():
        mine = [c for c in board.conversations.values() if c.queue == name]
        unassigned = [c for c in mine if c.status != "assigned"]
        oldest = min((c.arrived_at for c in unassigned), default=None)
        presence: dict[str, int] = {}
        for agent in board.agents.values():
            if has_skills(agent, queue.skills):
                presence[agent.presence] = presence.get(agent.presence, 0) + 1
        schedule = board.routing.schedules.get(queue.schedule) if queue.schedule else None
        rows.append(
            QueueBoard(
                queue=name,
                open=is_open(schedule, at, board.overrides.get(name)),
                waiting=sum(c.status == "waiting" for c in mine),
                offered=sum(c.status == "offered" for c in mine),
                assigned=sum(c.status == "assigned" for c in mine),
                oldest_wait_s=(at - oldest).total_seconds() if oldest is not None else None,
                agents=presence,
            )
        )
    return Wallboard(at=at, queues=rows)


def utc_now() -> datetime:
    """The API's clock."""
    return datetime.now(UTC)
