"""``continuum flows lint``: valid flows that are probably not what their author meant.

Validation (:mod:`orchestrator.engine.flowfile`) rejects flows the engine cannot run; lint
finds flows it can run but that strand customers or break contact rules. The rules of one step
type are in its module (``StepBase.advice``); ``unreachable_step`` and ``ignored_next`` are
read from the graph and each model's ``takes_next``. Rules:

======================== ======== =====================================================
rule                     severity finding
======================== ======== =====================================================
unreachable_step         warning  no path from the first step reaches it
ask_without_timeout      warning  an ``ask`` waits for a reply forever
unhandled_category       warning  a category with no branch and no ``other`` branch
dead_timeout_branch      warning  a timeout branch on an ask or wait with no ``timeout``
missing_purpose          error    a send or ask without ``purpose`` in a marketing stage
missing_purpose          warning  the same elsewhere (it defaults to ``service``)
wait_without_timeout     warning  a ``wait`` for an event that may never come
call_without_on_error    warning  a failed ``call`` just goes on to the next step
ignored_next             warning  ``next`` on a step that never takes it (end, split)
======================== ======== =====================================================

Example::

    for finding in lint(load_flows(Path("flows"))):
        print(finding)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from orchestrator.engine import spec
from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.steps._message import MARKETING_STAGES
from orchestrator.flowtools.graph import depths

Severity = Literal["warning", "error"]

__all__ = ["MARKETING_STAGES", "Finding", "Severity", "lint", "lint_flow"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem in one flow (and step)."""

    flow_id: str
    step_id: str | None
    rule: str
    severity: Severity
    message: str

    def __str__(self) -> str:
        where = f"{self.flow_id}.{self.step_id}" if self.step_id else self.flow_id
        return f"{where}: {self.severity}: {self.rule}: {self.message}"


def lint(catalogue: Catalogue) -> list[Finding]:
    """Every finding for every flow in ``catalogue``, flow by flow in file order of steps."""
    return [f for flow in sorted(catalogue.flows, key=lambda f: f.id) for f in lint_flow(flow)]


def lint_flow(flow: spec.Flow) -> list[Finding]:
    """Every finding for one flow."""
    return list(_findings(flow))


def _findings(flow: spec.Flow) -> Iterator[Finding]:
    reachable = depths(flow)
    for step in flow.steps:
        if step.id not in reachable:
            yield Finding(
                flow.id,
                step.id,
                "unreachable_step",
                "warning",
                "no path from the first step reaches it",
            )
        for advice in step.advice(flow):  # each step type's own rules
            yield Finding(flow.id, step.id, advice.rule, advice.severity, advice.message)
        if step.next and not step.takes_next:
            message = f"a {step.type} step never takes `next`"
            yield Finding(flow.id, step.id, "ignored_next", "warning", message)
