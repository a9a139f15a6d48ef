"""``ask``: send a question, wait for the reply, classify it, branch by category.

YAML::

    - id: consent
      type: ask
      template: "Can we send you offers? Reply YES or NO"
      timeout: 24h
      categories:
        - {name: yes, test: has_any_word, args: [yes, y, ok]}
        - {name: no, test: has_any_word, args: [no, n, stop]}
      branches: {yes: record_yes, no: record_no, other: consent, timeout: end}

Emits ``send_message`` and ``start_timer`` (the timeout); on the reply, ``cancel_timer`` and
``run.results.<id> = {category, value}``. A reply matching nothing is ``other``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from orchestrator.engine import spec
from orchestrator.engine.expressions import ExpressionError, truthy
from orchestrator.engine.matchers import TESTS
from orchestrator.engine.steps import Goto, Pause, Result, Stop

if TYPE_CHECKING:
    from orchestrator.engine.model import Run
    from orchestrator.engine.session import Session


def run(step: spec.AskStep, flow: spec.Flow, current: Run, s: Session) -> Result:
    """Ask, then wait for the reply (and the timeout, if any)."""
    s.send(flow, current, step)
    timer = s.start_timer(flow, current, step.id, step.timeout, "ask_timeout")
    return Pause(replace(current, step=step.id, waiting="reply", timer_id=timer))


def resume(step: spec.AskStep, flow: spec.Flow, current: Run, s: Session, text: str) -> Result:
    """Classify the reply and take the matching branch."""
    category, value = classify(step, text, s.now, s.variables(flow, current))
    results = {**current.results, step.id: {"category": category, "value": value}}
    current = replace(current, results=results)
    target = step.branches.get(category)
    if target is None and category != "other":
        target = step.branches.get("other") if category not in step.branches else None
    return Goto(target or s.next_of(flow, step), current)


def timeout(step: spec.AskStep, flow: spec.Flow, current: Run, s: Session) -> Result:
    """No reply in time: the ``timeout`` branch, else the run ends."""
    results = {**current.results, step.id: {"category": "timeout", "value": None}}
    current = replace(current, results=results)
    target = step.branches.get("timeout")
    if target is None:
        s.note("ask_timeout", flow, step.id, "no reply before the timeout; the run ends")
        return Stop(current)
    return Goto(target, current)


def classify(
    step: spec.AskStep, text: str, now: datetime, variables: dict[str, Any]
) -> tuple[str, str | None]:
    """The first category the reply matches, and the matched value; else ``other``."""
    for category in step.categories:
        if category.test == "expression":
            try:
                if truthy(str(category.args[0]), {**variables, "answer": text}):
                    return category.name, text
            except ExpressionError:
                continue
            continue
        value = TESTS[category.test](text, category.args, now)
        if value is not None:
            return category.name, value
    return "other", text
