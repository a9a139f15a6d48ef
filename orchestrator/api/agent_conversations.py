"""What an agent does inside a conversation: reply, add a note, read its history.

- ``POST /v1/conversations/{id}/messages``: a reply. It is published as ``agent.reply`` on the
  customer topic, so the decision worker sends it on the channel the customer last wrote on,
  through the contact policy and the ledger like any send
  (:mod:`orchestrator.engine.conversations`); 202 with the message id to follow in the ledger.
- ``POST /v1/conversations/{id}/notes``: a note for the record (an ``agent_note`` ledger row,
  and a ``note`` event on the agents' live streams).
- ``GET /v1/conversations/{id}``: the conversation, and the customer's history across channels
  from the ledger: what they wrote, what was sent to them (by flows and agents), notes and
  routing steps, from a day before the conversation arrived.

Only the agent that owns the conversation may reply or add notes (409 otherwise); the agent it
is offered to may read it too.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Header, HTTPException
from pydantic import BaseModel, Field

from orchestrator.api.agents import ConversationView, Desk, agent_of, conversation_view, owned
from orchestrator.api.models import error
from orchestrator.api.webhooks import publish_now
from orchestrator.engine.conversations import FLOW_ID
from orchestrator.engine.decisions import derive_id
from orchestrator.events import AGENT_REPLY, AgentReply, AuditRecord, new_event
from orchestrator.ledger.records import audit
from orchestrator.routing import decisions as d
from orchestrator.routing.model import Conversation
from orchestrator.workers.router import announce

ROUTE = "/v1/conversations"
SOURCE = "/continuum/api/agent"
HISTORY_BEFORE = timedelta(days=1)
"""How far before the conversation's arrival its history starts (the bot's part of it)."""
HISTORY_LIMIT = 500
ROUTING_STEPS = frozenset(
    str(getattr(c, "step", ""))
    for c in vars(d).values()
    if isinstance(c, type) and issubclass(c, d.Decision) and c is not d.Decision
)


class ReplyRequest(BaseModel):
    """``POST /v1/conversations/{id}/messages``."""

    text: str = Field(min_length=1, max_length=4096)


class NoteRequest(BaseModel):
    """``POST /v1/conversations/{id}/notes``."""

    text: str = Field(min_length=1, max_length=4096)


class ReplyAccepted(BaseModel):
    """The reply is on its way: ``message_id`` names it in the ledger."""

    event_id: str
    message_id: str
    conversation_id: str


class NoteAdded(BaseModel):
    """The note's ledger record."""

    record_id: str


class HistoryItem(BaseModel):
    """One line of a customer's history."""

    at: str
    kind: Literal["in", "out", "note", "routing"]
    step: str
    channel: str | None = None
    text: str | None = None
    agent: str | None = None
    outcome: str | None = None


class ConversationDetail(BaseModel):
    """``GET /v1/conversations/{id}``."""

    conversation: ConversationView
    history: list[HistoryItem]


