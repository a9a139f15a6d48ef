"""Decisions are data: what the engine wants done. The executor does it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from orchestrator.engine.model import CustomerState


@dataclass(frozen=True, slots=True)
class SendMessage:
    """Send ``text`` to ``to`` on ``channel``; ``message_id`` is deterministic."""

    message_id: str
    channel: str
    to: str
    sender: str | None
    text: str
    purpose: str
    flow_id: str
    flow_version: int
    step: str


@dataclass(frozen=True, slots=True)
class Note:
    """Something worth recording that is not an action: a flow matched, a template failed."""

    code: str
    detail: str = ""
    flow_id: str | None = None
    flow_version: int | None = None
    step: str | None = None


Decision = SendMessage


@dataclass(frozen=True, slots=True)
class Outcome:
    """Everything one event produced: decisions to execute, the new state, and notes."""

    decisions: tuple[Decision, ...]
    state: CustomerState
    notes: tuple[Note, ...] = ()


def derive_id(prefix: str, *parts: str) -> str:
    """A deterministic id from its parts, so a redelivered event yields the same ids."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"{prefix}_{digest}"
