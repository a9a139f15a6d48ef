"""Who may take a conversation, who should, and which conversation an agent should take next.
PURE: the time is given.

- A conversation's **priority** is its rule's floor or its own, plus aging: ``step`` for
  every ``every`` it has waited since it first arrived, up to ``limit``.
- Its **bullseye**: the rule's targets up to the ring its time in the queue has reached, each
  ring adding agents to the ones before.
- An agent is **eligible** when available, with room for the conversation's channel, with the
  queue's and the conversation's skills, reached by a ring, and not one who passed it on.
- Among eligible agents the customer's last agent comes first, then the **longest idle**
  weighted by proficiency: ``(idle seconds + 1) * mean proficiency / 5``, then the id.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from orchestrator.routing.model import Agent, Conversation
from orchestrator.routing.spec import Queue, Routing, Rule, Target


def priority_of(queue: Queue, conversation: Conversation, now: datetime) -> int:
    """The conversation's priority with aging, at ``now``."""
    aging = queue.aging
    waited = now - conversation.arrived_at
    grown = 0
    if aging.step and aging.every > timedelta(0) and waited > timedelta(0):
        grown = min(aging.limit, (waited // aging.every) * aging.step)
    return conversation.base_priority + grown


def timeouts(rule: Rule, conversation: Conversation, window: timedelta) -> list[timedelta]:
    """How long each ring of ``rule`` is tried for this conversation before the next is added:
    its ``timeout``, except that a last-agent ring is no wait at all when the conversation has
    no last agent inside the window (nobody it could reach)."""
    start = conversation.queued_at or conversation.arrived_at
    last_at = conversation.last_agent_at
    has_last = conversation.last_agent is not None and last_at is not None
    reachable = has_last and last_at is not None and start - last_at <= window
    return [
        timedelta(0) if t.last_agent and not reachable else (t.timeout or timedelta(0))
        for t in rule.targets
    ]


def ring_of(rule: Rule, conversation: Conversation, now: datetime, window: timedelta) -> int:
    """The index of the widest ring the conversation's time in its queue has reached."""
    elapsed = now - (conversation.queued_at or conversation.arrived_at)
    ring, end = 0, timedelta(0)
    for i, timeout in enumerate(timeouts(rule, conversation, window)[:-1]):
        end += timeout
        if elapsed < end:
            return i
        ring = i + 1
    return ring


def ring_ends(rule: Rule, conversation: Conversation, window: timedelta) -> list[datetime]:
    """When each ring after the first is added (the due times of a waiting conversation)."""
    start = conversation.queued_at or conversation.arrived_at
    out, end = [], timedelta(0)
    for timeout in timeouts(rule, conversation, window)[:-1]:
        end += timeout
        out.append(start + end)
    return out


def rings_end(rule: Rule, conversation: Conversation, window: timedelta) -> timedelta | None:
    """How long after entering the queue the last ring's timeout ends (none: it never does)."""
    if rule.targets[-1].timeout is None:
        return None
    return sum(timeouts(rule, conversation, window), timedelta(0))


def has_skills(agent: Agent, needed: dict[str, int], own: Iterable[str] = ()) -> bool:
    """Whether ``agent`` has every skill of ``needed`` at its level, and each of ``own``."""
    skills = agent.skills
    return all(skills.get(s, 0) >= level for s, level in needed.items()) and all(
        skills.get(s, 0) >= 1 for s in own
    )


def reaches(
    target: Target, agent: Agent, conversation: Conversation, now: datetime, window: timedelta
) -> bool:
    """Whether one ring reaches ``agent`` for ``conversation``."""
    if target.last_agent:
        at = conversation.last_agent_at
        return conversation.last_agent == agent.id and at is not None and now - at <= window
    if target.agents:
        return agent.id in target.agents
    return has_skills(agent, target.skills)


def target_for(
    routing: Routing, rule: Rule, agent: Agent, conversation: Conversation, now: datetime
) -> str | None:
    """The name of the first ring, up to the reached one, that reaches ``agent``; or ``None``
    when the agent is not eligible for the conversation now."""
    queue = routing.queues[conversation.queue]
    if (
        agent.presence != "available"
        or agent.load + conversation.cost > agent.capacity
        or agent.id in conversation.passed
        or not has_skills(agent, queue.skills, conversation.skills)
    ):
        return None
    if conversation.pinned is not None:
        return "transfer" if agent.id == conversation.pinned else None
    window = routing.last_agent_window
    for target in rule.targets[: ring_of(rule, conversation, now, window) + 1]:
        if reaches(target, agent, conversation, now, window):
            return target.name
    return None


def _proficiency(agent: Agent, queue: Queue, conversation: Conversation) -> float:
    needed = [*queue.skills, *conversation.skills]
    if not needed:
        return 1.0
    return sum(min(agent.skills.get(s, 0), 5) for s in needed) / (5 * len(needed))


def agent_rank(
    agent: Agent, queue: Queue, conversation: Conversation, now: datetime
) -> tuple[int, float, str]:
    """Sort key of eligible agents: the last agent first, then the fairest, then by id."""
    idle = (now - agent.idle_since).total_seconds() if agent.idle_since is not None else 0.0
    score = (max(idle, 0.0) + 1.0) * _proficiency(agent, queue, conversation)
    return (0 if conversation.last_agent == agent.id else 1, -score, agent.id)


def conversation_rank(
    routing: Routing, conversation: Conversation, now: datetime
) -> tuple[int, datetime, str]:
    """Sort key of waiting conversations: the highest aged priority, then the oldest."""
    queue = routing.queues[conversation.queue]
    return (-priority_of(queue, conversation, now), conversation.arrived_at, conversation.id)
