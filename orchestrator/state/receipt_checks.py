"""Receipt checks: "has this message had its delivery receipt yet?", asked when it falls due.

When a provider accepts a message the dispatcher schedules up to two checks: at accept time +
the send step's ``receipt_timeout`` (``receipt_timeout``: no delivery then, the next fallback
channel is tried) and at accept time + ``status.overdue_s`` (``overdue``: no receipt then, the
message is flagged ``delivery_overdue``). They are a :class:`~orchestrator.state.due_queue.
DueQueue` under the ``{receipts}`` hash tag, handled by :mod:`orchestrator.workers.receipts`
from any replica, at least once (the fallback's derived id and the ledger's record ids make a
repeat harmless). A check carries the whole original command, so that it needs nothing else.

Example::

    checks = ReceiptChecks(redis)
    await checks.schedule([ReceiptCheck("overdue", due, accepted_at, "sms.twilio", cmd_json)])
    for check in await checks.claim_due(now):
        ...
    await checks.ack([c.check_id for c in handled])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import orjson

from orchestrator.doorbell import Doorbell
from orchestrator.events import MessageSend
from orchestrator.redis_client import RedisClient
from orchestrator.state import keys
from orchestrator.state.due_queue import DueQueue, queue_put


@dataclass(frozen=True, slots=True)
class ReceiptCheck:
    """One check of one accepted message (``command``: its ``message.send`` data, JSON)."""

    kind: str
    due: datetime
    accepted_at: datetime
    provider: str
    command: str

    def __post_init__(self) -> None:
        if self.due.tzinfo is None or self.accepted_at.tzinfo is None:
            raise ValueError("receipt check: due and accepted_at must be timezone-aware")

    @property
    def cmd(self) -> MessageSend:
        """The original command."""
        return MessageSend.model_validate_json(self.command)

    @property
    def check_id(self) -> str:
        """``<message id>:<kind>``: one check of each kind per message."""
        return f"{orjson.loads(self.command)['message_id']}:{self.kind}"

    def to_json(self) -> bytes:
        """The stored payload."""
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> ReceiptCheck:
        """The inverse of :meth:`to_json`."""
        doc: dict[str, Any] = orjson.loads(raw)
        doc["due"] = datetime.fromisoformat(doc["due"])
        doc["accepted_at"] = datetime.fromisoformat(doc["accepted_at"])
        return cls(**doc)


class ReceiptChecks:
    """Receipt checks as a :class:`~orchestrator.state.due_queue.DueQueue`."""

    def __init__(self, redis: RedisClient) -> None:
        self._queue = DueQueue(
            redis, keys.receipts_due_key(), keys.receipts_leased_key(), keys.receipts_data_key()
        )
        self.queue_names = self._queue.names
        self.added = Doorbell()
        """Rung when this process schedules checks: its loop looks at once."""

    async def schedule(self, checks: Sequence[ReceiptCheck]) -> None:
        """Keep checks until they are due (one round trip); a check of the same message and
        kind is replaced."""
        await self._queue.put([(c.check_id, c.due, c.to_json()) for c in checks])
        if checks:
            self.added.ring()

    def riding(self, checks: Sequence[ReceiptCheck]) -> _Scheduling | None:
        """:meth:`schedule` as a rider (:class:`~orchestrator.state.protocols.Rider`) of
        another pipeline, the dispatcher's settle: no round trip of its own (None: no checks)."""
        return _Scheduling(self, checks) if checks else None

    async def claim_due(
        self, now: datetime, limit: int = 500, lease_s: float = 30.0
    ) -> list[ReceiptCheck]:
        """Lease up to ``limit`` checks due by ``now`` for ``lease_s`` seconds."""
        return [ReceiptCheck.from_json(d) for d in await self._queue.claim(now, limit, lease_s)]

    async def ack(self, check_ids: Sequence[str]) -> None:
        """Forget checks that have been handled."""
        await self._queue.ack(check_ids)

    async def next_due(self) -> datetime | None:
        """When the earliest check not yet claimed falls due (None if there is none)."""
        return await self._queue.next_due()

    async def requeue_expired(self, now: datetime, limit: int = 10_000) -> int:
        """Make checks whose lease ran out by ``now`` due again (their handler died)."""
        return await self._queue.requeue_expired(now, limit)

    async def pending(self) -> list[ReceiptCheck]:
        """Checks not yet handled, earliest first; O(all checks)."""
        checks = [ReceiptCheck.from_json(doc) for doc in await self._queue.payloads()]
        return sorted(checks, key=lambda c: (c.due, c.check_id))


class _Scheduling:
    """The commands that schedule ``checks``, riding in another operation's pipeline."""

    def __init__(self, owner: ReceiptChecks, checks: Sequence[ReceiptCheck]) -> None:
        self._owner, self._checks = owner, checks

    def queue(self, pipe: Any) -> None:
        items = [(c.check_id, c.due, c.to_json()) for c in self._checks]
        queue_put(pipe, *self._owner.queue_names, items)

    def read(self, raw: Sequence[Any]) -> None:
        self._owner.added.ring()
