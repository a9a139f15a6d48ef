"""A contact-centre simulation on the routing board: conversations arrive, agents come and go,
answer offers or let them time out, hold conversations for a while and wrap up; customers who
wait too long abandon. Seeded, in simulated time (nothing sleeps), so a run is repeatable.

It reports what a contact centre watches (service level, abandonment) and what the router
costs (the wall time of each decision), and checks the board after every event: no agent over
capacity, no conversation held twice. The test suite runs it small; ``continuum bench
--scenario routing`` runs it at full scale.

Example::

    report = simulate(SimConfig(conversations=500, agents=20, seed=7))
    assert report.double_assignments == 0
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from orchestrator.routing import decisions as d
from orchestrator.routing.board import Board, Refused
from orchestrator.routing.matching import target_for
from orchestrator.routing.model import Conversation
from orchestrator.routing.spec import Routing

START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
CHANNELS = ("webchat", "webchat", "whatsapp", "sms", "email", "voice")
"""What conversations arrive on (web chat twice as often)."""


@dataclass(frozen=True)
class SimConfig:
    """The size and the behaviour of one run."""

    conversations: int = 10_000
    agents: int = 200
    online_agents: int | None = None
    """Extra agents that are online but full (they are searched, never free): for the cost of
    deciding among many agents. ``None``: none."""
    seed: int = 1
    arrivals_per_s: float | None = None
    """``None``: about 90 % of what the floor can answer (agents x 0.011 a second)."""
    handle_s: tuple[float, float] = (60.0, 400.0)
    answer_s: tuple[float, float] = (1.0, 8.0)
    no_answer: float = 0.03
    """The share of offers an agent lets time out."""
    reject: float = 0.05
    patience_s: tuple[float, float] = (60.0, 900.0)
    presence_changes_per_s: float = 0.05
    """Agents going away and coming back, across the whole floor."""


@dataclass
class SimReport:
    """What one run measured."""

    conversations: int
    assigned: int = 0
    abandoned: int = 0
    answered_in_target: int = 0
    offers: int = 0
    offer_timeouts: int = 0
    rejections: int = 0
    double_assignments: int = 0
    over_capacity: int = 0
    decision_ms: list[float] = field(default_factory=list)
    """Wall time of each accept: the offer-to-assignment decision."""
    arrival_ms: list[float] = field(default_factory=list)
    """Wall time of each arrival that was offered at once: choosing among every agent."""
    refill_ms: list[float] = field(default_factory=list)
    """Wall time from a close (capacity freed) to the next offer decided."""
    missed_refills: int = 0
    """Closes after which the freed agent could have taken a waiting conversation and was not
    offered one on that event (any would wait for a later event: a sweep's delay)."""
    events: int = 0
    wall_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        """The figures, as the bench reports them."""
        return {
            "conversations": self.conversations,
            "service_level_pct": round(100 * self.answered_in_target / max(self.assigned, 1), 1),
            "abandonment_pct": round(100 * self.abandoned / max(self.conversations, 1), 1),
            "offers": self.offers,
            "offer_timeouts": self.offer_timeouts,
            "rejections": self.rejections,
            "offer_to_assignment_p99_ms": round(_p(self.decision_ms, 0.99), 3),
            "arrival_to_offer_p99_ms": round(_p(self.arrival_ms, 0.99), 3),
            "capacity_to_offer_p99_ms": round(_p(self.refill_ms, 0.99), 3),
            "missed_refills": self.missed_refills,
            "double_assignments": self.double_assignments,
            "over_capacity": self.over_capacity,
            "events": self.events,
            "wall_s": round(self.wall_s, 2),
        }


def routing_model() -> Routing:
    """Three queues of a retail contact centre, with bullseye rings and an overflow."""
    return Routing.model_validate(
        {
            "offer_timeout": "30s",
            "queues": {
                "orders": {
                    "skills": {"orders": 1},
                    "max_wait": "5m",
                    "overflow": "general",
                    "service_level": {"percent": 80, "within": "60s"},
                    "rules": [
                        {
                            "name": "vip",
                            "when": 'conversation.tier == "gold"',
                            "priority": 6,
                            "targets": [
                                {"name": "last", "last_agent": True, "timeout": "15s"},
                                {"name": "experts", "skills": {"orders": 4}, "timeout": "30s"},
                                {"name": "any"},
                            ],
                        },
                        {"name": "default"},
                    ],
                },
                "billing": {"skills": {"billing": 2}, "max_wait": "8m", "overflow": "general"},
                "general": {},
            },
        }
    )


class _Clock:
    def __init__(self) -> None:
        self._heap: list[tuple[datetime, int, Callable[[], None]]] = []
        self._n = itertools.count()

    def at(self, when: datetime, action: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (when, next(self._n), action))

    def pop(self) -> tuple[datetime, Callable[[], None]] | None:
        if not self._heap:
            return None
        when, _, action = heapq.heappop(self._heap)
        return when, action

    def peek(self) -> datetime | None:
        return self._heap[0][0] if self._heap else None


def simulate(config: SimConfig, routing: Routing | None = None) -> SimReport:
    """One run of ``config`` on ``routing`` (by default :func:`routing_model`)."""
    return _Run(config, routing or routing_model()).go()


class _Run:
    def __init__(self, config: SimConfig, routing: Routing) -> None:
        self.c = config
        self.rng = random.Random(config.seed)  # noqa: S311 - a simulation, not a secret
        self.board = Board(routing)
        self.clock = _Clock()
        self.report = SimReport(config.conversations)
        self.targets = {name: q.service_level.within for name, q in routing.queues.items()}

    def go(self) -> SimReport:
        started = time.perf_counter()
        self._staff()
        t = START
        rate = self.c.arrivals_per_s or self.c.agents * 0.011
        for n in range(self.c.conversations):
            t += timedelta(seconds=self.rng.expovariate(rate))
            self.clock.at(t, partial(self._arrive, n, t))
        changes = int(self.c.presence_changes_per_s * (t - START).total_seconds())
        for _ in range(changes):
            when = START + timedelta(seconds=self.rng.uniform(0, (t - START).total_seconds()))
            self.clock.at(when, partial(self._presence, when))
        while True:
            due = self.board.next_due()
            nxt = self.clock.peek()
            if due is not None and (nxt is None or due < nxt):
                self._apply(self.board.advance(due), due)
                continue
            popped = self.clock.pop()
            if popped is None:
                break
            _, action = popped
            action()
        self.report.wall_s = time.perf_counter() - started
        return self.report

    def _staff(self) -> None:
        skills = ({"orders": 3}, {"orders": 5, "billing": 2}, {"billing": 4}, {"orders": 2})
        for i in range(self.c.agents):
            agent_id = f"agent-{i:05d}"
            self.board.agent_joined(agent_id, skills[i % len(skills)], START)
            self.board.presence(agent_id, "available", START)
        for i in range(self.c.online_agents or 0):
            agent_id = f"full-{i:05d}"  # online, but with no room: searched, never offered
            self.board.agent_joined(agent_id, {"orders": 3, "billing": 3}, START, capacity=1)
            self.board.presence(agent_id, "available", START)

    def _arrive(self, n: int, at: datetime) -> None:
        queue = self.rng.choices(("orders", "billing", "general"), (6, 3, 1))[0]
        attributes = {"tier": "gold" if self.rng.random() < 0.1 else "standard"}
        conversation = Conversation(
            f"c{n:06d}",
            queue,
            self.rng.choice(CHANNELS),
            at,
            customer_id=f"cus{n % 3000}",
            priority=self.rng.randint(0, 5),
            attributes=attributes,
        )
        started = time.perf_counter()
        out = self.board.arrive(conversation, at)
        if any(isinstance(s, d.Offered) for s in out):
            self.report.arrival_ms.append((time.perf_counter() - started) * 1000)
        self._apply(out, at)
        patience = timedelta(seconds=self.rng.uniform(*self.c.patience_s))
        self.clock.at(at + patience, lambda: self._abandon(conversation.id, at + patience))

    def _abandon(self, conversation_id: str, at: datetime) -> None:
        conversation = self.board.conversations.get(conversation_id)
        if conversation is None or conversation.status == "assigned":
            return
        self._apply(self.board.close(conversation_id, at), at)

    def _presence(self, at: datetime) -> None:
        agent_id = f"agent-{self.rng.randrange(self.c.agents):05d}"
        agent = self.board.agents[agent_id]
        to = "away" if agent.presence == "available" else "available"
        self._apply(self.board.presence(agent_id, to, at), at)  # type: ignore[arg-type]

    def _answer(self, conversation_id: str, agent_id: str, at: datetime) -> None:
        offer = self.board.conversations.get(conversation_id)
        if offer is None or offer.offer is None or offer.offer.agent != agent_id:
            return  # withdrawn, timed out or abandoned meanwhile
        try:
            if self.rng.random() < self.c.reject:
                self._apply(self.board.reject(conversation_id, agent_id, at), at)
                return
            started = time.perf_counter()
            out = self.board.accept(conversation_id, agent_id, at)
            self.report.decision_ms.append((time.perf_counter() - started) * 1000)
        except Refused:
            return
        self._apply(out, at)

    def _close(self, conversation_id: str, at: datetime) -> None:
        conversation = self.board.conversations.get(conversation_id)
        if conversation is None or conversation.agent is None:
            return
        agent_id = conversation.agent
        started = time.perf_counter()
        out = self.board.close(conversation_id, at, "resolved")
        spent = (time.perf_counter() - started) * 1000
        if any(isinstance(s, d.Offered) and s.agent == agent_id for s in out):
            self.report.refill_ms.append(spent)
        elif self._could_take(agent_id, at):
            self.report.missed_refills += 1
        self._apply(out, at)

    def _could_take(self, agent_id: str, at: datetime) -> bool:
        board = self.board
        agent = board.agents[agent_id]
        for conversation in board.conversations.values():
            if conversation.status != "waiting":
                continue
            rules = board.routing.queues[conversation.queue].rules
            rule = next((r for r in rules if r.name == conversation.rule), rules[-1])
            if target_for(board.routing, rule, agent, conversation, at) is not None:
                return True
        return False

    def _apply(self, out: list[d.Step], at: datetime) -> None:
        r = self.report
        r.events += 1
        for step in out:
            if isinstance(step, d.Offered):
                r.offers += 1
                if self.rng.random() < self.c.no_answer:
                    continue  # the agent lets it time out
                think = timedelta(seconds=self.rng.uniform(*self.c.answer_s))
                answer = partial(self._answer, step.conversation, step.agent, step.at + think)
                self.clock.at(step.at + think, answer)
            elif isinstance(step, d.Assigned):
                r.assigned += 1
                if step.waited <= self.targets.get(step.queue, timedelta(seconds=60)):
                    r.answered_in_target += 1
                handle = timedelta(seconds=self.rng.uniform(*self.c.handle_s))
                self.clock.at(
                    step.at + handle, partial(self._close, step.conversation, step.at + handle)
                )
            elif isinstance(step, d.OfferTimedOut):
                r.offer_timeouts += 1
                back = step.at + timedelta(seconds=self.rng.uniform(30, 120))
                self.clock.at(back, partial(self._back, step.agent, back))
            elif isinstance(step, d.OfferRejected):
                r.rejections += 1
            elif isinstance(step, d.Abandoned):
                r.abandoned += 1
        self._check(out)

    def _back(self, agent_id: str, at: datetime) -> None:
        if self.board.agents[agent_id].presence == "away":
            self._apply(self.board.presence(agent_id, "available", at), at)

    def _check(self, out: list[d.Step]) -> None:
        """The agents the decisions name: none over capacity, and every conversation one holds
        held by it alone (a second holder would not be the conversation's agent)."""
        board = self.board
        for agent_id in {a for s in out if (a := getattr(s, "agent", None))}:
            agent = board.agents[agent_id]
            if agent.load > agent.capacity:
                self.report.over_capacity += 1
            for conversation_id in agent.holding:
                held = board.conversations.get(conversation_id)
                if held is None or held.agent != agent_id:
                    self.report.double_assignments += 1


def _p(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
