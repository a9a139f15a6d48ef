"""End to end: inbound SMS -> provider request at the sandbox (its own process) -> signed
status callbacks through the API -> ``status_changed`` rows in the ledger.

Every role runs in its own process (the status worker with the API, which takes the
callbacks). Each customer writes once, so each message gets one reply and three receipts
(queued, sent, delivered); the scenario ends when every number has its ``delivered`` row.
"""

from __future__ import annotations

import asyncio
import time

from orchestrator.bench.cost import Snapshot, cost_fields
from orchestrator.bench.harness import Deployment, Endpoints
from orchestrator.bench.load import end_offsets, fast_producer, inbound_plan, produce
from orchestrator.bench.options import BenchOptions
from orchestrator.bench.progress import Progress
from orchestrator.bench.provider import ledger_count, sandbox_requests
from orchestrator.bench.report import Result, timed_out
from orchestrator.workers import WORKERS

BLOCK = 2
_POLL_S = 0.5


async def run(endpoints: Endpoints, options: BenchOptions, run_id: str, bar: Progress) -> Result:
    """Produce the messages, wait (with a deadline) for every delivered receipt, report."""
    prefix = f"bench{run_id}e."
    n = options.e2e_messages
    plan = inbound_plan(run_id, n, n, BLOCK, channels=("sms",))
    result = Result("e2e", count=n)
    async with Deployment.start(endpoints, prefix, WORKERS, options.work, api=True) as dep:
        producer = fast_producer(endpoints.kafka)
        await producer.start()
        try:
            before = await Snapshot.take(endpoints.redis, endpoints.database, dep.pids())
            bar.reset("e2e", n)
            first = time.time()
            await produce(producer, dep.topics, plan)
        finally:
            await producer.stop()
        delivered, last = await _wait(endpoints, first, n, options.timeout_s, bar)
        after = await Snapshot.take(endpoints.redis, endpoints.database, dep.pids())
        took = max((last or time.time()) - first, 1e-6)
        requests = await sandbox_requests(endpoints.sandbox_url, BLOCK, first - 1)
        records = await end_offsets(endpoints.kafka, dep.topics.all())
        result.fields.update(
            messages=n,
            provider_requests=requests.count + requests.duplicates,
            delivered=delivered,
            msg_s=n / took if delivered >= n else None,
            accounted=delivered,
            lost=n - delivered,
            duplicate_sends=requests.duplicates,
            **cost_fields(
                before,
                after,
                messages=n,
                customers=n,
                records=records,
                seconds=took,
                pids=dep.pids(),
            ),
        )
        if delivered < n:
            result.status = "timed_out"
            result.note = timed_out(options.timeout_s, f"{delivered} of {n} delivered")
    return result


async def _wait(
    endpoints: Endpoints, since: float, n: int, timeout: float, bar: Progress
) -> tuple[int, float | None]:
    deadline = time.monotonic() + timeout
    while True:
        delivered, last = await ledger_count(
            endpoints.database, BLOCK, since - 1, step="status_changed", outcome="delivered"
        )
        bar.to(delivered)
        if delivered >= n or time.monotonic() > deadline:
            return delivered, last
        await asyncio.sleep(_POLL_S)
