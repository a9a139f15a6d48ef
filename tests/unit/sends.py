"""A ``message.send`` command for tests of the send-time rules (a marketing SMS to c1), and a
dispatcher with nothing behind it, to call one send."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

from prometheus_client import CollectorRegistry

from channels.base import ChannelAdapter
from orchestrator.doorbell import Doorbell
from orchestrator.events import MessageSend
from orchestrator.metrics import Metrics
from orchestrator.policy.spec import Policy
from orchestrator.settings import Settings
from orchestrator.topics import Topics
from orchestrator.workers.base import Deps
from orchestrator.workers.dispatcher import DispatcherWorker


def message_send(**overrides: object) -> MessageSend:
    """The command, with ``overrides`` on top of the defaults."""
    fields: dict[str, object] = {
        "message_id": "msg_1",
        "customer_id": "c1",
        "channel": "sms",
        "to": "+15551230001",
        "text": "20% off this week",
        "purpose": "marketing",
    }
    return MessageSend.model_validate({**fields, **overrides})


def bare_dispatcher(
    settings: Settings,
    adapters: Mapping[str, ChannelAdapter] | None = None,
    callbacks: Mapping[str, str] | None = None,
) -> DispatcherWorker:
    """A dispatcher without Redis, publisher or counters: enough for ``_call`` and ``_attempt``."""
    deps = Deps(
        topics=Topics(),
        store=cast(Any, None),
        metrics=Metrics(CollectorRegistry()),
        clock=lambda: datetime(2026, 12, 1, tzinfo=UTC),
        new_id=lambda: "c1",
    )
    none = cast(Any, None)
    deferred = cast(Any, SimpleNamespace(added=Doorbell()))
    return DispatcherWorker(
        deps,
        none,
        adapters or {},
        callbacks or {},
        policy=Policy,
        counters=none,
        deferred=deferred,
        settings=settings.dispatch,
    )
