"""A router: the pure routing board, kept in Redis, one atomic commit per event.

Each event is applied in two commits: first everything due up to the event's time (offers
timing out, rings widening, queues opening, overflows), then the event itself. Every commit
moves the board's generation on; a router that finds it moved by another writer reloads the
board before it decides. If another
writer moved a record on in between (:class:`~orchestrator.state.routing_board.Conflict`), the
board is reloaded from Redis and the event applied again, so what Redis holds is always the
result of applying the events one after the other. An event the board refuses
(:class:`~orchestrator.routing.board.Refused`) changes nothing and is raised to the caller.

Example::

    router = await Router.open(RoutingStore(redis), routing)
    out = await router.apply(now, lambda b: b.accept("c1", "ana", now), agents=["ana"])
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from orchestrator.routing import decisions as d
from orchestrator.routing.board import Board
from orchestrator.routing.model import Conversation
from orchestrator.routing.spec import Routing
from orchestrator.state.routing_board import GENERATION, Conflict, RoutingStore, touched

log = logging.getLogger(__name__)

ATTEMPTS = 5
"""Commits tried per event before the conflict is raised (each after a fresh load)."""

Event = Callable[[Board], list[d.Step]]
REMEMBERED = 100_000
"""Conversations whose customer and channel a router keeps after they leave the board."""


class Router:
    """The board of one routing model, and the store it is committed to."""

    def __init__(
        self, store: RoutingStore, routing: Routing, board: Board, revisions: dict[str, int]
    ) -> None:
        self._store = store
        self._routing = routing
        self.board = board
        self._revisions = revisions
        self._seen: dict[str, tuple[str, str]] = {}
        self._remember()
        self._lock = asyncio.Lock()  # one event at a time on this process's copy of the board

    @classmethod
    async def open(cls, store: RoutingStore, routing: Routing) -> Router:
        """A router on the board Redis holds."""
        board, revisions = await store.load(routing)
        return cls(store, routing, board, revisions)

    async def reload(self, routing: Routing | None = None) -> None:
        """Read the board again (with a new routing model, after a hot reload)."""
        self._routing = routing or self._routing
        kept = self.board.routing  # with the queues a reload dropped that still hold work
        self.board, self._revisions = await self._store.load(kept)
        self.board.install(self._routing)
        self._remember()

    @property
    def routing(self) -> Routing:
        """The routing model in force."""
        return self._routing

    @routing.setter
    def routing(self, routing: Routing) -> None:
        self._routing = routing
        self.board.install(routing)

    def customer_of(self, conversation_id: str) -> str | None:
        """The customer of a conversation on the board, or of one that left it since."""
        seen = self._seen.get(conversation_id)
        return seen[0] if seen else None

    def channel_of(self, conversation_id: str) -> str | None:
        """The channel of a conversation on the board, or of one that left it since."""
        seen = self._seen.get(conversation_id)
        return seen[1] if seen else None

    def arriving(self, conversation: Conversation) -> None:
        """Keep the customer and channel of a conversation about to arrive: one whose queue is
        closed and hands it to a flow never stays on the board, and its step needs them."""
        self._seen[conversation.id] = (conversation.customer_id, conversation.channel)

    def _remember(self, ids: Iterable[str] | None = None) -> None:
        """Keep the customer and channel of conversations, for the steps that outlive them."""
        board = self.board.conversations
        for conversation_id in board if ids is None else ids:
            conversation = board.get(conversation_id)
            if conversation is not None:
                self._seen[conversation_id] = (conversation.customer_id, conversation.channel)
        if len(self._seen) > REMEMBERED:
            for old in list(self._seen)[: len(self._seen) - REMEMBERED]:
                if old not in board:
                    del self._seen[old]

    async def refresh(self) -> Board:
        """The board as Redis holds it now (reloaded only if another writer committed)."""
        async with self._lock:
            if await self._store.generation() != self._revisions.get(GENERATION):
                await self.reload()
            return self.board

    async def advance(self, now: datetime) -> list[d.Step]:
        """Commit everything due up to ``now`` (on the board as Redis holds it: another writer,
        the agent API, may have made an offer whose end falls due here)."""
        async with self._lock:
            if await self._store.generation() != self._revisions.get(GENERATION):
                await self.reload()
            return await self._commit(lambda b: b.advance(now))

    async def apply(
        self,
        now: datetime,
        event: Event,
        agents: Iterable[str] = (),
        conversations: Iterable[str] = (),
        queues: Iterable[str] = (),
    ) -> list[d.Step]:
        """Everything due up to ``now``, then ``event``; the decisions of both, in order.
        ``agents``, ``conversations`` and ``queues`` are the records the event names itself
        (its decisions name the rest)."""
        async with self._lock:
            if await self._store.generation() != self._revisions.get(GENERATION):
                await self.reload()  # another writer committed since: decide on what it holds
            due = await self._commit(lambda b: b.advance(now))
            named = (tuple(agents), tuple(conversations), tuple(queues))
            return due + await self._commit(event, *named)

    async def _commit(
        self,
        event: Event,
        agents: Iterable[str] = (),
        conversations: Iterable[str] = (),
        queues: Iterable[str] = (),
    ) -> list[d.Step]:
        for attempt in range(ATTEMPTS):
            out = event(self.board)
            before = self._revisions.get(GENERATION, 0)
            try:
                wrote = await self._store.commit(
                    self.board, touched(out, agents, conversations, queues), self._revisions
                )
                self._remember(getattr(s, "conversation", "") for s in out)
                if wrote and self._revisions.get(GENERATION, 0) != before + 1:
                    await self.reload()  # others committed in between, on other records
                return out
            except Conflict as exc:
                log.info("routing: %s; reloading (attempt %d)", exc, attempt + 1)
                await self.reload()
        raise Conflict(f"still moving after {ATTEMPTS} attempts")
