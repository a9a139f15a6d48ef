"""Properties of the routing board that no single golden case can show (Hypothesis, stateful).

A small random but valid model (two or three queues, skills, capacities, channel costs, rules
with bullseye rings and timeouts, aging, overflows) and a handful of agents take random events:
joins, presence, arrivals, answers to offers, closes, transfers, overrides and the clock. After
every event (and at every offer, for the third):

1. no agent is over capacity: its load is the cost of what it holds and has on offer, and fits;
2. no conversation is held, assigned or on offer, by two agents;
3. no waiting conversation of higher aged priority (then older) is passed over for a lower one
   the same agent could serve: neither at the moment an offer is made, nor when the moment is
   over (offers let go together, by an agent leaving or by timeouts falling due together, are
   offered again together);
4. no waiting conversation is left beside an agent eligible for it now (``target_for``: the
   board's own reading of the spec's eligibility) in an open queue, nothing due is left
   undone, and a transfer to one agent waits for nobody (on offer to them, or the queue's).

An event the board refuses (``Refused``, ``Unknown``) changes nothing. As the router does
(``orchestrator/workers/routing.py``), the board is advanced to the event's time first.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from orchestrator.routing import decisions as d
from orchestrator.routing.board import Board, Refused
from orchestrator.routing.loader import parse_routing
from orchestrator.routing.matching import priority_of, rings_end, target_for
from orchestrator.routing.model import Agent, Conversation, Presence
from orchestrator.routing.schedule import is_open
from orchestrator.routing.spec import Routing, Rule

START = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
AGENTS = ("a0", "a1", "a2", "a3")
QUEUES = ("q0", "q1", "q2")
CHANNELS = ("webchat", "voice", "email", "sms")
PRESENCES: tuple[Presence, ...] = ("available", "available", "busy", "away", "offline")
"""Agents an offer timed out on are away: coming back is drawn the most, or the floor empties."""
TIMEOUTS = ("10s", "20s", "30s")
STEPS = st.sampled_from([0, 0, 0, 1, 5, 10, 30])
"""Seconds between events: often none or one, so an agent gathers offers; else multiples of 5, so
offers, rings and overflows fall due together."""
PICK = st.integers(0, 20)
CAPACITIES = st.sampled_from([None, 25, 25, 50, 150])
"""Often room for one chat: which conversation gets it is what property 3 is about."""

skill_levels = st.fixed_dictionaries(
    {"s0": st.integers(1, 5)}, optional={"s1": st.integers(1, 5)}
)  # fmt: skip


@st.composite
def rings(draw: st.DrawFn, overflows: bool) -> list[dict[str, Any]]:
    """A rule's targets: one to three rings, each but the last with a timeout."""
    kind = st.one_of(
        st.just({"last_agent": True}),
        st.builds(lambda level: {"skills": {"s1": level}}, st.integers(1, 3)),
        st.builds(
            lambda ids: {"agents": sorted(ids)},
            st.sets(st.sampled_from(AGENTS), min_size=1, max_size=3),
        ),
    )
    kinds = [*draw(st.lists(kind, max_size=2)), draw(st.one_of(st.just({}), kind))]
    out = [{"name": f"r{i}", **kind, "timeout": draw(st.sampled_from(TIMEOUTS))}
           for i, kind in enumerate(kinds)]  # fmt: skip
    if not (overflows and draw(st.booleans())):
        del out[-1]["timeout"]  # the last ring's timeout only moves a conversation on
    return out


@st.composite
def routings(draw: st.DrawFn) -> dict[str, Any]:
    """A ``routing.yaml`` document the loader accepts, always open."""
    names = QUEUES[: draw(st.integers(2, 3))]
    queues: dict[str, Any] = {}
    for i, name in enumerate(names):
        queue: dict[str, Any] = {}
        if draw(st.booleans()):
            queue["skills"] = {"s0": draw(st.integers(1, 2))}
        queue["aging"] = {
            "every": draw(st.sampled_from(["30s", "60s"])),
            "step": draw(st.integers(0, 3)),
            "limit": draw(st.integers(0, 10)),
        }
        overflows = i + 1 < len(names) and draw(st.booleans())
        if overflows:  # only to a later queue: no circles
            queue["overflow"] = names[draw(st.integers(i + 1, len(names) - 1))]
            if draw(st.booleans()):
                queue["max_wait"] = draw(st.sampled_from(["30s", "60s", "90s"]))
        rules = []
        if draw(st.booleans()):
            rules.append({
                "name": "gold",
                "when": 'conversation.tier == "gold"',
                "priority": draw(st.integers(0, 9)),
                "targets": draw(rings(overflows)),
            })  # fmt: skip
        rules.append({"name": "default", "targets": draw(rings(overflows))})
        queue["rules"] = rules
        queues[name] = queue
    return {
        "capacity": draw(st.sampled_from([25, 50, 100])),
        "costs": {
            "voice": draw(st.sampled_from([50, 100])),
            "webchat": draw(st.sampled_from([10, 25, 50])),
            "email": draw(st.sampled_from([0, 10, 25])),
        },
        "offer_timeout": draw(st.sampled_from(TIMEOUTS)),
        "queues": queues,
    }


