"""``decide()``: one event and one customer's state in, decisions and the next state out. PURE."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from jinja2.sandbox import SandboxedEnvironment

from orchestrator.engine.decisions import Decision, Note, Outcome, SendMessage, derive_id
from orchestrator.engine.flowfile import Catalogue, Flow
from orchestrator.engine.model import APPLIED_EVENTS_KEPT, Context, CustomerState, Inbound
from orchestrator.engine.templates import TemplateRenderError, make_environment, render

_ENV: SandboxedEnvironment | None = None


def decide(catalogue: Catalogue, state: CustomerState, event: Inbound, ctx: Context) -> Outcome:
    """Decide what to do about ``event`` for the customer in ``state``.

    Example::

        outcome = decide(catalogue, CustomerState("c1"), Inbound("SM1", "sms", "+1555", None,
                         "HELP"), Context(now=fixed_time))
        outcome.decisions  # (SendMessage(..., flow_id="help", ...),)

    An event already applied to ``state`` yields nothing, so redelivery is harmless.
    """
    if event.event_id in state.applied:
        return Outcome((), state, (Note("duplicate_event", event.event_id),))
    touched = replace(
        state,
        last_channel=event.channel,
        last_contact=ctx.now.isoformat(),
        message_count=state.message_count + 1,
        applied=(*state.applied, event.event_id)[-APPLIED_EVENTS_KEPT:],
    )
    flow = catalogue.match(event.channel, event.text)
    if flow is None:
        return Outcome((), replace(touched, current_flow=None), (Note("no_flow_matched"),))
    decisions, notes = _run_flow(flow, touched, event, ctx)
    return Outcome(decisions, replace(touched, current_flow=flow.id), notes)


def _run_flow(
    flow: Flow, state: CustomerState, event: Inbound, ctx: Context
) -> tuple[tuple[Decision, ...], tuple[Note, ...]]:
    variables = _variables(flow, state, event, ctx)
    decisions: list[Decision] = []
    notes = [Note("flow_matched", flow_id=flow.id, flow_version=flow.version)]
    for step in flow.steps:
        try:
            text = render(_environment(), step.template, variables)
        except TemplateRenderError as exc:
            notes.append(Note("template_error", str(exc), flow.id, flow.version, step.id))
            continue
        decisions.append(
            SendMessage(
                message_id=derive_id("msg", event.event_id, flow.id, step.id),
                channel=event.channel,
                to=event.sender,
                sender=event.recipient,
                text=text,
                purpose=step.purpose,
                flow_id=flow.id,
                flow_version=flow.version,
                step=step.id,
            )
        )
    return tuple(decisions), tuple(notes)


def _variables(flow: Flow, state: CustomerState, event: Inbound, ctx: Context) -> dict[str, Any]:
    return {
        "customer": {**state.fields, **state.to_dict()},
        "event": {
            "id": event.event_id,
            "channel": event.channel,
            "from": event.sender,
            "to": event.recipient,
            "text": event.text,
            "locale": event.locale,
        },
        "flow": {"id": flow.id, "version": flow.version, "stage": flow.stage, "owner": flow.owner},
        "now": ctx.now,
    }


def _environment() -> SandboxedEnvironment:
    # Building the environment is pure but not free; one per process is enough.
    global _ENV
    if _ENV is None:
        _ENV = make_environment()
    return _ENV
