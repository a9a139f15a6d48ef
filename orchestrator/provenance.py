"""Which flow step something came from: the one value decisions, commands and ledger records
pass along.

On the wire the three parts stay separate fields, as they always were (``flow_id``,
``flow_version`` and ``step`` on a ``message.send``; ``flow_id``, ``flow_version`` and
``flow_step`` on an audit record and a ledger row); in code they travel together as a
:class:`Provenance`. Pure: no imports beyond the standard library, so the engine may use it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Provenance:
    """The flow, its version and the step; each None where there is none (a policy note, a
    timer that never had a version, a record about no flow at all)."""

    flow_id: str | None = None
    flow_version: int | None = None
    step: str | None = None


NO_FLOW = Provenance()
"""The provenance of what no flow step made (an inbound message, a dead letter)."""