def rule_of(routing: Routing, conversation: Conversation) -> Rule:
    """The rule the conversation is routed by (the last one when its own is gone)."""
    rules = routing.queues[conversation.queue].rules
    return next((r for r in rules if r.name == conversation.rule), rules[-1])


def moves_on(board: Board, conversation: Conversation, at: datetime) -> bool:
    """Whether a waiting conversation's overflow is due: ``max_wait`` or its last ring's end."""
    queue = board.routing.queues[conversation.queue]
    if queue.overflow is None or conversation.status != "waiting":
        return False
    start = conversation.queued_at or conversation.arrived_at
    rule = rule_of(board.routing, conversation)
    rings = rings_end(rule, conversation, board.routing.last_agent_window)
    waits = [w for w in (queue.max_wait, rings) if w is not None]
    return bool(waits) and start + min(waits) <= at


def offerable(board: Board, conversation: Conversation, at: datetime) -> bool:
    """Waiting in an open queue (always open but for an override), and not moving on."""
    return (
        conversation.status == "waiting"
        and is_open(None, at, board.overrides.get(conversation.queue))
        and not moves_on(board, conversation, at)
    )


def order(board: Board, conversation: Conversation, at: datetime) -> tuple[int, datetime]:
    """The spec's order of waiting conversations: the highest aged priority, then the oldest."""
    queue = board.routing.queues[conversation.queue]
    return (-priority_of(queue, conversation, at), conversation.arrived_at)


def passed_over(board: Board, offered: Conversation, agent: Agent, at: datetime) -> list[str]:
    """The offerable conversations ordered before ``offered`` that ``agent`` could serve too."""
    mine = order(board, offered, at)
    return [
        f"at {at - START}: {offered.id} {mine} offered to {agent.id} before {other.id} "
        f"{order(board, other, at)}"
        for other in board.conversations.values()
        if other is not offered
        and offerable(board, other, at)
        and order(board, other, at) < mine
        and target_for(board.routing, rule_of(board.routing, other), agent, other, at)
    ]


class WatchedBoard(Board):
    """The board, looked at each time it makes an offer: what else was waiting for that agent.
    ``_make_offer`` is the one inside this test looks at; ``checked`` makes sure every offer the
    board answered went through it."""

    def __init__(self, routing: Routing) -> None:
        super().__init__(routing)
        self.passed_over: list[str] = []
        self.offers_seen = 0

    def _make_offer(
        self, conversation: Conversation, agent: Agent, target: str, at: datetime
    ) -> d.Offered:
        self.offers_seen += 1
        self.passed_over += passed_over(self, conversation, agent, at)
        return super()._make_offer(conversation, agent, target, at)


def snapshot(board: Board) -> Any:
    """Everything an event may change, to compare."""
    return copy.deepcopy((
        {a.id: dataclasses.asdict(a) for a in board.agents.values()},
        {c.id: dataclasses.asdict(c) for c in board.conversations.values()},
        dict(board.overrides),
        board.clock,
    ))  # fmt: skip


