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

from typing import TYPE_CHECKING

from orchestrator.engine import spec
from orchestrator.engine.steps import Goto, Result

if TYPE_CHECKING:
    from orchestrator.engine.model import Run
    from orchestrator.engine.session import Session


def run(step: spec.SendStep, flow: spec.Flow, current: Run, s: Session) -> Result:
    """Send, then continue."""
    s.send(flow, current, step)
    return Goto(s.next_of(flow, step), current)
