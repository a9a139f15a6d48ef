"""The per-queue metrics of contact-centre routing, from the board and the decisions committed.

:func:`observe` runs after every commit of routing decisions (the router role's tasks and timer
loop, and the agent API's calls, through ``publish_steps``). It sets the gauges from the board
as this process holds it at ``now`` (depth, oldest wait, agents by presence, open, the service
level target) and counts the decisions: offers by result, answers within the queue's service
level target or not, abandons, and the wait to answer. No I/O: the board and the time are given.

Example::

    out = await router.apply(now, lambda b: b.accept("c1", "ana", now))
    observe(metrics, router.board, out, now)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import get_args

from orchestrator.metrics import Metrics
from orchestrator.routing import decisions as d
from orchestrator.routing.board import Board
from orchestrator.routing.matching import has_skills
from orchestrator.routing.model import Agent, Presence
from orchestrator.routing.schedule import is_open
from orchestrator.routing.spec import ServiceLevel

PRESENCES: tuple[str, ...] = get_args(Presence)
"""Every presence, so a queue's gauge shows 0 for one nobody is in."""

_OFFER_RESULTS: Mapping[type[d.Step], str] = {
    d.Offered: "made",
    d.Assigned: "accepted",
    d.OfferTimedOut: "timed_out",
    d.OfferRejected: "rejected",
    d.OfferWithdrawn: "withdrawn",
}
"""The ``result`` label of ``continuum_queue_offers_total`` for each decision that has one."""

_DEFAULT_LEVEL = ServiceLevel()
_Profile = tuple[tuple[tuple[str, int], ...], str]
"""An agent's skills (sorted) and presence."""


def observe(metrics: Metrics, board: Board, out: Sequence[d.Step], now: datetime | None) -> None:
    """Count the decisions ``out`` just committed, then set the queue gauges from ``board``
    at ``now`` (``None``: the board has seen no event yet, so the gauges are left as they are)."""
    count(metrics, board, out)
    if now is not None:
        gauge(metrics, board, now)


def count(metrics: Metrics, board: Board, out: Sequence[d.Step]) -> None:
    """Offers by result, answers against the service level target, abandons, answer waits."""
    for step in out:
        if not isinstance(step, d.Decision):
            continue  # an agent's presence: no queue
        result = _OFFER_RESULTS.get(type(step))
        if result is not None:
            metrics.queue_offers.labels(step.queue, result).inc()
        if isinstance(step, d.Assigned):
            queue = board.routing.queues.get(step.queue)
            within = (queue.service_level if queue is not None else _DEFAULT_LEVEL).within
            seconds = step.waited.total_seconds()
            yes = "yes" if step.waited <= within else "no"
            metrics.queue_answered.labels(step.queue, yes).inc()
            metrics.queue_answer_seconds.labels(step.queue).observe(seconds)
        elif isinstance(step, d.Abandoned):
            metrics.queue_abandoned.labels(step.queue).inc()


def gauge(metrics: Metrics, board: Board, now: datetime) -> None:
    """Depth, oldest wait, agents by presence, open and the target of every queue of the
    board's model; a queue it no longer has (a reload dropped it) loses its gauges."""
    queues = board.routing.queues
    depth: Counter[str] = Counter()
    oldest: dict[str, datetime] = {}
    for conversation in board.conversations.values():
        if conversation.status == "assigned":
            continue
        name = conversation.queue
        depth[name] += 1
        if name not in oldest or conversation.arrived_at < oldest[name]:
            oldest[name] = conversation.arrived_at
    profiles = _profiles(board.agents.values())
    for name, queue in queues.items():
        metrics.queue_depth.labels(name).set(depth[name])
        first = oldest.get(name)
        wait = max(0.0, (now - first).total_seconds()) if first is not None else 0.0
        metrics.queue_oldest_wait.labels(name).set(wait)
        by_presence: Counter[str] = Counter()
        for (_, presence), agents in profiles.items():
            if has_skills(agents[0], queue.skills):
                by_presence[presence] += len(agents)
        for presence in PRESENCES:
            metrics.queue_agents.labels(name, presence).set(by_presence[presence])
        schedule = board.routing.schedules.get(queue.schedule) if queue.schedule else None
        open_now = is_open(schedule, now, board.overrides.get(name))
        metrics.queue_open.labels(name).set(1.0 if open_now else 0.0)
        metrics.queue_service_level_target.labels(name).set(queue.service_level.percent / 100)
    _forget(metrics, set(queues))
    metrics.queue_gauges_at.set(now.timestamp())


def _profiles(agents: Iterable[Agent]) -> dict[_Profile, list[Agent]]:
    """Agents grouped by skills and presence: a queue's skills are checked once per group,
    not once per agent (thousands of agents share a few dozen profiles)."""
    groups: dict[_Profile, list[Agent]] = {}
    for agent in agents:
        key = (tuple(sorted(agent.skills.items())), agent.presence)
        groups.setdefault(key, []).append(agent)
    return groups


def _forget(metrics: Metrics, queues: set[str]) -> None:
    """Remove the gauge series of queues the model no longer has (the counters stay: removing
    them would reset them for ``rate()``)."""
    by_queue = ("queue",)
    for metric, names in (
        (metrics.queue_depth, by_queue),
        (metrics.queue_oldest_wait, by_queue),
        (metrics.queue_open, by_queue),
        (metrics.queue_service_level_target, by_queue),
        (metrics.queue_agents, ("queue", "presence")),
    ):
        stale = {
            tuple(sample.labels[name] for name in names)
            for family in metric.collect()
            for sample in family.samples
            if sample.labels["queue"] not in queues
        }
        for labels in stale:
            metric.remove(*labels)
