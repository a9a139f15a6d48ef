"""The contact policy at send time, for the dispatcher: the verdict, and what it leaves behind.

:meth:`SendGuard.check` runs the pure rules (:mod:`orchestrator.policy.send_time`) on the
customer's current state, then counts caps and the loop guard atomically in Redis. A blocked
message is written to the send ledger as ``blocked`` (so no redelivery ever sends it); a
deferred one is kept in :class:`~orchestrator.state.deferred.DeferredSends` until it is due.
Either way the ledger gets one ``policy_blocked`` or ``policy_deferred`` record per message and
rule (its id is derived from both, so a redelivery writes the same record again).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from orchestrator.engine.model import CustomerState
from orchestrator.events import MessageSend
from orchestrator.ledger.records import audit
from orchestrator.policy import send_time
from orchestrator.policy.send_time import SendCheck
from orchestrator.policy.spec import Policy
from orchestrator.state.deferred import DeferredSend, DeferredSends
from orchestrator.state.policy_counters import PolicyCounters
from orchestrator.state.store import SendClaim
from orchestrator.workers.base import Deps, Record
from orchestrator.workers.publisher import Publisher

AT = "send"
_ACTIONS = {"block": "blocked", "defer": "deferred"}


class SendGuard:
    """Checks one ``message.send`` against the policy in force, and records what it decided."""

    def __init__(
        self,
        deps: Deps,
        publisher: Publisher,
        policy: Callable[[], Policy],
        counters: PolicyCounters,
        deferred: DeferredSends,
    ) -> None:
        self._deps, self._pub, self._policy = deps, publisher, policy
        self._counters, self._deferred = counters, deferred

    async def check(self, cmd: MessageSend, state: CustomerState, now: datetime) -> SendCheck:
        """``send``, ``block`` or ``defer``; a ``send`` has been counted in its caps."""
        policy = self._policy()
        verdict = send_time.check(policy, send_time.customer_of(state), cmd, now)
        if verdict.action != "send":
            return verdict
        counters = send_time.counters_for(policy, cmd)
        admission = await self._counters.admit(cmd.customer_id, cmd.message_id, counters, now)
        if admission.ok or admission.counter is None or admission.until is None:
            return verdict
        return send_time.over_limit(admission.counter, admission.until)

    async def block(
        self, cmd: MessageSend, verdict: SendCheck, entry: dict[str, Any], now: datetime
    ) -> SendClaim:
        """Write the message to the send ledger as ``blocked`` and record why; if the ledger
        already has it, nothing is written and the claim says what was there."""
        blocked = {**entry, "state": "blocked", "code": verdict.rule, "reason": verdict.reason}
        claim = await self._deps.store.claim_send(cmd.message_id, blocked)
        if claim.claimed:
            await self.record(cmd, verdict, now)
        return claim

    async def defer(
        self, record: Record, cmd: MessageSend, verdict: SendCheck, now: datetime
    ) -> None:
        """Keep the original record until ``verdict.due`` and record why."""
        due = verdict.due or now
        value = (record.value or b"").decode()
        await self._deferred.defer(
            [DeferredSend(cmd.message_id, cmd.customer_id, cmd.channel, due, value)]
        )
        await self.record(cmd, verdict, now)

    async def record(
        self, cmd: MessageSend, verdict: SendCheck, now: datetime, *, count: bool = True
    ) -> None:
        """One ledger record of a blocking or deferring verdict (and its metric)."""
        action = _ACTIONS[verdict.action]
        detail: dict[str, Any] = {"rule": verdict.rule, "at": AT}
        if verdict.due is not None:
            detail["due"] = verdict.due.isoformat()
        await self._pub.audit(
            audit(
                f"policy_{action}",
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
            self._deps.metrics.policy_total.labels(label, action, AT).inc()


def command_fields(cmd: MessageSend) -> dict[str, Any]:
    """The ledger fields every record about ``cmd`` carries: who, where, and which flow step."""
    return {
        "customer_id": cmd.customer_id,
        "channel": cmd.channel,
        "address": cmd.to,
        "message_id": cmd.message_id,
        "flow_id": cmd.flow_id,
        "flow_version": cmd.flow_version,
        "flow_step": cmd.step,
    }
