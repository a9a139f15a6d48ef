"""The composition root of a running service: builds every concrete part, starts, stops.

``Service`` runs any subset of the workers, the API and the sandbox in one process: ``continuum
worker`` (``--only``, ``--api``). ``continuum up`` runs one per role, the API and the sandbox in
child processes (:mod:`orchestrator.supervisor`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry
from redis.exceptions import RedisError

from channels._http import pool_limits
from channels.aiohttp_transport import AiohttpClient
from channels.sandbox.app import create_sandbox_app
from channels.sandbox.config import SandboxConfig
from orchestrator.api.app import ApiDeps, create_app
from orchestrator.engine.catalogue import Catalogue
from orchestrator.executor import Executor
from orchestrator.flowfiles import load_flows, load_routing
from orchestrator.http_server import HttpServer
from orchestrator.ledger.store import LedgerStore
from orchestrator.metrics import Metrics, metrics_app
from orchestrator.policy.spec import Policy
from orchestrator.providers import build_adapters, console_webhooks, primaries, status_callbacks
from orchestrator.redis_client import make_redis
from orchestrator.reload import FlowReloader
from orchestrator.settings import Settings
from orchestrator.state.deferred import DeferredSends
from orchestrator.state.policy_counters import PolicyCounters
from orchestrator.state.rate_limits import RateLimiter
from orchestrator.state.receipt_checks import ReceiptChecks
from orchestrator.state.routing_board import RoutingStore
from orchestrator.state.store import RedisStateStore
from orchestrator.state.timers import RedisTimerStore
from orchestrator.state.unknown_sends import UnknownSends
from orchestrator.topics import Topics
from orchestrator.workers import WORKERS
from orchestrator.workers.base import BatchWorker, Deps
from orchestrator.workers.decision import DecisionWorker
from orchestrator.workers.dispatch_limits import DispatchLimits, provider_limits
from orchestrator.workers.dispatcher import BulkDispatcherWorker, DispatcherWorker
from orchestrator.workers.events import EventsWorker
from orchestrator.workers.inbound import InboundWorker
from orchestrator.workers.ledger_sink import LedgerSinkWorker
from orchestrator.workers.publisher import Publisher, aiokafka_producer
from orchestrator.workers.receipts import ReceiptCheckLoop
from orchestrator.workers.reconcile import Reconciler
from orchestrator.workers.release import DeferredRelease
from orchestrator.workers.router import RouterWorker
from orchestrator.workers.routing import Router
from orchestrator.workers.runtime import WorkerRunner, make_broker, make_pacer
from orchestrator.workers.scheduler import Scheduler
from orchestrator.workers.status import StatusWorker
from orchestrator.workers.wakeup import Bell, BellListener, bell_channel

log = logging.getLogger(__name__)


# SIGTERM to exit takes at most 10 s under any load (issue 7, A4): the grace period, the
# brokers' stop, one second for each of cancelling and closing the pool, and the exit itself.
STOP_GRACE_S = 4.0  # what a batch in flight, a polling loop or an HTTP request gets
BROKER_STOP_S = 2.5  # leaving the consumer groups, flushing the producers


async def _finish(tasks: list[asyncio.Future[None]], timeout: float) -> set[asyncio.Future[None]]:
    """Wait up to ``timeout`` for ``tasks``; cancel those still running (and give them back),
    and log failures."""
    if not tasks:
        return set()
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    if pending:
        log.warning("stop: %d task(s) did not finish in %.1fs; cancelled", len(pending), timeout)
        await asyncio.wait(pending, timeout=1.0)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.warning("stop: %s", task.exception())
    return pending


async def _close_kafka_clients(broker: KafkaBroker, producer: AIOKafkaProducer | None) -> None:
    """Close the connections of a broker whose stop was cancelled (it did not leave its group
    or flush in time), which would else stay open until they are garbage, unclosed.

    A consumer cancelled half way through its ``stop`` keeps its coordination, heartbeat and
    fetch tasks, which connect again; they are cancelled first, then its client is closed, and
    so are the broker's admin client and ``producer`` (its aiokafka producer, taken before the
    stop began: a stop cancelled in the producer's own ``stop`` has already let go of it). What
    was not committed, the next owner of the partitions redoes.
    aiokafka has no public "close now" (``stop`` commits and leaves the group): the private
    names are read with ``getattr``, and tests/integration/test_broker_close.py holds them to
    the installed version."""
    for sub in getattr(broker, "subscribers", ()):
        consumer = getattr(sub, "consumer", None)
        if consumer is None:
            continue
        coordinator = getattr(consumer, "_coordinator", None)
        tasks: list[Any] = [  # the subscriber's consume loop, the coordinator's tasks
            *getattr(sub, "tasks", ()),
            *(
                getattr(coordinator, name, None)
                for name in ("_coordination_task", "_heartbeat_task", "_commit_refresh_task")
            ),
        ]
        running = [t for t in tasks if isinstance(t, asyncio.Future) and not t.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=1.0)
        fetcher = getattr(consumer, "_fetcher", None)
        if fetcher is not None:  # its fetch task and the requests in flight
            with contextlib.suppress(TimeoutError, OSError, KafkaError):
                await asyncio.wait_for(fetcher.close(), timeout=1.0)
        await _close_client(getattr(consumer, "_client", None))
        consumer._closed = True  # as its stop marks it: closed, whatever stop had reached
    admin = getattr(getattr(getattr(broker, "config", None), "admin", None), "admin_client", None)
    await _close_client(getattr(admin, "_client", None))
    if producer is not None:  # every batch's records were confirmed: nothing is left to flush
        sender = getattr(producer, "_sender", None)
        sending = getattr(sender, "sender_task", None)
        if isinstance(sending, asyncio.Future) and not sending.done():
            sending.cancel()
            await asyncio.wait([sending], timeout=1.0)
        await _close_client(producer.client)
        producer._closed = True


async def _close_client(client: Any) -> None:
    """Close an aiokafka client. A connection's close the cancelled stop had begun may end
    cancelled (faststream's task group cancelled it): that is not this task being cancelled,
    so the close is tried once more, when the connections it left are closed."""
    if client is None:
        return
    for _ in range(2):
        try:
            await asyncio.wait_for(client.close(), timeout=1.0)
            return
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
        except (TimeoutError, OSError, KafkaError) as exc:
            log.warning("stop: could not close a Kafka client: %s", exc)
            return


def utc_now() -> datetime:
    """The wall clock, injected into workers as ``clock``."""
    return datetime.now(UTC)


def new_customer_id() -> str:
    """A fresh customer id."""
    return f"cus_{uuid.uuid4().hex[:20]}"


async def create_topics(settings: Settings, topics: Topics) -> None:
    """Create every topic Continuum uses; existing ones are left as they are."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, client_id="continuum-admin"
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(t, settings.kafka.partitions, settings.kafka.replication_factor)
            for t in topics.all()
            if t not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # a concurrent creator won
                await admin.create_topics(wanted)
    finally:
        await admin.close()


class Service:
    """Workers, API and sandbox of one process."""

    def __init__(
        self,
        settings: Settings,
        *,
        workers: Collection[str] = WORKERS,
        api: bool = True,
        sandbox: bool = False,
    ) -> None:
        unknown = set(workers) - set(WORKERS)
        if unknown:
            raise ValueError(f"unknown workers: {', '.join(sorted(unknown))}")
        self.settings = settings
        self.topics = Topics(settings.kafka.topic_prefix)
        self.metrics = Metrics(CollectorRegistry())
        self._worker_names = [w for w in WORKERS if w in workers]
        self._want_api = api
        self._want_sandbox = sandbox
        self.runners: list[WorkerRunner] = []
        self.http_servers: list[HttpServer] = []
        self.decision: DecisionWorker | None = None
        self._scheduler: Scheduler | None = None
        self._scheduler_broker = make_broker(settings, "continuum-scheduler")
        self._scheduler_stop = asyncio.Event()
        self._scheduler_task: asyncio.Task[None] | None = None
        self._listen_task: asyncio.Task[None] | None = None
        self._bell_task: asyncio.Task[None] | None = None
        self._policy = Policy()  # the dispatcher's, when no decision worker runs here
        self._release: DeferredRelease | None = None
        self._deferred: DeferredSends | None = None  # the dispatcher role's, for both lanes
        self._checks: ReceiptChecks | None = None  # likewise
        self._release_task: asyncio.Task[None] | None = None
        self._receipts: ReceiptCheckLoop | None = None
        self._receipts_task: asyncio.Task[None] | None = None
        self._reconciler: Reconciler | None = None  # beside the dispatcher (reconcile.py)
        self._reconcile_task: asyncio.Task[None] | None = None
        self.router: RouterWorker | None = None  # the router role's, with its timer loop
        self._router_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect, create topics, start the sandbox, the workers and the API."""
        s = self.settings
        catalogue = load_flows(s.flows_dir, s.flows_allowed_hosts, s.flow_variables, s.policy_file)
        self._policy = catalogue.policy
        self._loaded = catalogue  # the set in force when no decision worker runs here
        self._redis = make_redis(s.redis)
        await self._redis.ping()
        self._bell = Bell(self._redis, bell_channel(s.kafka.topic_prefix))
        self._pool = await asyncpg.create_pool(s.database, min_size=1, max_size=4)
        self.ledger = LedgerStore(self._pool)
        await self.ledger.migrate()
        await create_topics(s, self.topics)
        # adapters speak httpx; aiohttp's pool carries it, their posts by a short road
        self._http = AiohttpClient(
            limits=pool_limits(s.dispatch.concurrency), timeout=s.dispatch.timeout_s
        )
        if self._want_sandbox and s.sandbox.enabled:
            await self._start_sandbox()
        deps = Deps(
            topics=self.topics,
            store=RedisStateStore(
                self._redis, share_phone_across_media=s.identity.share_phone_across_media
            ),
            metrics=self.metrics,
            clock=utc_now,
            new_id=new_customer_id,
        )
        if "router" in self._worker_names:
            routing = load_routing(s.flows_dir, [f.id for f in catalogue.flows])
            self._routing_board = await Router.open(RoutingStore(self._redis), routing)
        # Records for one worker wake them all (the next hop is near), and so do rings.
        self.pacer = pacer = make_pacer(s)
        for name in self._worker_names:
            broker = make_broker(s, f"continuum-{name}")
            publisher = self._publisher(broker, f"/continuum/{name}")
            worker = self._build_worker(name, deps, publisher, catalogue)
            self.runners.append(WorkerRunner(worker, broker, s, self.metrics, pacer))
            if name == "dispatcher":  # and its bulk lane, a consumer of its own
                broker = make_broker(s, "continuum-dispatcher-bulk")
                bulk = self._dispatcher(
                    BulkDispatcherWorker, deps, self._publisher(broker, "/continuum/dispatcher")
                )
                self.runners.append(WorkerRunner(bulk, broker, s, self.metrics, pacer))
        brokers = [r.broker for r in self.runners]
        if self._want_api:  # a worker process needs no connection of its own for the API
            self._api_broker = make_broker(s, "continuum-api")
            brokers.append(self._api_broker)
        if self._scheduler is not None or self._release is not None:
            brokers.append(self._scheduler_broker)  # the release loop publishes through it too
        await asyncio.gather(*(b.start() for b in brokers))
        if self.runners:  # producers anywhere ring; the consumers here wake (workers/wakeup.py)
            listener = BellListener(
                self._redis, bell_channel(s.kafka.topic_prefix), pacer.rung, pacer.listening
            )
            self._bell_task = asyncio.create_task(
                listener.run(self._scheduler_stop), name="wake-bell"
            )
        self._reloader = FlowReloader(
            s,
            self._redis,
            self._in_force,
            self._install,
        )
        self._start_loops()
        if self._want_api:
            await self._start_api()
        else:  # a worker process still serves its metrics, on a port of its own
            m = s.metrics
            app = metrics_app(self.metrics.registry, self._not_consuming)
            server = HttpServer(app, m.host, m.port, "metrics")
            await server.start()
            self.http_servers.append(server)

    def _start_loops(self) -> None:
        """The polling loops of the roles here: scheduler, flow reloads, deferred release,
        receipt checks and the reconciler."""
        if self._scheduler is not None:
            self._scheduler_task = asyncio.create_task(
                self._scheduler.run(self._scheduler_stop), name="scheduler"
            )
            self._listen_task = asyncio.create_task(
                self._reloader.listen(self._scheduler_stop), name="flow-reloads"
            )
        if self._release is not None:
            self._release_task = asyncio.create_task(
                self._release.run(self._scheduler_stop), name="deferred-release"
            )
        if self._receipts is not None:
            self._receipts_task = asyncio.create_task(
                self._receipts.run(self._scheduler_stop), name="receipt-checks"
            )
        if self._reconciler is not None:
            self._reconcile_task = asyncio.create_task(
                self._reconciler.run(self._scheduler_stop), name="reconcile"
            )
        if self.router is not None:
            self._router_task = asyncio.create_task(
                self.router.run_timers(self._scheduler_stop), name="router-timers"
            )
        if self._release is not None and self._listen_task is None:  # a dispatcher alone: its
            self._listen_task = asyncio.create_task(  # send-time policy follows reloads too
                self._reloader.listen(self._scheduler_stop), name="flow-reloads"
            )

    def _build_worker(
        self, name: str, deps: Deps, publisher: Publisher, catalogue: Catalogue
    ) -> BatchWorker:
        match name:
            case "inbound":
                return InboundWorker(deps, publisher, self.settings.inbound)
            case "decision":
                timers = RedisTimerStore(self._redis)
                hosts = self.settings.flows_allowed_hosts
                self.decision = DecisionWorker(
                    deps,
                    publisher,
                    catalogue,
                    lambda pub: Executor(pub, self.topics, timers, self._http, hosts),
                    timers_added=timers.added,
                )
                self._scheduler = Scheduler(
                    self.settings.scheduler,
                    self.topics,
                    timers,
                    self._redis,
                    self._publisher(self._scheduler_broker, "/continuum/scheduler"),
                    self.catalogue,
                    utc_now,
                    self.metrics,
                )
                return self.decision
            case "events":
                return EventsWorker(deps, publisher)
            case "dispatcher":
                self._deferred = deferred = DeferredSends(self._redis)  # both lanes ring it
                release = self._publisher(self._scheduler_broker, "/continuum/release")
                self._release = DeferredRelease(
                    deferred, release, self.topics, utc_now, self.metrics
                )
                self._checks = checks = ReceiptChecks(self._redis)
                self._receipts = ReceiptCheckLoop(
                    checks,
                    self._redis,
                    self._publisher(self._scheduler_broker, "/continuum/receipts"),
                    self.topics,
                    utc_now,
                    self.metrics,
                )
                if self.settings.reconcile.enabled:
                    self._reconciler = self._build_reconciler(deps)
                return self._dispatcher(DispatcherWorker, deps, publisher)
            case "status":
                return StatusWorker(deps, publisher, self.settings.status)
            case "router":
                self.router = RouterWorker(deps, publisher, self._routing_board, self._redis)
                return self.router
            case _:
                return LedgerSinkWorker(deps, publisher, self.ledger)

    def _dispatcher(
        self, kind: type[DispatcherWorker], deps: Deps, publisher: Publisher
    ) -> DispatcherWorker:
        """A dispatcher of one lane (``kind``), with the provider rate limits unless they are
        off (``rate_limits.enabled``)."""
        s = self.settings
        limits = None
        if s.rate_limits.enabled:
            limiter = RateLimiter(self._redis, s.rate_limits)
            limits = DispatchLimits(limiter, provider_limits(s), s.rate_limits, self.metrics)
        chains = build_adapters(s, self._http, redis=self._redis)
        return kind(
            deps,
            publisher,
            primaries(chains),
            status_callbacks(s) if s.dispatch.status_callbacks else {},
            policy=self.policy,
            counters=PolicyCounters(self._redis),
            deferred=self._deferred or DeferredSends(self._redis),
            settings=s.dispatch,
            flows=lambda flow_id: self._in_force().get(flow_id),
            chains=chains,
            breakers=s.breaker,
            receipts=self._checks or ReceiptChecks(self._redis),
            overdue_s=s.status.overdue_s,
            limits=limits,
        )

    def _build_reconciler(self, deps: Deps) -> Reconciler:
        """The reconcile loop beside the dispatcher: asks providers about unknown sends (each
        provider of every medium, as failover may have sent with any of them)."""
        r = self.settings.reconcile
        chains = build_adapters(self.settings, self._http, redis=self._redis)
        return Reconciler(
            UnknownSends(self._redis, delay_s=r.delay_s),
            deps.store,
            {a.channel_type: a for chain in chains.values() for a in chain},
            self._publisher(self._scheduler_broker, "/continuum/reconcile"),
            self.topics,
            utc_now,
            self.metrics,
            r,
        )

    def _publisher(self, broker: KafkaBroker, source: str) -> Publisher:
        return Publisher(broker, self.topics, source, self._bell)

    async def _start_sandbox(self) -> None:
        s = self.settings
        config = SandboxConfig(
            twilio_account_sid=s.twilio.account_sid,
            twilio_auth_token=s.twilio.auth_token,
            smtp_host=s.sandbox.host,
            smtp_port=s.sandbox_smtp_port,
            console_webhooks=console_webhooks(s),
        )
        app = create_sandbox_app(config, redis=self._redis)  # lists the web chat's mailboxes
        server = HttpServer(app, s.sandbox.host, s.sandbox.port, "sandbox")
        await server.start()
        self.http_servers.append(server)

    async def _start_api(self) -> None:
        s = self.settings
        publisher = self._publisher(self._api_broker, "/continuum/api")
        probes = {
            "kafka": self._probe_kafka,
            "redis": self._probe_redis,
            "postgres": self._probe_postgres,
            "workers": self._probe_workers,
        }
        app = create_app(
            ApiDeps(
                s,
                self.metrics,
                self.topics,
                publisher,
                probes,
                lambda: self.reload_flows(broadcast=True),
                redis=self._redis,
                store=RedisStateStore(
                    self._redis, share_phone_across_media=s.identity.share_phone_across_media
                ),
                router=await self._api_router(),
                ledger=self.ledger,
            )
        )
        server = HttpServer(app, s.api.host, s.api.port, "api")
        await server.start()
        self.http_servers.append(server)

    async def _api_router(self) -> Router:
        """The agent API's writer on the routing board (the router role's own, when this
        process runs it: one copy of the board per process)."""
        if self.router is not None:
            return self.router.router
        s = self.settings
        routing = load_routing(s.flows_dir, [f.id for f in self._loaded.flows])
        self._api_board = await Router.open(RoutingStore(self._redis), routing)
        return self._api_board

    @property
    def consuming(self) -> bool:
        """Every worker of this process has its partitions."""
        return all(r.consuming for r in self.runners)

    async def wait_consuming(self, timeout: float = 60.0) -> None:
        """Wait until every worker has joined its group and has partitions assigned."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.consuming:
            if asyncio.get_running_loop().time() > deadline:
                waiting = [r.worker.name for r in self.runners if not r.consuming]
                raise TimeoutError(f"workers not consuming after {timeout}s: {waiting}")
            await asyncio.sleep(0.05)

    async def _probe_kafka(self) -> str | None:
        try:
            ok = await self._api_broker.ping(timeout=2.0)
        except (KafkaError, OSError) as exc:
            return f"unreachable: {exc}"
        return None if ok else "unreachable"

    async def _probe_redis(self) -> str | None:
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            return f"unreachable: {exc}"
        return None

    async def _probe_postgres(self) -> str | None:
        try:
            async with self._pool.acquire(timeout=2) as conn:
                await conn.fetchval("SELECT 1")
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            return f"unreachable: {exc}"
        return None

    def catalogue(self) -> Catalogue:
        """The flows in force in this process."""
        if self.decision is None:
            s = self.settings
            return load_flows(s.flows_dir, s.flows_allowed_hosts, s.flow_variables, s.policy_file)
        return self.decision.catalogue

    def _in_force(self) -> Catalogue:
        """The flows in force here: the decision worker's when it runs in this process, else
        the set read at start or at the latest reload."""
        return self.decision.catalogue if self.decision else self._loaded

    def policy(self) -> Policy:
        """The contact policy in force: the decision worker's when it runs in this process,
        else the one read at start (and again by :meth:`reload_flows`, e.g. on SIGHUP)."""
        return self.decision.catalogue.policy if self.decision else self._policy

    async def reload_flows(self, *, broadcast: bool = False) -> Catalogue:
        """Load the flows folder again and swap it in (see :mod:`orchestrator.reload`); an
        invalid set raises :class:`~orchestrator.errors.FlowError` and the running set stays."""
        fresh = await self._reloader.reload(broadcast=broadcast)
        self._policy = fresh.policy
        return fresh

    def _install(self, catalogue: Catalogue) -> None:
        self._loaded, self._policy = catalogue, catalogue.policy  # the dispatcher's policy too
        if self.decision is not None:
            self.decision.catalogue = catalogue
        boards = [self.router.router] if self.router is not None else []
        if getattr(self, "_api_board", None) is not None:
            boards.append(self._api_board)
        if boards:  # the folder was just validated, routing.yaml with it
            s = self.settings
            routing = load_routing(s.flows_dir, [f.id for f in catalogue.flows])
            for board in boards:
                board.routing = routing

    async def _probe_workers(self) -> str | None:
        return self._not_consuming()

    def _not_consuming(self) -> str | None:
        waiting = [r.worker.name for r in self.runners if not r.consuming]
        return f"not consuming yet: {', '.join(waiting)}" if waiting else None

    async def stop(self) -> None:
        """Stop within 10 s, however busy: take no new work, give batches in flight
        :data:`STOP_GRACE_S` to finish and commit, abandon the rest uncommitted (the next owner
        redoes them), then disconnect.

        The HTTP servers stop meanwhile (they finish requests in flight: the sandbox may be
        answering this process's own dispatcher), and so do the polling loops.
        """
        self._scheduler_stop.set()
        tasks = (
            self._scheduler_task,
            self._listen_task,
            self._release_task,
            self._receipts_task,
            self._reconcile_task,
            self._router_task,
            self._bell_task,
        )
        loops: list[asyncio.Future[None]] = [t for t in tasks if t is not None]
        await asyncio.gather(
            *(r.drain(STOP_GRACE_S) for r in self.runners),
            *(server.stop() for server in reversed(self.http_servers)),
            _finish(loops, STOP_GRACE_S),
            return_exceptions=True,
        )
        brokers = [*(r.broker for r in self.runners), self._scheduler_broker]
        if hasattr(self, "_api_broker"):
            brokers.append(self._api_broker)
        producers = [aiokafka_producer(b) for b in brokers]
        stops: dict[asyncio.Future[None], int] = {
            asyncio.ensure_future(b.stop()): i for i, b in enumerate(brokers)
        }
        for cancelled in await _finish(list(stops), BROKER_STOP_S):
            i = stops[cancelled]
            await _close_kafka_clients(brokers[i], producers[i])
        if hasattr(self, "_http"):
            await self._http.aclose()
        if hasattr(self, "_pool"):
            try:
                await asyncio.wait_for(self._pool.close(), timeout=1.0)
            except TimeoutError:
                self._pool.terminate()
        if hasattr(self, "_redis"):
            await self._bell.close()
            await self._redis.aclose()
