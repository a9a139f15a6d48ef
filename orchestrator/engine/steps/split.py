"""``split``: a random A/B/n branch, stable per customer (a hash, not a random draw).

YAML::

    - id: ab
      type: split
      weights: {short: 50, long: 50}
      branches: {short: short_text, long: long_text}

The variant is recorded in ``run.results.<id>.variant``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from orchestrator.engine import spec
from orchestrator.engine.decisions import stable_fraction
from orchestrator.engine.steps import Goto, Result

if TYPE_CHECKING:
    from orchestrator.engine.model import Run
    from orchestrator.engine.session import Session


def run(step: spec.SplitStep, flow: spec.Flow, current: Run, s: Session) -> Result:
    """Branch by the customer's stable fraction."""
    point = stable_fraction(s.state.customer_id, flow.id, step.id) * sum(step.weights.values())
    chosen = next(iter(step.weights))
    for variant in sorted(step.weights):
        if point < step.weights[variant]:
            chosen = variant
            break
        point -= step.weights[variant]
    results = {**current.results, step.id: {"variant": chosen}}
    return Goto(step.branches[chosen], replace(current, results=results))
