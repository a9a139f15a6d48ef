"""``send``: a templated message on the reply, preferred or first reachable channel.

YAML::

    - id: confirm
      type: send
      channel: [whatsapp, sms]      # or reply (default) / preferred
      purpose: service
      template: {en: "Your order {{ run.results.lookup.json.status }}", es: "Tu pedido ..."}

Emits ``send_message`` (or the note ``unreachable`` when no channel has an address).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from orchestrator.engine.steps import Goto, Result
from orchestrator.engine.steps._message import MessageStep

if TYPE_CHECKING:
    from orchestrator.engine.model import Run
    from orchestrator.engine.spec import Flow
    from orchestrator.engine.steps.context import StepContext


class SendStep(MessageStep):
    """Send a template; ``template`` is text, or per-language texts keyed by language code."""

    type: Literal["send"]

    def run(self, flow: Flow, current: Run, ctx: StepContext) -> Result:
        """Send, then continue."""
        ctx.send(flow, current, self)
        return Goto(ctx.next_of(flow, self), current)
