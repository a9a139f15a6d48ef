"""Applying a fault to one send: the one hook every provider fake calls.

A fake calls :func:`consult` once it has a send it would accept (credentials and fields
checked), with its :class:`FaultShape`: how that provider writes an error, a 429 and a
permanent refusal. The :class:`Plan` it gets back says what to do instead of the happy path:
answer with ``plan.answer`` and accept nothing (``error``, ``throttle``, ``down``, ``reject`` at
send); or accept the message and then queue its receipts through :func:`queue_receipts`
(dropped, delayed, or a failed receipt carrying the rejection code) and ``await plan.stall()``
before answering (``timeout``: the message is in, the client never hears). ``latency`` is
slept inside :func:`consult`. Example (inside a fake's send route)::

    plan = await consult(runtime, SHAPE, to=to, text=text)
    if plan.answer is not None:
        return plan.answer.response()
    runtime.store.add(message)
    await queue_receipts(runtime, plan, steps, failed=lambda code, text: [...])
    await plan.stall()
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from fastapi import Response

from channels.sandbox.faults import FaultRule
from channels.sandbox.runtime import SandboxRuntime, Step

logger = logging.getLogger(__name__)

DOWN_MESSAGE = "Service Unavailable"


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer already encoded (status, JSON body bytes, extra headers), so the Twilio
    fast path (raw ASGI) and FastAPI routes can both send it."""

    status: int
    body: bytes
    headers: dict[str, str] | None = None

    def response(self) -> Response:
        """The answer as a FastAPI response."""
        return Response(self.body, self.status, self.headers, "application/json")


class FaultShape(Protocol):
    """How one provider answers when it fails: each fake module defines one.

    ``send_code`` and ``receipt_code`` are the permanent error codes a ``reject`` fault uses
    when it names none (Twilio ``21211`` at send, ``30006`` in a receipt, say)."""

    provider: str
    send_code: str
    receipt_code: str

    def error(self, status: int, message: str | None) -> Answer:
        """The provider's error body for HTTP ``status`` (``error`` and ``down`` faults)."""
        ...

    def throttle(self, retry_after: int) -> Answer:
        """The provider's 429, with ``Retry-After: <retry_after>``."""
        ...

    def rejected(self, code: str, message: str | None) -> Answer:
        """The provider's permanent refusal of a send, carrying ``code``."""
        ...


Failed = Callable[[str, str | None], Sequence[Step]]
"""Builds the receipt steps of a message the provider failed with (code, text)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What a send does under the fault that fired (the happy path when ``rule`` is None)."""

    rule: FaultRule | None = None
    answer: Answer | None = None
    """Answer this now and accept nothing."""
    receipts: Literal["normal", "drop", "delay", "fail"] = "normal"
    receipt_delay_s: float = 0.0
    fail_code: str = ""
    fail_message: str | None = None
    stall_s: float = 0.0
    """After accepting, hold the answer this long (a client times out: outcome unknown)."""

    async def stall(self) -> None:
        """Sleep ``stall_s`` (nothing when no timeout fault fired)."""
        if self.stall_s > 0:
            await asyncio.sleep(self.stall_s)


async def consult(runtime: SandboxRuntime, shape: FaultShape, *, to: str, text: str) -> Plan:
    """The plan for one send of ``shape.provider`` to ``to`` with ``text``; sleeps a latency."""
    rule = runtime.faults.pick(shape.provider, to, text)
    if rule is None:
        return Plan()
    logger.info("sandbox fault %s (%s) fires on a %s send", rule.id, rule.kind, shape.provider)
    match rule.kind:
        case "latency":
            await asyncio.sleep(rule.duration)
            return Plan(rule)
        case "error":
            return Plan(rule, answer=shape.error(rule.status, rule.message))
        case "throttle":
            return Plan(rule, answer=shape.throttle(rule.retry_after))
        case "down":
            return Plan(rule, answer=shape.error(503, DOWN_MESSAGE))
        case "timeout":
            return Plan(rule, stall_s=rule.duration)
        case "drop_receipt":
            return Plan(rule, receipts="drop")
        case "delay_receipt":
            return Plan(rule, receipts="delay", receipt_delay_s=rule.duration)
        case "reject" if rule.at == "send":
            return Plan(rule, answer=shape.rejected(rule.code or shape.send_code, rule.message))
        case "reject":
            code = rule.code or shape.receipt_code
            return Plan(rule, receipts="fail", fail_code=code, fail_message=rule.message)
    raise AssertionError(f"unhandled fault kind {rule.kind}")  # pragma: no cover


async def queue_receipts(
    runtime: SandboxRuntime, plan: Plan, steps: Sequence[Step], failed: Failed
) -> None:
    """Queue an accepted message's receipt ``steps`` as ``plan`` says: as usual, not at all,
    ``receipt_delay_s`` later, or ``failed(code, text)`` in their place."""
    match plan.receipts:
        case "normal":
            await runtime.submit(steps)
        case "drop":
            pass
        case "delay":
            runtime.submit_later(plan.receipt_delay_s, steps)
        case "fail":
            await runtime.submit(failed(plan.fail_code, plan.fail_message))
