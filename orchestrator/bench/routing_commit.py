"""The routing decisions as a router makes them: each one committed to the board in Redis.

The simulation (:mod:`orchestrator.bench.routing_sim`) times the pure board. Here the same
floor (``agents`` with capacity, ``online_agents`` more online but full) sits on a real Redis
through :class:`~orchestrator.workers.routing.Router`, and a steady state is driven through it:
a queue of waiting conversations, then, ``rounds`` times, one more arrives (and waits), one
assigned conversation closes (its agent's capacity is offered to the oldest waiting one in that
same commit) and that offer is accepted. Each call is timed from the event to its decisions
committed: what an agent waits for on its own call, and what a customer waits for after
capacity frees. A full reload of the board (what another writer's commit costs a router) is
timed too.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from orchestrator.bench.routing_sim import START, routing_model
from orchestrator.redis_client import make_redis
from orchestrator.routing import decisions as d
from orchestrator.routing.board import Board
from orchestrator.routing.model import Conversation
from orchestrator.state.routing_board import RoutingStore
from orchestrator.workers.routing import Router

STEP = timedelta(milliseconds=200)
"""Simulated time between calls: well inside the offer timeout, so no offer times out."""


@dataclass(frozen=True)
class CommitConfig:
    """The floor and how long to drive it."""

    agents: int = 200
    online_agents: int = 5_000
    rounds: int = 1_000


async def measure(redis_url: str, config: CommitConfig) -> dict[str, Any]:
    """Drive the steady state on a board of its own in ``redis_url`` (deleted after): the p50
    and p99 of each kind of call, in ms, and ``commit_problems``: calls that did not decide
    what they must (an accept not assigned, a close whose freed agent was not offered work)."""
    redis = make_redis(redis_url)
    store = RoutingStore(redis, board=f"bench-{uuid.uuid4().hex[:8]}")  # never the live board
    try:
        await store.clear()
        router = await Router.open(store, routing_model())
        return await _Drive(router, config).run()
    finally:
        await store.clear()
        await redis.aclose()


class _Drive:
    def __init__(self, router: Router, config: CommitConfig) -> None:
        self.router, self.config = router, config
        self.now = START
        self.times: dict[str, list[float]] = {"arrival": [], "accept": [], "refill": []}
        self.assigned: list[tuple[str, str]] = []  # (conversation, agent), oldest first
        self.numbers = iter(range(10**9))
        self.problems = 0

    async def run(self) -> dict[str, Any]:
        staff = [f"a{i:04d}" for i in range(self.config.agents)]
        staff += [f"o{i:05d}" for i in range(self.config.online_agents)]
        await self.router.apply(self.now, self._staff, agents=staff)  # they name themselves
        # fill every free slot, then leave a queue behind
        while True:
            offered = await self._arrive()
            if not offered:
                break
        for _ in range(20):
            await self._arrive()
        for _ in range(self.config.rounds):
            await self._arrive()
            await self._close_and_refill()
        started = time.perf_counter()
        await self.router.reload()
        reload_ms = (time.perf_counter() - started) * 1000
        board = self.router.board
        return {
            "commit_agents": len(board.agents),
            "commit_conversations": len(board.conversations),
            "commit_rounds": self.config.rounds,
            **{f"commit_{k}_p50_ms": _round(_p(v, 0.5)) for k, v in self.times.items()},
            **{f"commit_{k}_p99_ms": _round(_p(v, 0.99)) for k, v in self.times.items()},
            "commit_reload_ms": _round(reload_ms),
            "commit_problems": self.problems,
        }

    def _staff(self, board: Board) -> list[d.Step]:
        out: list[d.Step] = []
        for i in range(self.config.agents):
            skills = {"orders": 1 + i % 5, "billing": 2 + i % 3}
            out += board.agent_joined(f"a{i:04d}", skills, self.now)
            out += board.presence(f"a{i:04d}", "available", self.now)
        for i in range(self.config.online_agents):  # online, never free: searched, not offered
            out += board.agent_joined(f"o{i:05d}", {"orders": 3}, self.now, capacity=1)
            out += board.presence(f"o{i:05d}", "available", self.now)
        return out

    def _tick(self) -> None:
        self.now += STEP

    async def _arrive(self) -> bool:
        """One more conversation; accept its offer if it got one. Whether it did."""
        self._tick()
        n = next(self.numbers)
        conversation = Conversation(
            f"c{n:07d}", "orders", "webchat", self.now, customer_id=f"cus{n:07d}"
        )
        at = self.now
        started = time.perf_counter()
        out = await self.router.apply(
            at, lambda b: b.arrive(conversation, at), conversations=[conversation.id]
        )
        offers = [s for s in out if isinstance(s, d.Offered)]
        if offers:
            self.times["arrival"].append((time.perf_counter() - started) * 1000)
            await self._accept(offers[0])
        return bool(offers)

    async def _accept(self, offer: d.Offered) -> None:
        self._tick()
        at = self.now
        started = time.perf_counter()
        out = await self.router.apply(
            at,
            lambda b: b.accept(offer.conversation, offer.agent, at),
            agents=[offer.agent],
            conversations=[offer.conversation],
        )
        self.times["accept"].append((time.perf_counter() - started) * 1000)
        if not any(isinstance(s, d.Assigned) for s in out):
            self.problems += 1
        self.assigned.append((offer.conversation, offer.agent))

    async def _close_and_refill(self) -> None:
        conversation_id, agent = self.assigned.pop(0)
        self._tick()
        at = self.now
        started = time.perf_counter()
        out = await self.router.apply(
            at,
            lambda b: b.close(conversation_id, at, "resolved"),
            agents=[agent],
            conversations=[conversation_id],
        )
        offers = [s for s in out if isinstance(s, d.Offered)]
        if not offers:  # a waiting conversation and a freed agent: it must be offered now
            self.problems += 1
            return
        self.times["refill"].append((time.perf_counter() - started) * 1000)
        await self._accept(offers[0])


def _p(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _round(value: float) -> float:
    return round(value, 3)
