"""Redis memory per customer, measured through the real inbound and decision workers.

Starts a throwaway ``redis-server`` on a free port (or uses ``--redis``), then sends N
customers (default 10,000) one of :data:`CONVERSATIONS` each (1 to 3 messages) through
:class:`InboundWorker` and :class:`DecisionWorker` in batches of 500, and writes each reply's
send ledger entry as the dispatcher would. Prints ``INFO memory`` ``used_memory`` deltas per
customer and ``MEMORY USAGE`` of each kind of key.

    .venv/bin/python -m tests.bench.redis_memory            # 10,000 customers
    .venv/bin/python -m tests.bench.redis_memory --customers 2000 --redis redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from prometheus_client import CollectorRegistry

from orchestrator.events import MESSAGE_SEND
from orchestrator.executor import Executor
from orchestrator.flowfiles import load_flows
from orchestrator.metrics import Metrics
from orchestrator.redis_client import RedisClient, make_redis
from orchestrator.servers import free_port, start_redis
from orchestrator.settings import Settings
from orchestrator.state import keys
from orchestrator.state.store import FinishedSend, RedisStateStore
from orchestrator.state.timers import RedisTimerStore
from orchestrator.topics import Topics
from orchestrator.workers.base import Deps
from orchestrator.workers.decision import DecisionWorker
from orchestrator.workers.inbound import InboundWorker
from tests.integration.helpers import FakeRecord, RecordingPublisher

FLOWS = Path(__file__).resolve().parents[2] / "flows"
BATCH = 500


def _sms(event_id: str, sender: str, text: str) -> bytes:
    data = {"channel": "sms", "from": sender, "to": "+15559990000", "text": text}
    doc = {"specversion": "1.0", "id": event_id, "source": "/channels/sms/twilio"}
    doc |= {"type": "message.received", "time": "2026-11-22T12:00:00Z", "data": data}
    return orjson.dumps(doc)


async def _used(redis: RedisClient) -> int:
    info: Any = await redis.info("memory")
    return int(info["used_memory"])


CONVERSATIONS = (
    ("HELP", "where is my order?"),
    ("where is my order?", "A1234567"),
    ("hello", "HELP", "thanks"),
    ("STOP", "START"),
    ("YES",),
    ("HELP", "STOP"),
)


async def drive(
    redis: RedisClient, customers: int, conversations: tuple[tuple[str, ...], ...], seed: int = 0
) -> None:
    """Each customer has one of ``conversations`` (in turn), through the real workers."""
    settings = Settings()
    ids = (f"cus_{seed}{i:07d}" for i in itertools.count())
    deps = Deps(
        topics=Topics(),
        store=RedisStateStore(redis),
        metrics=Metrics(CollectorRegistry()),
        clock=lambda: datetime.now(UTC),
        new_id=lambda: next(ids),
    )
    hosts = settings.flows_allowed_hosts
    catalogue = load_flows(FLOWS, hosts, {})
    senders = [f"+1555{seed}{i:06d}" for i in range(customers)]
    talks = [conversations[i % len(conversations)] for i in range(customers)]
    async with httpx.AsyncClient(timeout=0.2) as http:
        for turn in range(max(len(c) for c in conversations)):
            active = [(s, t[turn]) for s, t in zip(senders, talks, strict=True) if turn < len(t)]
            for start in range(0, len(active), BATCH):
                chunk = active[start : start + BATCH]
                recs = [
                    FakeRecord(deps.topics.inbound("sms"), i, _sms(f"SM{seed}x{turn}x{s}", s, text))
                    for i, (s, text) in enumerate(chunk)
                ]
                pub = RecordingPublisher()
                await InboundWorker(deps, pub).handle(recs)  # type: ignore[arg-type]
                # (the fakes stand in for the Publisher and the records)
                decision_pub = RecordingPublisher()
                worker = DecisionWorker(
                    deps,
                    decision_pub,  # type: ignore[arg-type]
                    catalogue,
                    lambda p: Executor(p, deps.topics, RedisTimerStore(redis), http, hosts),
                )
                await worker.handle(
                    [FakeRecord(t, i, e.to_bytes()) for i, (t, e) in enumerate(pub.published)]  # type: ignore[misc]
                )
                sends = [e.data or {} for _, e in decision_pub.published if e.type == MESSAGE_SEND]
                await deps.store.finish_sends([_finished(d) for d in sends])


def _finished(d: dict[str, Any]) -> FinishedSend:
    sid = f"SM{d['message_id'][-32:]}"
    entry = {"state": "accepted", "code": "queued", "message_id": d["message_id"]}
    entry |= {"customer_id": d["customer_id"], "channel": "sms", "to": d["to"]}
    entry |= {"provider": "sms.twilio", "external_ids": [sid]}
    return FinishedSend(str(d["message_id"]), entry, "sms.twilio", (sid,))


async def measure(redis: RedisClient, customers: int) -> dict[str, float]:
    """Send the traffic and return the figures."""
    await redis.flushdb()
    before = await _used(redis)
    await drive(redis, customers, CONVERSATIONS)
    after = await _used(redis)
    store = RedisStateStore(redis)
    sample = [f"cus_0{i:07d}" for i in range(0, customers, max(1, customers // 100))]
    states = await store.load_states(sample)
    cust = [await redis.memory_usage(keys.customer_key(c)) or 0 for c in sample]
    ident = [n async for n in redis.scan_iter(match="ct:ident:*", count=1000)][:100]
    # The same states written the way they were before (every field, defaults too).
    old = []
    for state in states.values():
        await redis.set("bench:old", orjson.dumps(state.to_dict()))
        old.append(await redis.memory_usage("bench:old") or 0)
    await redis.delete("bench:old")
    seen = [n async for n in redis.scan_iter(match="ct:seen:*", count=1000)][:100]
    send = [n async for n in redis.scan_iter(match="ct:send:*", count=1000)][:100]
    ext = [n async for n in redis.scan_iter(match="ct:ext:*", count=1000)][:100]

    async def avg(names: list[Any]) -> float:
        sizes = [await redis.memory_usage(n) or 0 for n in names]
        return sum(sizes) / max(1, len(sizes))

    return {
        "customers": customers,
        "messages": sum(len(CONVERSATIONS[i % len(CONVERSATIONS)]) for i in range(customers)),
        "used_memory_delta_per_customer": (after - before) / customers,
        "customer_key": sum(cust) / len(cust),
        "customer_key_old_format": sum(old) / len(old),
        "identity_key": await avg(ident),
        "seen_key_per_message": await avg(seen),
        "send_key_per_reply": await avg(send),
        "external_id_key_per_reply": await avg(ext),
    }


async def _main(args: argparse.Namespace) -> None:
    server = None
    url = args.redis
    if url is None:
        server = start_redis(free_port(), log_dir=Path(tempfile.mkdtemp(prefix="redis-memory-")))
        url = server.url
    redis = make_redis(url)
    try:
        for name, value in (await measure(redis, args.customers)).items():
            print(f"{name:34} {value:10.0f}")
    finally:
        await redis.aclose()
        if server is not None:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--redis", help="a running Redis (default: start one on a free port)")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
