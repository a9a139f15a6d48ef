"""``continuum flows lint``: valid flows that are probably not what their author meant.

Validation (:mod:`orchestrator.engine.flowfile`) rejects flows the engine cannot run; lint
finds flows it can run but that strand customers or break contact rules. Rules:

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
from orchestrator.flowtools.graph import depths

Severity = Literal["warning", "error"]

MARKETING_STAGES = frozenset({"awareness", "consideration", "win-back", "renewal"})
"""Stages whose messages are presumed promotional unless a step says otherwise."""


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

    def found(step: spec.Step, rule: str, message: str, severity: Severity = "warning") -> Finding:
        return Finding(flow.id, step.id, rule, severity, message)

    for step in flow.steps:
        if step.id not in reachable:
            yield found(step, "unreachable_step", "no path from the first step reaches it")
        match step:
            case spec.AskStep():
                yield from _ask(flow, step)
            case spec.WaitStep() if step.event is not None:
                if step.timeout is None:
                    yield found(
                        step,
                        "wait_without_timeout",
                        f"waits for event {step.event!r} forever; set `timeout`",
                    )
                    if step.timeout_next:
                        yield found(
                            step,
                            "dead_timeout_branch",
                            "`timeout_next` is never taken without `timeout`",
                        )
            case spec.CallStep() if step.on_error is None:
                yield found(
                    step,
                    "call_without_on_error",
                    "a failed request goes on to the next step as if it succeeded; set `on_error`",
                )
            case spec.EndStep() | spec.SplitStep() if step.next:
                yield found(step, "ignored_next", f"a {step.type} step never takes `next`")
            case _:
                pass
        if isinstance(step, spec.SendStep | spec.AskStep) and step.purpose is None:
            yield _purpose(flow, step)


def _ask(flow: spec.Flow, step: spec.AskStep) -> Iterator[Finding]:
    if step.timeout is None:
        yield Finding(
            flow.id,
            step.id,
            "ask_without_timeout",
            "warning",
            "waits for a reply forever; set `timeout`",
        )
        if "timeout" in step.branches:
            yield Finding(
                flow.id,
                step.id,
                "dead_timeout_branch",
                "warning",
                "the `timeout` branch is never taken without `timeout`",
            )
    if "other" in step.branches:
        return
    following = step.next or flow.after(step.id)
    where = f"goes on to {following!r}" if following else "ends the flow"
    for category in step.categories:
        if category.name not in step.branches:
            yield Finding(
                flow.id,
                step.id,
                "unhandled_category",
                "warning",
                f"category {category.name!r} has no branch and there is no `other` "
                f"branch: it {where}",
            )


def _purpose(flow: spec.Flow, step: spec.SendStep | spec.AskStep) -> Finding:
    if flow.stage in MARKETING_STAGES:
        return Finding(
            flow.id,
            step.id,
            "missing_purpose",
            "error",
            f"no `purpose` in a {flow.stage} flow: say `marketing` (needs consent) "
            "or why it is `service`/`transactional`",
        )
    return Finding(
        flow.id, step.id, "missing_purpose", "warning", "no `purpose`: defaults to service"
    )
