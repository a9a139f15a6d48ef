"""What the dispatcher writes when a send changes provider, or waits for one.

* ``provider_failover`` (a ledger row, identity: message id, attempt, the provider left): the
  attempt by ``from`` is known to have failed and the same attempt goes on by ``to``.
* ``provider_unavailable`` (identity: message id, attempt, due): every provider of the medium
  has its breaker open; the claim is released and the original record waits in the deferred
  queue until the first breaker half-opens. No attempt is used.

The choice itself is :mod:`orchestrator.delivery.failover` (pure).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from channels.errors import SendError
from orchestrator.events import AuditRecord, MessageSend
from orchestrator.ledger.records import audit
from orchestrator.state.deferred import DeferredSend
from orchestrator.workers.outcomes import Outcome
from orchestrator.workers.send_guard import command_fields


def failover_row(
    cmd: MessageSend, attempt: int, source: str, target: str, error: SendError, at: datetime
) -> AuditRecord:
    """The ledger row of a send moving from provider ``source`` to ``target`` after ``error``."""
    detail: dict[str, object] = {"from": source, "to": target, "attempt": attempt}
    if ext_code := getattr(error, "ext_code", None):
        detail["provider_error_code"] = ext_code
    return audit(
        "provider_failover",
        error.code,
        identity=(cmd.message_id, str(attempt), source),
        at=at,
        **command_fields(cmd),
        provider=target,
        reason=str(error),
        detail=detail,
    )


def wait_for_provider(
    cmd: MessageSend,
    attempt: int,
    value: bytes | None,
    chain: Sequence[str],
    due_ms: int,
    at: datetime,
) -> Outcome:
    """The released claim, the deferral of the original record (``value``) to ``due_ms`` and
    the ``provider_unavailable`` row of a send whose providers' breakers are all open. The row
    is one per message and attempt however often the send finds them open again (each
    half-open lets a probe through and sends the rest back): a long outage does not write a
    row per message per cool-down."""
    due = max(datetime.fromtimestamp(due_ms / 1000, UTC), at)
    retry = DeferredSend(cmd.message_id, cmd.customer_id, cmd.channel, due, (value or b"").decode())
    row = audit(
        "provider_unavailable",
        "breaker_open",
        identity=(cmd.message_id, str(attempt)),
        at=at,
        **command_fields(cmd),
        provider=chain[0] if chain else None,
        reason=f"every provider's circuit breaker is open: {', '.join(chain)}",
        detail={"providers": list(chain), "next_due": due.isoformat(), "attempt": attempt},
    )
    return Outcome(cmd.message_id, None, chain[0] if chain else "none", (), row, retry)
