"""``send``: a templated message on the reply, preferred or first reachable channel.

YAML::

    - id: confirm
      type: send
      channel: [whatsapp, sms]      # or reply (default) / preferred
      purpose: service
      template: {en: "Your order {{ run.results.lookup.json.status }}", es: "Tu pedido ..."}
      receipt_timeout: 10m          # optional: no delivery receipt by then, try the next channel

Emits ``send_message`` (or the note ``unreachable`` when no channel has an address). The
channels after the first that have an address go with it as ``alternates``, each rendered for
its channel: the dispatcher tries the next once when the message fails permanently, or has no
delivery receipt within ``receipt_timeout`` (docs/delivery.md, "Cross-channel fallback").
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from orchestrator.engine.spec_base import Duration, optional_duration
from orchestrator.engine.steps import Goto, Result
from orchestrator.engine.steps._message import MessageStep

if TYPE_CHECKING:
    from orchestrator.engine.model import Run
    from orchestrator.engine.spec import Flow
    from orchestrator.engine.steps.context import StepContext


class SendStep(MessageStep):
    """Send a template; ``template`` is text, or per-language texts keyed by language code."""

    type: Literal["send"]
    receipt_timeout: Duration | None = Field(
        None,
        description="with fallback channels: no delivery receipt within this time, the next "
        "channel is tried (once)",
    )

    _r = field_validator("receipt_timeout", mode="before")(optional_duration)

    @field_validator("receipt_timeout")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("receipt_timeout must be positive")
        return value

    def run(self, flow: Flow, current: Run, ctx: StepContext) -> Result:
        """Send, then continue."""
        ctx.send(flow, current, self)
        return Goto(ctx.next_of(flow, self), current)
