"""``routing.yaml``'s text parsed and checked, with errors as ``file:line: reason``, like flow
files and the policy. PURE: reading the file is :mod:`orchestrator.flowfiles`' job."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from orchestrator.engine.expressions import check_expression
from orchestrator.errors import FlowError
from orchestrator.routing.spec import Routing
from orchestrator.yamldoc import compose, line_of, where

ROUTING_FILE = "routing.yaml"
"""The routing model's file in the flows folder."""

CONVERSATION = "conversation"
"""The one name a rule's ``when`` expression sees."""


def parse_routing(path: Path, text: str, flow_ids: Iterable[str] | None = None) -> Routing:
    """The routing model in ``text`` (read from ``path``, named in errors); an empty file has no
    queues. ``flow_ids``, when given, are the flows a closed queue's reply may name."""
    node, doc = compose(path, text)
    doc = doc or {}
    if not isinstance(doc, dict):
        raise FlowError([f"{path}:1: the routing file holds one mapping"])
    try:
        routing = Routing.model_validate(doc)
    except ValidationError as exc:
        raise FlowError(
            [f"{path}:{line_of(node, e['loc'])}: {where(e['loc'])}{e['msg']}" for e in exc.errors()]
        ) from None
    problems = [
        f"{path}:{line_of(node, loc)}: {where(loc)}{why}"
        for loc, why in _references(routing, flow_ids)
    ]
    if problems:
        raise FlowError(problems)
    return routing


def unknown_queues(routing: Routing, flows: Sequence[tuple[Path, str]]) -> list[str]:
    """``file:line: reason`` for each flow ``route`` step (the flow files' texts) naming a queue
    that ``routing`` does not define."""
    problems: list[str] = []
    for path, text in flows:
        try:
            node, doc = compose(path, text)
        except FlowError:
            continue  # the flow's own parse reports it
        steps = doc.get("steps") if isinstance(doc, dict) else None
        for i, step in enumerate(steps if isinstance(steps, list) else []):
            if not isinstance(step, dict) or step.get("type") != "route":
                continue
            queue = step.get("queue")
            if isinstance(queue, str) and queue not in routing.queues:
                line = line_of(node, ("steps", i, "queue"))
                known = ", ".join(sorted(routing.queues)) or "none"
                problems.append(
                    f"{path}:{line}: steps.{i}.queue: {ROUTING_FILE} has no queue {queue!r} "
                    f"(its queues: {known})"
                )
    return problems


def _references(routing: Routing, flow_ids: Iterable[str] | None) -> Iterable[tuple[Any, str]]:
    """What names something that is not there: schedules, queues, flows, and bad expressions."""
    flows = set(flow_ids) if flow_ids is not None else None
    for name, queue in routing.queues.items():
        at = ("queues", name)
        if queue.schedule is not None and queue.schedule not in routing.schedules:
            yield (*at, "schedule"), f"no schedule is named {queue.schedule!r}"
        if queue.overflow is not None and queue.overflow not in routing.queues:
            yield (*at, "overflow"), f"no queue is named {queue.overflow!r}"
        elif queue.overflow == name:
            yield (*at, "overflow"), "a queue cannot overflow into itself"
        closed = queue.when_closed.flow
        if flows is not None and closed is not None and closed not in flows:
            yield (*at, "when_closed", "flow"), f"no flow is named {closed!r}"
        for i, rule in enumerate(queue.rules):
            if rule.when is not None:
                why = check_expression(rule.when, (CONVERSATION,))
                if why is not None:
                    yield (*at, "rules", i, "when"), why
            last = len(rule.targets) - 1
            for j, target in enumerate(rule.targets):
                if j < last and target.timeout is None:
                    yield (
                        (*at, "rules", i, "targets", j, "timeout"),
                        ("every target but the last needs a timeout (when the next ring is added)"),
                    )
    yield from _overflow_cycles(routing)


def _overflow_cycles(routing: Routing) -> Iterable[tuple[Any, str]]:
    reported: set[str] = set()
    for start in routing.queues:
        path = [start]
        current = routing.queues[start].overflow
        while current is not None and current in routing.queues and current not in path:
            path.append(current)
            current = routing.queues[current].overflow
        if current == start and start not in reported and len(path) > 1:
            reported.update(path)
            chain = " -> ".join([*path, start])
            yield ("queues", start, "overflow"), f"overflow goes round in a circle: {chain}"
