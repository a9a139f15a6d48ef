"""The router's decisions from events and the clock it is given. PURE.

A :class:`Board` holds the agents and the conversations handed to them. Every event (a
conversation arriving, an agent's presence, an answer to an offer, a transfer, a close) is a
method that takes the time and answers the decisions it led to, in order. Matching happens on
the event itself: an agent freeing capacity or becoming available is offered the best waiting
conversation at once, and a conversation arriving is offered to the best eligible agent at once.
Only time-driven changes (an offer timing out, the next bullseye ring, a queue opening, a
conversation overflowing) wait for :meth:`Board.advance`, and :meth:`Board.next_due` says
exactly when the next one is due, so a router sets a timer and never sweeps.

Example::

    board = Board(routing)
    board.agent_joined("ana", {"billing": 3}, at=t0)
    board.presence("ana", "available", at=t0)
    [queued, offered] = board.arrive(Conversation("c1", "billing", "sms", t0), at=t0)
    [assigned] = board.accept("c1", "ana", at=t0 + timedelta(seconds=4))
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping
from datetime import datetime, timedelta

from orchestrator.engine.expressions import ExpressionError, truthy
from orchestrator.routing import decisions as d
from orchestrator.routing.loader import CONVERSATION
from orchestrator.routing.matching import (
    agent_rank,
    conversation_rank,
    ring_ends,
    rings_end,
    target_for,
)
from orchestrator.routing.model import Agent, Conversation, Offer, Presence
from orchestrator.routing.schedule import Override, is_open, next_change
from orchestrator.routing.spec import Queue, Routing, Rule, Schedule

Out = list[d.Step]
_INSTANT = timedelta(microseconds=1)
_Due = tuple[datetime, int, str, str, object]
"""A due time: when, a tie-breaker, the kind (offer, ring, overflow, schedule), the
conversation (or queue) and what must still hold for it to be due."""


class Refused(ValueError):
    """An event the board cannot take now (an offer that is not outstanding, a conversation
    with no agent); the message says why. The API answers it with 409."""


class Unknown(Refused):
    """An event naming what the board does not have: a queue, an agent, a conversation. The
    API answers it with 404."""


class Board:
    """Agents, waiting and assigned conversations, and the routing model they follow."""

    def __init__(self, routing: Routing) -> None:
        self.routing = routing
        self.agents: dict[str, Agent] = {}
        self.conversations: dict[str, Conversation] = {}
        self.overrides: dict[str, Override] = {}
        self.clock: datetime | None = None
        """The time the board has reached: every event's and every due change's, in order."""
        self._dues: list[_Due] | None = None
        self._scheduled: dict[str, datetime] = {}
        self._sequence = itertools.count()
        for agent_id, spec in routing.agents.items():
            self.agents[agent_id] = Agent(
                agent_id, dict(spec.skills), spec.capacity or routing.capacity
            )

    def install(self, routing: Routing) -> None:
        """Follow a reloaded model. A queue it no longer has keeps its last definition while
        conversations still wait or are held in it, so they drain rather than vanish."""
        old = self.routing.queues
        kept = {
            c.queue: old[c.queue]
            for c in self.conversations.values()
            if c.queue not in routing.queues and c.queue in old
        }
        schedules = {
            q.schedule: self.routing.schedules[q.schedule]
            for q in kept.values()
            if q.schedule is not None and q.schedule not in routing.schedules
        }
        if kept:
            routing = routing.model_copy(
                update={
                    "queues": {**routing.queues, **kept},
                    "schedules": {**routing.schedules, **schedules},
                }
            )
        self.routing = routing

    # --- agents ---------------------------------------------------------------------------

    def agent_joined(
        self, agent_id: str, skills: Mapping[str, int], at: datetime, capacity: int | None = None
    ) -> Out:
        """Add an agent (offline), or change a known agent's skills and capacity."""
        out = self.advance(at)
        agent = self.agents.get(agent_id)
        if agent is None:
            self.agents[agent_id] = Agent(agent_id, dict(skills), capacity or self.routing.capacity)
            return out
        agent.skills = dict(skills)
        agent.capacity = capacity or agent.capacity
        return out + self._fill(agent, at)

    def presence(self, agent_id: str, presence: Presence, at: datetime) -> Out:
        """An agent's presence changed: available agents are offered work at once; an agent
        who leaves has its outstanding offers withdrawn and passed on."""
        out = self.advance(at)
        agent = self._agent(agent_id)
        if presence == agent.presence:
            return out
        became_available = presence == "available"
        agent.presence = presence
        if became_available:
            agent.idle_since = at
            return out + self._fill(agent, at)
        withdrawn = [self.conversations[c] for c in sorted(agent.offers)]
        for conversation in withdrawn:
            out += self._withdraw(conversation, "agent " + presence, at)
        return out + self._match_waiting(at, withdrawn) + self._settle(at)

    # --- conversations --------------------------------------------------------------------

    def arrive(self, conversation: Conversation, at: datetime) -> Out:
        """A conversation reaches its queue (a ``route`` step, or an inbound message with no
        owner). A closed queue answers as its ``when_closed`` says."""
        out = self.advance(at)
        if conversation.id in self.conversations:
            raise Refused(f"conversation {conversation.id!r} is already routed")
        queue = self._queue(conversation.queue)
        conversation.cost = self.routing.cost(conversation.channel)
        if not self._open(conversation.queue, at):
            closed = queue.when_closed
            out.append(
                d.ClosedHours(conversation.id, conversation.queue, at, closed.action, closed.flow)
            )
            if closed.action == "flow":
                return out
        self.conversations[conversation.id] = conversation
        out += self._enqueue(conversation, conversation.queue, at)
        return out + self._settle(at)  # rings that reach nobody can make its overflow due now

    def accept(self, conversation_id: str, agent_id: str, at: datetime) -> Out:
        """``agent_id`` accepts its offer: it owns the conversation."""
        out = self.advance(at)
        conversation, offer = self._offered_to(conversation_id, agent_id)
        agent = self.agents[agent_id]
        agent.offers.discard(conversation_id)
        agent.holding.add(conversation_id)
        conversation.status, conversation.offer, conversation.agent = "assigned", None, agent_id
        conversation.pinned = None  # a transfer to this agent is done
        conversation.last_agent, conversation.last_agent_at = agent_id, at
        waited = at - conversation.arrived_at
        assigned = d.Assigned(
            conversation_id, conversation.queue, at, agent_id, conversation.rule, offer.target,
            waited,
        )  # fmt: skip
        return [*out, assigned]

    def reject(self, conversation_id: str, agent_id: str, at: datetime) -> Out:
        """``agent_id`` passes the conversation on: the next agent is offered it at once."""
        out = self.advance(at)
        conversation, _ = self._offered_to(conversation_id, agent_id)
        agent = self.agents[agent_id]
        self._take_back(conversation, agent, at)
        conversation.passed.add(agent_id)
        out.append(d.OfferRejected(conversation_id, conversation.queue, at, agent_id))
        out += self._offer(conversation, at)
        return out + self._fill(agent, at) + self._settle(at)

    def transfer(
        self, conversation_id: str, at: datetime, queue: str | None = None,
        agent_id: str | None = None,
    ) -> Out:  # fmt: skip
        """The owning agent hands the conversation to another queue, or to one agent (who is
        offered it alone, and if they pass, the queue's rules take over)."""
        out = self.advance(at)
        conversation = self._assigned(conversation_id)
        target_queue = queue or conversation.queue
        self._queue(target_queue)
        if agent_id is not None:
            self._agent(agent_id)
        old = self._release(conversation, at)
        out.append(
            d.Transferred(conversation_id, conversation.queue, at, old.id, target_queue, agent_id)
        )
        conversation.passed = {old.id}
        conversation.pinned = agent_id
        out += self._enqueue(conversation, target_queue, at)
        if conversation.pinned is not None and conversation.status == "waiting":
            conversation.pinned = None  # that agent cannot take it now: the queue's rules can
            out += self._offer(conversation, at)
        return out + self._fill(old, at) + self._settle(at)

    def close(self, conversation_id: str, at: datetime, disposition: str | None = None) -> Out:
        """The conversation ends with people: the agent wraps up with ``disposition``; a
        conversation still waiting is abandoned (the customer stopped waiting)."""
        out = self.advance(at)
        conversation = self.conversations.get(conversation_id)
        if conversation is None or conversation.status == "closed":
            raise Unknown(f"conversation {conversation_id!r} is not routed")
        if conversation.status != "assigned":
            offer = conversation.offer
            if offer is not None:
                out += self._withdraw(conversation, "customer left", at)
            conversation.status = "closed"
            del self.conversations[conversation_id]
            waited = at - conversation.arrived_at
            out.append(d.Abandoned(conversation_id, conversation.queue, at, waited))
            # the offer's capacity is free again: its agent takes the best waiting one at once
            return out + (self._fill(self.agents[offer.agent], at) if offer is not None else [])
        agent = self._release(conversation, at)
        conversation.status = "closed"
        del self.conversations[conversation_id]
        if disposition is not None:
            out.append(d.WrappedUp(conversation_id, conversation.queue, at, agent.id, disposition))
        out.append(d.Closed(conversation_id, conversation.queue, at, agent.id, disposition))
        return out + self._fill(agent, at)

    def override(self, queue: str, value: Override | None, at: datetime) -> Out:
        """An operator forces ``queue`` open or closed (``None`` returns it to its schedule)."""
        out = self.advance(at)
        self._queue(queue)
        if value is None:
            self.overrides.pop(queue, None)
        else:
            self.overrides[queue] = value
        return out + self._match_waiting(at)

    # --- time -----------------------------------------------------------------------------

    def next_due(self) -> datetime | None:
        """When :meth:`advance` next has something to do (``None``: nothing is waiting)."""
        if self.clock is None:
            return None
        dues = self._dues_heap()
        while dues and not self._still_due(dues[0]):
            heapq.heappop(dues)
        return dues[0][0] if dues else None

    def advance(self, now: datetime) -> Out:
        """Everything due up to ``now``, in time order: offers timing out, overflows, and the
        offers that wider rings and opening queues make possible."""
        out: Out = []
        if self.clock is None or now > self.clock:
            while (due := self.next_due()) is not None and due <= now:
                self.clock = due
                out += self._at(due)
            self.clock = now
        return out

    def _settle(self, at: datetime) -> Out:
        """What an event made due at once (an overflow an ended offer had held back)."""
        out: Out = []
        while (due := self.next_due()) is not None and due <= at:
            out += self._at(due)
        return out

    def _at(self, at: datetime) -> Out:
        found, opened = self._pop_due(at)
        out: Out = []
        freed: list[Conversation] = []
        for conversation_id in sorted(found["offer"]):
            conversation = self.conversations.get(conversation_id)
            offer = conversation.offer if conversation is not None else None
            if conversation is not None and offer is not None and offer.expires_at <= at:
                out += self._time_out(conversation, offer, at, freed)
        moved: list[Conversation] = []
        for conversation_id in sorted(found["overflow"]):
            conversation = self.conversations.get(conversation_id)
            overflow = self._overflow_at(conversation) if conversation is not None else None
            if conversation is None or overflow is None or overflow > at:
                continue
            to_queue = self.routing.queues[conversation.queue].overflow
            if to_queue is None or conversation.status != "waiting":
                continue
            waited = at - conversation.arrived_at
            out.append(d.Overflowed(conversation.id, conversation.queue, at, to_queue, waited))
            conversation.passed = set()
            conversation.pinned = None
            out += self._enqueue(conversation, to_queue, at, offer=False)
            moved.append(conversation)
        rings = (self.conversations[c] for c in found["ring"] if c in self.conversations)
        among = [*freed, *moved, *rings]
        return out + self._match_waiting(at, among + self._opened(opened, at))

    def _pop_due(self, at: datetime) -> tuple[dict[str, set[str]], set[str]]:
        """The conversations whose offer, overflow or ring is due at ``at``, and the queues
        whose schedule changes then."""
        dues = self._dues_heap()
        found: dict[str, set[str]] = {"offer": set(), "overflow": set(), "ring": set()}
        queues: set[str] = set()
        while dues and dues[0][0] <= at:
            entry = heapq.heappop(dues)
            if not self._still_due(entry):
                continue
            _, _, kind, key, _ = entry
            if kind == "schedule":
                self._scheduled.pop(key, None)
                queues.add(key)
            else:
                found[kind].add(key)
        return found, queues

    def _opened(self, queues: set[str], at: datetime) -> list[Conversation]:
        """The conversations of the queues among ``queues`` that open at ``at``; each still
        holding conversations gets its next change tracked."""
        before = at - _INSTANT
        out: list[Conversation] = []
        for name in sorted(queues):
            waiting = [c for c in self.conversations.values() if c.queue == name]
            schedule = self._schedule(name)
            if (
                name not in self.overrides
                and is_open(schedule, at)
                and not is_open(schedule, before)
            ):
                out += waiting
            if any(c.status != "assigned" for c in waiting):
                self._track_schedule(name, at)
        return out

    # --- due times ------------------------------------------------------------------------

    def _dues_heap(self) -> list[_Due]:
        """The due times of offers, rings, overflows and schedules (built on first use, from
        the conversations: a board loaded from Redis has none yet)."""
        if self._dues is None:
            self._dues, self._scheduled = [], {}
            at = self.clock
            for conversation in self.conversations.values():
                offer = conversation.offer
                if offer is not None:
                    self._push("offer", conversation.id, offer.expires_at, offer.agent)
                if conversation.status != "assigned" and at is not None:
                    self._track(conversation, at)
        return self._dues

    def _push(self, kind: str, key: str, when: datetime, stamp: object) -> None:
        heapq.heappush(self._dues_heap(), (when, next(self._sequence), kind, key, stamp))

    def _track(self, conversation: Conversation, at: datetime) -> None:
        """Due times of a conversation that waits from ``at``: its wider rings, its overflow,
        its queue's next opening or closing."""
        stamp = (conversation.queue, conversation.queued_at)
        window = self.routing.last_agent_window
        for when in ring_ends(self._rule(conversation), conversation, window):
            if when > at:
                self._push("ring", conversation.id, when, stamp)
        overflow = self._overflow_at(conversation)
        if overflow is not None:
            self._push("overflow", conversation.id, max(overflow, at), stamp)
        self._track_schedule(conversation.queue, at)

    def _track_schedule(self, queue: str, at: datetime) -> None:
        change = next_change(self._schedule(queue), at)
        if change is not None and self._scheduled.get(queue) != change:
            self._scheduled[queue] = change
            self._push("schedule", queue, change, None)

    def _still_due(self, entry: _Due) -> bool:
        """Whether what ``entry`` was pushed for still holds (the heap keeps stale entries)."""
        when, _, kind, key, stamp = entry
        if kind == "schedule":
            return True
        conversation = self.conversations.get(key)
        if conversation is None:
            return False
        if kind == "offer":
            offer = conversation.offer
            return offer is not None and offer.agent == stamp and offer.expires_at == when
        if (conversation.queue, conversation.queued_at) != stamp:
            return False
        if kind == "ring":
            return conversation.status == "waiting" and conversation.pinned is None
        return conversation.status != "assigned"

    # --- inside ---------------------------------------------------------------------------

    def _enqueue(self, conversation: Conversation, queue: str, at: datetime,
                 offer: bool = True) -> Out:  # fmt: skip
        out: Out = []
        conversation.queue, conversation.queued_at, conversation.status = queue, at, "waiting"
        rule = None
        for candidate in self.routing.queues[queue].rules:
            if candidate.when is None:
                rule = candidate
                break
            try:
                if truthy(candidate.when, {CONVERSATION: conversation.view()}):
                    rule = candidate
                    break
            except ExpressionError as exc:
                out.append(d.RuleFailed(conversation.id, queue, at, candidate.name, str(exc)))
        if rule is None:  # no rule matched: the last one routes it
            rule = self.routing.queues[queue].rules[-1]
        conversation.rule = rule.name
        self._track(conversation, at)
        conversation.base_priority = max(conversation.priority, rule.priority or 0)
        out.append(d.Queued(conversation.id, queue, at, rule.name, conversation.base_priority))
        return out + (self._offer(conversation, at) if offer else [])

    def _offer(self, conversation: Conversation, at: datetime) -> Out:
        """Offer a waiting conversation to the best eligible agent, if there is one."""
        if conversation.status != "waiting" or not self._open(conversation.queue, at):
            return []
        overflow = self._overflow_at(conversation)
        if overflow is not None and overflow <= at:
            return []  # it moves on first (at once: see _settle)
        rule = self._rule(conversation)
        queue = self.routing.queues[conversation.queue]
        best: tuple[tuple[int, float, str], Agent, str] | None = None
        for agent in self.agents.values():
            target = target_for(self.routing, rule, agent, conversation, at)
            if target is None:
                continue
            rank = agent_rank(agent, queue, conversation, at)
            if best is None or rank < best[0]:
                best = (rank, agent, target)
        if best is None:
            return []
        _, agent, target = best
        return [self._make_offer(conversation, agent, target, at)]

    def _fill(self, agent: Agent, at: datetime) -> Out:
        """Offer ``agent`` the best waiting conversations it can serve, while it has room."""
        out: Out = []
        while agent.presence == "available":
            best: tuple[tuple[int, datetime, str], Conversation, str] | None = None
            for conversation in self.conversations.values():
                if conversation.status != "waiting" or not self._open(conversation.queue, at):
                    continue
                target = target_for(self.routing, self._rule(conversation), agent, conversation, at)
                if target is None:
                    continue
                rank = conversation_rank(self.routing, conversation, at)
                if best is None or rank < best[0]:
                    best = (rank, conversation, target)
            if best is None:
                return out
            out.append(self._make_offer(best[1], agent, best[2], at))
        return out

    def _match_waiting(self, at: datetime, among: list[Conversation] | None = None) -> Out:
        """Offer the waiting conversations (``among`` them, or all) that can be offered, the
        highest priority first."""
        out: Out = []
        pool = self.conversations.values() if among is None else among
        waiting = [c for c in pool if c.status == "waiting"]
        for conversation in sorted(waiting, key=lambda c: conversation_rank(self.routing, c, at)):
            out += self._offer(conversation, at)
        return out

    def _make_offer(self, conversation: Conversation, agent: Agent, target: str,
                    at: datetime) -> d.Offered:  # fmt: skip
        expires = at + self.routing.offer_timeout
        conversation.offer = Offer(agent.id, target, conversation.cost, expires)
        self._push("offer", conversation.id, expires, agent.id)
        conversation.status = "offered"
        agent.load += conversation.cost
        agent.offers.add(conversation.id)
        agent.idle_since = at
        return d.Offered(
            conversation.id, conversation.queue, at, agent.id, conversation.rule, target, expires
        )

    def _time_out(self, conversation: Conversation, offer: Offer, at: datetime,
                  freed: list[Conversation]) -> Out:  # fmt: skip
        """The offer ends unanswered: the agent is set away and its other offers withdrawn.
        Every conversation it let go is added to ``freed``, for the caller to offer again with
        the others that fall due at ``at``, the highest priority first."""
        agent = self.agents[offer.agent]
        self._take_back(conversation, agent, at)
        conversation.passed.add(agent.id)
        freed.append(conversation)
        out: Out = [d.OfferTimedOut(conversation.id, conversation.queue, at, agent.id)]
        if agent.presence != "away":
            agent.presence = "away"
            out.append(d.PresenceChanged(agent.id, "away", "not responding", at))
            for other in sorted(agent.offers):
                freed.append(self.conversations[other])
                out += self._withdraw(self.conversations[other], "agent not responding", at)
        return out

    def _withdraw(self, conversation: Conversation, reason: str, at: datetime) -> Out:
        """End an outstanding offer unanswered; offering the conversation again is the
        caller's (with every other conversation the same event lets go, in priority order)."""
        offer = conversation.offer
        if offer is None:
            return []
        self._take_back(conversation, self.agents[offer.agent], at)
        return [d.OfferWithdrawn(conversation.id, conversation.queue, at, offer.agent, reason)]

    def _take_back(self, conversation: Conversation, agent: Agent, at: datetime) -> None:
        """An offer ends unanswered (rejected, timed out or withdrawn): the conversation waits
        again, and a transfer to that one agent falls to the queue's rules."""
        agent.load -= conversation.cost
        agent.offers.discard(conversation.id)
        conversation.offer, conversation.status, conversation.pinned = None, "waiting", None
        self._track(conversation, at)  # an overflow that fell due during the offer is due now

    def _release(self, conversation: Conversation, at: datetime) -> Agent:
        agent = self.agents[conversation.agent or ""]
        agent.load -= conversation.cost
        agent.holding.discard(conversation.id)
        agent.idle_since = at if not agent.holding else agent.idle_since
        conversation.agent = None
        return agent

    def _overflow_at(self, conversation: Conversation) -> datetime | None:
        queue = self.routing.queues[conversation.queue]
        if queue.overflow is None or conversation.status != "waiting":
            return None
        start = conversation.queued_at or conversation.arrived_at
        rings = rings_end(self._rule(conversation), conversation, self.routing.last_agent_window)
        ends = [start + w for w in (queue.max_wait, rings) if w is not None]
        return min(ends) if ends else None

    def _open(self, queue: str, at: datetime) -> bool:
        return is_open(self._schedule(queue), at, self.overrides.get(queue))

    def _schedule(self, queue: str) -> Schedule | None:
        name = self.routing.queues[queue].schedule
        return self.routing.schedules[name] if name is not None else None

    def _rule(self, conversation: Conversation) -> Rule:
        rules = self.routing.queues[conversation.queue].rules
        return next((r for r in rules if r.name == conversation.rule), rules[-1])

    def _queue(self, name: str) -> Queue:
        queue = self.routing.queues.get(name)
        if queue is None:
            raise Unknown(f"no queue is named {name!r}")
        return queue

    def _agent(self, agent_id: str) -> Agent:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise Unknown(f"no agent {agent_id!r}")
        return agent

    def _offered_to(self, conversation_id: str, agent_id: str) -> tuple[Conversation, Offer]:
        conversation = self.conversations.get(conversation_id)
        offer = conversation.offer if conversation is not None else None
        if conversation is None or offer is None or offer.agent != agent_id:
            raise Refused(f"conversation {conversation_id!r} is not offered to {agent_id!r}")
        return conversation, offer

    def _assigned(self, conversation_id: str) -> Conversation:
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            raise Unknown(f"conversation {conversation_id!r} is not routed")
        if conversation.status != "assigned":
            raise Refused(f"conversation {conversation_id!r} has no agent")
        return conversation
