"""The contact policy at send time, for the dispatcher: the verdict, and what it leaves behind.

:meth:`SendGuard.verdict` runs the pure rules (:mod:`orchestrator.policy.send_time`) on the
customer's current state; the dispatcher then counts caps and the loop guard atomically in Redis
for a whole batch (:meth:`PolicyCounters.admit_many`'s script per message) and
:meth:`SendGuard.admitted` turns a full counter into its verdict. A blocked message is written
to the send ledger as ``blocked`` (so no redelivery ever sends it); a deferred one is kept in
:class:`~orchestrator.state.deferred.DeferredSends` until it is due. The Redis calls are the
dispatcher's, batched (:mod:`orchestrator.workers.dispatcher`); this module makes none.
Either way the ledger gets one ``policy_blocked`` or ``policy_deferred`` record per message and
rule (its id is derived from both, so a redelivery writes the same record again).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from orchestrator.engine import customer_view
from orchestrator.engine.customer_view import Staged
from orchestrator.engine.model import CustomerState
from orchestrator.events import MessageSend
from orchestrator.ledger.records import audit
from orchestrator.policy import actions, send_time
from orchestrator.policy.send_time import Counter, SendCheck
from orchestrator.policy.spec import Policy
from orchestrator.state.deferred import DeferredSend
from orchestrator.state.policy_counters import Admission
from orchestrator.state.protocols import EventPublisher
from orchestrator.workers.base import Deps, Record

AT = "send"


class SendGuard:
    """Checks one ``message.send`` against the policy in force, and records what it decided."""

    def __init__(
        self,
        deps: Deps,
        publisher: EventPublisher,
        policy: Callable[[], Policy],
        flows: Callable[[str], Staged | None] = lambda _: None,
    ) -> None:
        self._deps, self._pub, self._policy, self._flows = deps, publisher, policy, flows

    def verdict(
        self, cmd: MessageSend, state: CustomerState, now: datetime
    ) -> tuple[SendCheck, list[Counter]]:
        """The pure rules' verdict on ``cmd``, and for a ``send`` the counters it must fit (to
        count with :meth:`PolicyCounters.admit_many`, then :meth:`admitted`). No I/O."""
        policy = self._policy()
        who = customer_view.at_send(state, self._flows, now, cmd.flow_id or "")
        verdict = send_time.check(policy, who, cmd, now)
        if verdict.action != "send":
            return verdict, []
        return verdict, send_time.counters_for(policy, cmd)

    @staticmethod
    def admitted(verdict: SendCheck, admission: Admission) -> SendCheck:
        """The verdict once the counters answered: still ``send`` (counted), or the full
        counter's ``block`` or ``defer`` (not counted)."""
        if admission.ok or admission.counter is None or admission.until is None:
            return verdict
        return send_time.over_limit(admission.counter, admission.until)

    @staticmethod
    def blocked_entry(entry: dict[str, Any], verdict: SendCheck) -> dict[str, Any]:
        """The send ledger entry of a blocked message."""
        return {**entry, "state": "blocked", "code": verdict.rule, "reason": verdict.reason}

    @staticmethod
    def deferral(
        record: Record, cmd: MessageSend, verdict: SendCheck, now: datetime
    ) -> DeferredSend:
        """The original record, kept until ``verdict.due``."""
        value = (record.value or b"").decode()
        return DeferredSend(cmd.message_id, cmd.customer_id, cmd.channel, verdict.due or now, value)

    async def record(
        self, cmd: MessageSend, verdict: SendCheck, now: datetime, *, count: bool = True
    ) -> None:
        """One ledger record of a blocking or deferring verdict (and its metric)."""
        action = actions.of_send(verdict.action)
        detail: dict[str, Any] = {"rule": verdict.rule, "at": AT}
        if verdict.due is not None:
            detail["due"] = verdict.due.isoformat()
        await self._pub.audit(
            audit(
                actions.note_code(action),
                verdict.rule,
                identity=(cmd.message_id, verdict.rule, AT),
                at=now,
                **command_fields(cmd),
                reason=verdict.reason,
                detail=detail,
            )
        )
        if count:
            label = send_time.rule_label(verdict.rule)
            self._deps.metrics.policy_total.labels(label, actions.label(action), AT).inc()


def command_fields(cmd: MessageSend) -> dict[str, Any]:
    """The ledger fields every record about ``cmd`` carries: who, where, and which flow step."""
    return {
        "customer_id": cmd.customer_id,
        "channel": cmd.channel,
        "address": cmd.to,
        "message_id": cmd.message_id,
        "provenance": cmd.provenance,
    }
