"""``set``: fields (templates), tags, lifecycle stage, preferred channel, language, timers.

YAML::

    - id: remember
      type: set
      fields: {marketing_consent: "yes", consent_at: "{{ now.isoformat() }}"}
      add_tags: [opted-in]
      stage: onboarding
      preferred_channel: whatsapp
      language: es
      timers: {renewal-reminder: 30d}   # starts flows whose trigger is `timer: renewal-reminder`
      consent: [{purpose: marketing, status: granted}]   # on the reply channel

Emits ``start_timer`` for each named timer.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from orchestrator.engine import spec
from orchestrator.engine.expressions import ExpressionError, render
from orchestrator.engine.steps import Goto, Result
from orchestrator.policy import consent

if TYPE_CHECKING:
    from orchestrator.engine.model import Run
    from orchestrator.engine.session import Session


def run(step: spec.SetStep, flow: spec.Flow, current: Run, s: Session) -> Result:
    """Apply the changes to the customer's state."""
    variables = s.variables(flow, current)
    fields = dict(s.state.fields)
    for name, template in step.fields.items():
        try:
            fields[name] = render(template, variables)
        except ExpressionError as exc:
            s.note("template_error", flow, step.id, f"fields.{name}: {exc}")
    tags = [t for t in s.state.tags if t not in step.remove_tags]
    tags += [t for t in step.add_tags if t not in tags]
    s.state = replace(
        s.state,
        fields=fields,
        tags=tuple(tags),
        stage=step.stage or s.state.stage,
        preferred_channel=step.preferred_channel or s.state.preferred_channel,
        language=step.language or s.state.language,
    )
    for change in step.consent:
        channel: str = change.channel
        if channel == "reply":
            channel = current.channel or s.state.last_channel or "all"
        source = f"flow:{flow.id}.{step.id}"
        s.state = replace(
            s.state,
            consent=consent.grant(
                s.state.consent, channel, change.purpose, change.status, source, s.now
            ),
        )
        s.note("consent_recorded", flow, step.id, f"{change.purpose} {change.status} on {channel}")
    for name, after in step.timers.items():
        s.start_named_timer(flow, step.id, name, after)
    return Goto(s.next_of(flow, step), current)