class BoardMachine(RuleBasedStateMachine):
    """Random events on one board; every invariant checked after each."""

    board: WatchedBoard
    now: datetime
    arrivals: int

    @initialize(doc=routings(), staff=st.dictionaries(
        st.sampled_from(AGENTS), st.tuples(skill_levels, CAPACITIES), min_size=2, max_size=4,
    ))  # fmt: skip
    def build(self, doc: dict[str, Any], staff: dict[str, tuple[dict[str, int], int | None]]
              ) -> None:  # fmt: skip
        self.board = WatchedBoard(parse_routing(Path("routing.yaml"), json.dumps(doc)))
        self.now, self.arrivals = START, 0
        for agent_id, (skills, capacity) in sorted(staff.items()):
            self.checked(self.board.agent_joined(agent_id, skills, self.now, capacity))
            self.checked(self.board.presence(agent_id, "available", self.now))

    # --- events ---------------------------------------------------------------------------

    @rule(agent=st.sampled_from(AGENTS), skills=skill_levels,
          capacity=CAPACITIES, dt=STEPS)  # fmt: skip
    def join(self, agent: str, skills: dict[str, int], capacity: int | None, dt: int) -> None:
        def join(at: datetime) -> list[d.Step]:
            known = self.board.agents.get(agent)
            shrinks = known is not None and capacity is not None and capacity < known.load
            # an operator shrinking an agent below what it holds is not routing's to keep
            return self.board.agent_joined(agent, skills, at, None if shrinks else capacity)

        self.attempt(join, dt)

    @rule(agent=st.sampled_from(AGENTS), presence=st.sampled_from(PRESENCES), dt=STEPS)
    def presence(self, agent: str, presence: Presence, dt: int) -> None:
        self.attempt(lambda at: self.board.presence(agent, presence, at), dt)

    @rule(queue=st.sampled_from(QUEUES), channel=st.sampled_from(CHANNELS),
          priority=st.integers(0, 9), tier=st.sampled_from([None, "gold"]),
          needs=st.sampled_from([(), (), ("s1",)]), last=st.sampled_from([None, *AGENTS]),
          dt=STEPS)  # fmt: skip
    def arrive(self, queue: str, channel: str, priority: int, tier: str | None,
               needs: tuple[str, ...], last: str | None, dt: int) -> None:  # fmt: skip
        at = self.tick(dt)
        self.arrivals += 1
        conversation = Conversation(
            f"c{self.arrivals}", queue, channel, at, customer_id=f"cust{self.arrivals}",
            priority=priority, skills=needs, attributes={"tier": tier} if tier else {},
            last_agent=last, last_agent_at=at - timedelta(hours=1) if last else None,
        )  # fmt: skip
        self.attempt(lambda at: self.board.arrive(conversation, at), 0)

    @precondition(lambda self: self.offers())
    @rule(pick=PICK, yes=st.booleans(), dt=STEPS)
    def answer(self, pick: int, yes: bool, dt: int) -> None:
        conversation_id, agent_id = self.offers()[pick % len(self.offers())]
        answer = self.board.accept if yes else self.board.reject
        self.attempt(lambda at: answer(conversation_id, agent_id, at), dt)

    @precondition(lambda self: self.board.conversations)
    @rule(pick=PICK, disposition=st.sampled_from([None, "resolved"]), dt=STEPS)
    def close(self, pick: int, disposition: str | None, dt: int) -> None:
        ids = sorted(self.board.conversations)
        conversation_id = ids[pick % len(ids)]
        self.attempt(lambda at: self.board.close(conversation_id, at, disposition), dt)

    @precondition(lambda self: self.assigned())
    @rule(pick=PICK, queue=st.sampled_from([None, *QUEUES]),
          agent=st.sampled_from([None, *AGENTS]), dt=STEPS)  # fmt: skip
    def transfer(self, pick: int, queue: str | None, agent: str | None, dt: int) -> None:
        conversation_id = self.assigned()[pick % len(self.assigned())]
        self.attempt(lambda at: self.board.transfer(conversation_id, at, queue, agent), dt)

    @rule(kind=st.sampled_from(["accept", "reject", "close", "transfer", "presence", "override"]),
          conversation=st.sampled_from(["c1", "c2", "c3", "c99"]),
          agent=st.sampled_from([*AGENTS, "zed"]), queue=st.sampled_from([*QUEUES, "q9"]),
          value=st.sampled_from([None, "open", "closed"]), dt=STEPS)  # fmt: skip
    def anything(self, kind: str, conversation: str, agent: str, queue: str, value: Any,
                 dt: int) -> None:  # fmt: skip
        """An event that may well be refused (not offered to that agent, not assigned, unknown);
        and an operator's override of a queue."""
        board = self.board
        events = {
            "accept": lambda at: board.accept(conversation, agent, at),
            "reject": lambda at: board.reject(conversation, agent, at),
            "close": lambda at: board.close(conversation, at),
            "transfer": lambda at: board.transfer(conversation, at, None, agent),
            "presence": lambda at: board.presence(agent, "available", at),
            "override": lambda at: board.override(queue, value, at),
        }
        self.attempt(events[kind], dt)

    @rule(dt=st.sampled_from([5, 10, 30, 60, 300]), stepwise=st.booleans())
    def advance(self, dt: int, stepwise: bool) -> None:
        if stepwise:
            self.catch_up(self.tick(dt))
        else:  # the board's own walk through the due times
            self.checked(self.board.advance(self.tick(dt)))

    # --- helpers --------------------------------------------------------------------------

    def tick(self, dt: int) -> datetime:
        self.now += timedelta(seconds=dt)
        return self.now

    def attempt(self, event: Any, dt: int) -> None:
        """Advance to the event's time, then apply it; a refusal must change nothing."""
        at = self.tick(dt)
        self.catch_up(at)
        before = snapshot(self.board)
        try:
            out = event(at)
        except Refused:
            assert snapshot(self.board) == before, "a refused event changed the board"
            return
        self.checked(out)

    def catch_up(self, at: datetime) -> None:
        """What falls due up to ``at``, one instant at a time, as the router's timer does."""
        board = self.board
        while (due := board.next_due()) is not None and due <= at and board.clock is not None:
            if due <= board.clock:
                return  # left undone: the invariant says so
            self.checked(board.advance(due))
        self.checked(board.advance(at))

    def checked(self, out: list[d.Step]) -> None:
        """Property 3: at each offer, nothing ordered before it waited for the same agent; and
        at the end of the instant, no offer made then holds the place of a conversation ordered
        before it that still waits (offers withdrawn together are passed on together)."""
        board, at = self.board, self.board.clock
        offered = sum(isinstance(s, d.Offered) for s in out)
        assert board.offers_seen == offered, "an offer was made without being looked at"
        board.offers_seen = 0
        assert board.passed_over == [], board.passed_over
        for step in out:
            conversation = board.conversations.get(getattr(step, "conversation", ""))
            if not isinstance(step, d.Offered) or step.at != at or conversation is None:
                continue
            offer = conversation.offer
            if offer is None or offer.agent != step.agent:
                continue
            agent = board.agents[step.agent]
            without = dataclasses.replace(agent, load=agent.load - conversation.cost)
            late = passed_over(board, conversation, without, step.at)
            assert late == [], late

    def offers(self) -> list[tuple[str, str]]:
        return sorted((c.id, c.offer.agent) for c in self.board.conversations.values() if c.offer)

    def assigned(self) -> list[str]:
        return sorted(c.id for c in self.board.conversations.values() if c.status == "assigned")

    # --- invariants -----------------------------------------------------------------------

    @invariant()
    def capacity_is_kept(self) -> None:
        board = self.board
        for agent in board.agents.values():
            held = [board.conversations[c] for c in agent.holding | agent.offers]
            assert agent.load == sum(c.cost for c in held), agent
            assert agent.load <= agent.capacity, agent
            for c in held:
                assert c.cost == board.routing.cost(c.channel), c

    @invariant()
    def one_holder_each(self) -> None:
        board = self.board
        holders: dict[str, list[str]] = {}
        for agent in board.agents.values():
            for conversation_id in agent.holding | agent.offers:
                holders.setdefault(conversation_id, []).append(agent.id)
        for conversation in board.conversations.values():
            agents = holders.get(conversation.id, [])
            if conversation.status == "assigned":
                assert agents == [conversation.agent], (conversation, agents)
            elif conversation.status == "offered":
                assert conversation.offer is not None
                assert agents == [conversation.offer.agent], (conversation, agents)
            else:
                assert agents == [], (conversation, agents)
                assert conversation.offer is None, conversation
                assert conversation.agent is None, conversation

    @invariant()
    def nobody_waits_beside_an_eligible_agent(self) -> None:
        board, at = self.board, self.board.clock
        if at is None:
            return
        due = board.next_due()
        assert due is None or due > at, f"due at {due - START} left undone at {at - START}"
        for conversation in board.conversations.values():
            if conversation.pinned is not None:
                offer = conversation.offer  # a transfer to one agent waits for nobody
                assert offer is not None, conversation
                assert offer.agent == conversation.pinned, conversation
            if conversation.status != "waiting":
                continue
            assert not moves_on(board, conversation, at), f"{conversation.id} did not move on"
            if not offerable(board, conversation, at):
                continue
            rule = rule_of(board.routing, conversation)
            for agent in board.agents.values():
                target = target_for(board.routing, rule, agent, conversation, at)
                assert target is None, (
                    f"at {at - START}: {conversation.id} waits while {agent.id} could take it"
                    f" ({target}, load {agent.load}/{agent.capacity})"
                )


BoardMachine.TestCase.settings = settings(
    max_examples=300, stateful_step_count=30, deadline=None, derandomize=True
)
test_board_properties = BoardMachine.TestCase
