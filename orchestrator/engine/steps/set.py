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
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, field_validator

from orchestrator.engine.expressions import ExpressionError, render
from orchestrator.engine.model import retag
from orchestrator.engine.spec_base import (
    Duration,
    Spec,
    StepBase,
    to_duration,
)
from orchestrator.engine.steps import Goto, Result
from orchestrator.engine.steps.markers import Evaluated
from orchestrator.media import Medium as Channel
from orchestrator.policy import consent
from orchestrator.vocabulary import Purpose, Stage

if TYPE_CHECKING:
    from orchestrator.engine.model import Run
    from orchestrator.engine.spec import Flow
    from orchestrator.engine.steps.context import StepContext


class ConsentChange(Spec):
    """Record the customer's consent answer for a purpose.

    ``channel: reply`` is the channel the run is on; ``all`` covers every channel.
    ``confirmed`` is the second step of a double opt-in.
    """

    purpose: Purpose
    status: Literal["granted", "confirmed", "revoked"]
    channel: Literal["reply", "all"] | Channel = "reply"


class SetStep(StepBase):
    """Set state: fields (values are templates), tags, stage, preferred channel, language,
    consent, and named timers that start ``timer`` triggers later."""

    type: Literal["set"]
    consent: tuple[ConsentChange, ...] = ()
    fields: Annotated[dict[str, str], Evaluated()] = Field(default_factory=dict)
    add_tags: tuple[str, ...] = ()
    remove_tags: tuple[str, ...] = ()
    stage: Stage | None = None
    preferred_channel: Channel | None = None
    language: str | None = Field(None, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
    timers: dict[str, Duration] = Field(default_factory=dict)

    @field_validator("timers", mode="before")
    @classmethod
    def _timers(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: to_duration(v) for k, v in value.items()}
        return value

    def run(self, flow: Flow, current: Run, ctx: StepContext) -> Result:
        """Apply the changes to the customer's state."""
        variables = ctx.variables(flow, current)
        fields = dict(ctx.state.fields)
        for name, template in self.fields.items():
            try:
                fields[name] = render(template, variables)
            except ExpressionError as exc:
                ctx.note("template_error", flow, self.id, f"fields.{name}: {exc}")
        ctx.state = replace(
            ctx.state,
            fields=fields,
            tags=retag(ctx.state.tags, self.add_tags, self.remove_tags),
            stage=self.stage or ctx.state.stage,
            preferred_channel=self.preferred_channel or ctx.state.preferred_channel,
            language=self.language or ctx.state.language,
        )
        for change in self.consent:
            channel: str = change.channel
            if channel == "reply":
                channel = current.channel or ctx.state.last_channel or "all"
            source = f"flow:{flow.id}.{self.id}"
            ctx.state = replace(
                ctx.state,
                consent=consent.grant(
                    ctx.state.consent, channel, change.purpose, change.status, source, ctx.now
                ),
            )
            detail = f"{change.purpose} {change.status} on {channel}"
            ctx.note("consent_recorded", flow, self.id, detail)
        for name, after in self.timers.items():
            ctx.start_named_timer(flow, self.id, name, after)
        return Goto(ctx.next_of(flow, self), current)
