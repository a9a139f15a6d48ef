"""A dispatcher, a status worker and a reconciler on real Redis, with one provider adapter
talking to the sandbox over HTTP: the rig of the unknown-outcome tests
(``test_unknown_outcomes*.py``).

Example::

    async with unknown_rig(settings, SandboxConfig(), lambda url, http: Adapter(url, http)) as rig:
        await rig.dispatch("msg_1", "+15550001", "hi")
        await rig.reconciler(ReconcileSettings(delay_s=0)).reconcile_due()
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from channels.sandbox import SandboxConfig, create_sandbox_app
from channels.sandbox.runtime import SandboxRuntime
from orchestrator.events import MESSAGE_SEND, new_event
from orchestrator.http_server import HttpServer
from orchestrator.metrics import Metrics
from orchestrator.policy.spec import Policy
from orchestrator.redis_client import RedisClient, make_redis
from orchestrator.servers import free_port
from orchestrator.settings import ReconcileSettings, Settings
from orchestrator.state.deferred import DeferredSends
from orchestrator.state.policy_counters import PolicyCounters
from orchestrator.state.store import RedisStateStore
from orchestrator.state.unknown_sends import UnknownSends
from orchestrator.topics import Topics
from orchestrator.workers.base import Deps
from orchestrator.workers.dispatcher import DispatcherWorker
from orchestrator.workers.reconcile import Reconciler
from orchestrator.workers.status import StatusWorker
from tests.integration.helpers import FakeRecord
from tests.integration.test_dispatch_retries import AuditingPublisher
from tests.integration.test_policy_send_time import daytime_zone
from tests.integration.test_redis_cluster_round_trips import customer

ADAPTER_TIMEOUT_S = 0.5  # the sandbox's test hooks hold their answers 2 s
CUSTOMER = "cus_000001"


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Rig:
    client: RedisClient
    runtime: SandboxRuntime
    pub: AuditingPublisher
    dispatcher: DispatcherWorker
    status: StatusWorker
    index: UnknownSends
    metrics: Metrics
    store: RedisStateStore
    adapter: Any  # a channel adapter that is also Reconcilable

    def reconciler(self, settings: ReconcileSettings) -> Reconciler:
        return Reconciler(
            self.index,
            self.store,
            {self.adapter.channel_type: self.adapter},
            self.pub,  # type: ignore[arg-type]
            Topics(),
            now,
            self.metrics,
            settings,
        )

    async def dispatch(self, message_id: str, to: str, text: str) -> None:
        """One ``message.send`` to ``to`` on the adapter's channel, through the dispatcher."""
        channel = self.adapter.channel
        data = {
            "message_id": message_id,
            "customer_id": CUSTOMER,
            "channel": channel,
            "to": to,
            "text": text,
        }
        event = new_event(MESSAGE_SEND, message_id, "/test", data, time=now())
        record = FakeRecord(Topics().outbound(channel), 0, event.to_bytes())
        await self.dispatcher.handle([record])  # type: ignore[list-item]

    async def receipt(self, value: bytes) -> None:
        await self.status.handle([FakeRecord(Topics().status, 0, value)])  # type: ignore[list-item]

    def steps(self) -> list[tuple[str, str]]:
        return [(r.step, r.outcome) for r in self.pub.audits]


@contextlib.asynccontextmanager
async def unknown_rig(
    settings: Settings,
    config: SandboxConfig,
    make_adapter: Callable[[str, httpx.AsyncClient], Any],
) -> AsyncIterator[Rig]:
    """The rig, with the sandbox (``config``) on a free port and the adapter
    ``make_adapter(sandbox_url, http)`` whose calls time out after ``ADAPTER_TIMEOUT_S``."""
    client = make_redis(settings.redis)
    port = free_port()
    app = create_sandbox_app(config)
    server = HttpServer(app, "127.0.0.1", port, "sandbox")
    await server.start()
    http = httpx.AsyncClient(timeout=ADAPTER_TIMEOUT_S)
    adapter = make_adapter(f"http://127.0.0.1:{port}", http)
    store, pub, metrics = RedisStateStore(client), AuditingPublisher(), Metrics(CollectorRegistry())
    deps = Deps(topics=Topics(), store=store, metrics=metrics, clock=now, new_id=lambda: "unused")
    # in a zone where it is afternoon now: the rig's clock is the wall clock, quiet hours apply
    await store.save_states([customer(CUSTOMER, zone=daytime_zone(now()))])
    dispatcher = DispatcherWorker(
        deps,
        pub,
        {adapter.channel: adapter},
        {},
        policy=Policy,  # type: ignore[arg-type]
        counters=PolicyCounters(client),
        deferred=DeferredSends(client),
    )
    status = StatusWorker(deps, pub)  # type: ignore[arg-type]
    try:
        yield Rig(
            client,
            app.state.sandbox,
            pub,
            dispatcher,
            status,
            UnknownSends(client),
            metrics,
            store,
            adapter,
        )
    finally:
        await http.aclose()
        await server.stop()
        await client.aclose()
