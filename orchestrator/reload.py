"""Hot reload of flows: validate the folder again, swap the catalogue, tell the other replicas.

A reload asked for over HTTP is broadcast on a Redis channel so that every process running a
decision worker reloads too (each reads its own flows folder, which deployment keeps in step).
An invalid set raises :class:`~orchestrator.errors.FlowError`, and the running set stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable

import orjson
from redis.exceptions import RedisError

from orchestrator.engine.catalogue import Catalogue
from orchestrator.errors import FlowError
from orchestrator.flowfiles import load_flows
from orchestrator.redis_client import RedisClient
from orchestrator.settings import Settings
from orchestrator.state import keys
from orchestrator.workers.polling import until_stopped

log = logging.getLogger(__name__)


# How often an idle listener wakes when no reload comes (stopping does not wait for it).
LISTEN_WAKE_S = 30.0


class FlowReloader:
    """Reloads this process's flows, and listens for other replicas' reloads."""

    def __init__(
        self,
        settings: Settings,
        redis: RedisClient,
        current: Callable[[], Catalogue | None],
        install: Callable[[Catalogue], None],
    ) -> None:
        self._settings = settings
        self._redis = redis
        self._current = current
        self._install = install
        self._lock = asyncio.Lock()
        self._origin = uuid.uuid4().hex

    async def reload(self, *, broadcast: bool = False) -> Catalogue:
        """Load, validate and install the flows folder; optionally ask the others to as well."""
        async with self._lock:
            s = self._settings
            fresh = await asyncio.to_thread(
                load_flows, s.flows_dir, s.flows_allowed_hosts, s.flow_variables
            )
            previous = self._current()
            if previous is not None:
                fresh = fresh.succeeding(previous)
                self._install(fresh)
            log.info("flows reloaded: %s", ", ".join(f"{f.id} v{f.version}" for f in fresh.flows))
        if broadcast:
            message = orjson.dumps({"origin": self._origin})
            await self._redis.publish(keys.flows_reload_channel(), message)
        return fresh

    async def listen(self, stop: asyncio.Event) -> None:
        """Reload whenever another replica broadcasts a reload, until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self._listen_once(stop)
            except (RedisError, OSError) as exc:
                log.warning("flow reload channel: %s; listening again shortly", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)

    async def _listen_once(self, stop: asyncio.Event) -> None:
        async with self._redis.pubsub() as pubsub:
            await pubsub.subscribe(keys.flows_reload_channel())
            while not stop.is_set():
                message = await until_stopped(
                    pubsub.get_message(ignore_subscribe_messages=True, timeout=LISTEN_WAKE_S),
                    stop,
                )
                if message is None or _origin(message.get("data")) == self._origin:
                    continue
                try:
                    await self.reload()
                except FlowError as exc:
                    log.error(
                        "a replica reloaded flows, but this one's set is invalid; the "
                        "running set stays: %s",
                        "; ".join(exc.problems),
                    )


def _origin(data: object) -> str | None:
    try:
        doc = orjson.loads(data) if isinstance(data, bytes | str) else None
    except orjson.JSONDecodeError:
        return None
    return doc.get("origin") if isinstance(doc, dict) else None
