"""The customer as the contact policy sees them (:class:`orchestrator.policy.evaluate.Customer`),
made from the engine's state. PURE.

The policy knows nothing of the engine's state or flows: the facts it needs are handed to it
here, at decision time by :meth:`orchestrator.engine.session.Session.customer` and at send time
by the dispatcher's send guard.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from orchestrator.engine.model import CustomerState
from orchestrator.policy.evaluate import Customer
from orchestrator.policy.rules.base import parsed
from orchestrator.policy.rules.support_quiet import SUPPORT


class Staged(Protocol):
    """A flow, as far as the support-conversation fact cares."""

    @property
    def stage(self) -> str: ...


def at_send(
    state: CustomerState,
    flow: Callable[[str], Staged | None] = lambda _: None,
    now: datetime | None = None,
    sending: str = "",
) -> Customer:
    """The recipient as the send-time rules see them, for a message of flow ``sending`` at
    ``now``: history is counted in Redis instead, and the support-conversation fact comes from
    the flows in force (``flow``), when given."""
    support = last_support(state, flow, now, sending) if now is not None else None
    return Customer(
        state.consent, state.identities, state.timezone, state.last_inbound, (), support
    )


def last_support(
    state: CustomerState, flow: Callable[[str], Staged | None], now: datetime, sending: str
) -> datetime | None:
    """When the customer was last in a support conversation other than flow ``sending``
    (``Customer.support_at``, for ``support_quiet``): ``now`` while a run of a ``support`` flow
    is open, else when the latest one started; ``None`` when never.

    Example (the engine, for a send of flow ``promo``)::

        last_support(state, catalogue.get, now, "promo")
    """

    def support(flow_id: str) -> bool:
        found = flow(flow_id) if flow_id != sending else None
        return found is not None and found.stage == SUPPORT

    if any(run is not None and support(run.flow_id) for run in (state.run, state.suspended)):
        return now
    started = [parsed(at) for fid, at in state.flow_history.items() if support(fid)]
    known = [at for at in started if at is not None]
    return max(known) if known else None