def conversation_routes(api: APIRouter, desk: Desk) -> None:
    """Add the reply, note and history endpoints to ``api``."""
    deps = desk.deps
    mine: dict[int | str, dict[str, Any]] = {
        404: error("no such conversation on the board"),
        409: error("not yours"),
    }

    async def current(conversation_id: str, agent_id: str, *, offered: bool) -> Conversation:
        board = await desk.router().refresh()  # another process may have assigned it
        c = board.conversations.get(conversation_id)
        if offered and c is not None and c.offer is not None and c.offer.agent == agent_id:
            return c
        owned(board, conversation_id, agent_id)
        return board.conversations[conversation_id]

    @api.post(
        "/v1/conversations/{conversation_id}/messages",
        status_code=202,
        response_model=ReplyAccepted,
        responses={**mine, 503: error("the broker did not take the reply")},
    )
    async def reply(
        conversation_id: str, body: ReplyRequest, authorization: str | None = Header(None)
    ) -> ReplyAccepted:
        """Reply to the customer, on the channel they last wrote on, through the contact
        policy (a reply the policy blocks is in the ledger with the rule that blocked it)."""
        agent_id = agent_of(deps, authorization)
        c = await current(conversation_id, agent_id, offered=False)
        at = desk.now()
        data = AgentReply(
            conversation_id=c.id, customer_id=c.customer_id, agent=agent_id, text=body.text
        )
        event_id = derive_id("rpl", c.id, agent_id, at.isoformat(), body.text)
        event = new_event(AGENT_REPLY, event_id, SOURCE, data, time=at, customer_id=c.customer_id)
        await publish_now(deps, ROUTE, deps.topics.customer, event, c.customer_id)
        message_id = derive_id("msg", event_id, c.id)  # as the engine derives it
        return ReplyAccepted(event_id=event_id, message_id=message_id, conversation_id=c.id)

    @api.post(
        "/v1/conversations/{conversation_id}/notes",
        status_code=201,
        response_model=NoteAdded,
        responses=mine,
    )
    async def note(
        conversation_id: str, body: NoteRequest, authorization: str | None = Header(None)
    ) -> NoteAdded:
        """Add a note to the conversation's record (the customer does not see it)."""
        agent_id = agent_of(deps, authorization)
        c = await current(conversation_id, agent_id, offered=False)
        at = desk.now()
        row = audit(
            "agent_note",
            agent_id,
            identity=(c.id, agent_id, at.isoformat(), body.text),
            at=at,
            customer_id=c.customer_id,
            channel=c.channel,
            detail={"conversation": c.id, "agent": agent_id, "text": body.text},
        )
        await deps.publisher.audit(row)
        await deps.publisher.flush()
        if deps.redis is not None:
            notice = {**row.detail, "step": "note", "at": at.isoformat()}
            await announce(deps.redis, [notice])
        return NoteAdded(record_id=row.record_id)

    @api.get(
        "/v1/conversations/{conversation_id}",
        response_model=ConversationDetail,
        responses={
            404: error("no such conversation on the board"),
            409: error("neither yours nor offered to you"),
            503: error("this process has no ledger"),
        },
    )
    async def show(conversation_id: str, authorization: str | None = Header(None)) -> Any:
        """The conversation, and the customer's history across channels (oldest first)."""
        agent_id = agent_of(deps, authorization)
        c = await current(conversation_id, agent_id, offered=True)
        if deps.ledger is None:
            raise HTTPException(503, "this process has no ledger")
        rows = await deps.ledger.query(
            customer_id=c.customer_id, since=c.arrived_at - HISTORY_BEFORE, limit=HISTORY_LIMIT
        )
        board = desk.router().board
        return ConversationDetail(
            conversation=conversation_view(board, c, desk.now()),
            history=[item for row in rows if (item := history_item(row)) is not None],
        )


def history_item(row: AuditRecord) -> HistoryItem | None:
    """A ledger row as a line of the customer's history, or None for rows an agent need not
    read (resolution, policy checks, provider attempts)."""
    detail, at = row.detail, row.occurred_at.isoformat()
    if row.step == "inbound_received":
        return HistoryItem(
            at=at, kind="in", step=row.step, channel=row.channel, text=detail.get("text")
        )
    if row.step == "message_queued":
        step = row.flow_step or ""
        agent = step.removeprefix("agent:") if row.flow_id == FLOW_ID else None
        return HistoryItem(
            at=at,
            kind="out",
            step=row.step,
            channel=row.channel,
            text=detail.get("text"),
            agent=agent,
        )
    if row.step == "agent_note":
        return HistoryItem(
            at=at, kind="note", step=row.step, text=detail.get("text"), agent=detail.get("agent")
        )
    if row.step in ROUTING_STEPS:
        return HistoryItem(
            at=at,
            kind="routing",
            step=row.step,
            channel=row.channel,
            agent=detail.get("agent"),
            outcome=row.outcome,
        )
    return None
