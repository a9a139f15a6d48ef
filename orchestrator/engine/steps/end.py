"""``end``: finish the current flow (a subflow returns to its parent).

YAML::

    - {id: done, type: end}
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.engine import spec
from orchestrator.engine.steps import Result, Stop

if TYPE_CHECKING:
    from orchestrator.engine.model import Run
    from orchestrator.engine.session import Session


def run(step: spec.EndStep, flow: spec.Flow, current: Run, s: Session) -> Result:
    """Stop here."""
    return Stop(current)
