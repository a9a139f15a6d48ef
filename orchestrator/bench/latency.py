"""Latency at a fixed offered load: SMS HELP messages at ``rate`` per second for ``seconds``,
each from a new number, timed from the inbound record's timestamp to the provider request's
arrival at the sandbox (same clock: one machine).

Percentiles are over every message offered: one that never reached the provider within the
timeout counts as slower than all, so a percentile it lands in is reported as missing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from orchestrator.bench.cost import Snapshot, cost_fields
from orchestrator.bench.harness import Deployment, Endpoints
from orchestrator.bench.load import (
    Inbound,
    end_offsets,
    fast_producer,
    inbound_plan,
    send_inbound,
)
from orchestrator.bench.options import BenchOptions
from orchestrator.bench.progress import Progress
from orchestrator.bench.provider import ledger_count, sandbox_requests
from orchestrator.bench.report import Result, histogram, timed_out
from orchestrator.topics import Topics
from orchestrator.workers import WORKERS

BLOCK = 3
WARM_BLOCK = 4
"""The numbers of the warm-up: one second of the load, before the measured messages, so that
the workers are past their idle pace (a first record after a quiet spell waits for an idle
fetch per hop: that is idle latency, not latency under load)."""
_TICK_S = 0.005
_POLL_S = 0.5


async def run(endpoints: Endpoints, options: BenchOptions, run_id: str, bar: Progress) -> Result:
    """Offer the load, wait (with a deadline) for every provider request, report percentiles."""
    prefix = f"bench{run_id}l."
    n = max(1, int(options.rate * options.seconds))
    plan = inbound_plan(run_id, n, n, BLOCK, channels=("sms",))
    result = Result("latency", count=n)
    async with Deployment.start(endpoints, prefix, WORKERS, options.work, api=True) as dep:
        producer = fast_producer(endpoints.kafka)
        await producer.start()
        try:
            warm = inbound_plan(run_id, min(n, options.rate), n, WARM_BLOCK, channels=("sms",))
            bar.reset("warm-up", len(warm))
            began = time.time()
            await _paced(producer, dep.topics, warm, options.rate, bar)
            await _wait(endpoints, began, len(warm), options.timeout_s, bar, WARM_BLOCK)
            before = await Snapshot.take(endpoints.redis, endpoints.database, dep.pids())
            bar.reset("latency", n)
            first = time.time()
            sent = await _paced(producer, dep.topics, plan, options.rate, bar)
        finally:
            await producer.stop()
        bar.reset("providers", n)
        done = await _wait(endpoints, first, n, options.timeout_s, bar)
        after = await Snapshot.take(endpoints.redis, endpoints.database, dep.pids())
        took = time.time() - first
        requests = await sandbox_requests(endpoints.sandbox_url, BLOCK, first - 1)
        records = await end_offsets(endpoints.kafka, dep.topics.all())
        costs = cost_fields(
            before, after, messages=n, customers=n, records=records, seconds=took, pids=dep.pids()
        )
    latencies = sorted((at - sent[to]) * 1000 for to, at in requests.first_at.items() if to in sent)
    png = options.out_dir / "latency.png"
    title = f"{options.rate} msg/s offered for {options.seconds:.0f} s: {len(latencies)} of {n}"
    why_not = histogram(png, latencies, title)
    result.fields.update(
        offered_msg_s=options.rate,
        seconds=options.seconds,
        messages=n,
        arrived=len(latencies),
        p50_ms=percentile(latencies, n, 0.50),
        p95_ms=percentile(latencies, n, 0.95),
        p99_ms=percentile(latencies, n, 0.99),
        max_ms=latencies[-1] if len(latencies) == n else None,
        histogram=str(png) if why_not is None else why_not,
        accounted=len(latencies),
        lost=n - len(latencies),
        duplicate_sends=requests.duplicates,
        **costs,
    )
    result.samples_ms = latencies
    if not done or len(latencies) < n:
        result.status = "timed_out"
        result.note = timed_out(options.timeout_s, f"{len(latencies)} of {n} reached the provider")
    return result


def percentile(ordered: Sequence[float], total: int, q: float) -> float | None:
    """The ``q`` quantile of ``total`` samples of which ``ordered`` arrived (the rest: never)."""
    if total <= 0:
        return None
    index = min(total - 1, max(0, round(q * total) - 1))
    return ordered[index] if index < len(ordered) else None


async def _paced(
    producer: AIOKafkaProducer, topics: Topics, plan: Sequence[Inbound], rate: int, bar: Progress
) -> dict[str, float]:
    """Send ``plan`` at ``rate`` per second; return ``sender -> record timestamp`` (s)."""
    sent: dict[str, float] = {}
    futures = []
    start = time.monotonic()
    i = 0
    while i < len(plan):
        due = min(len(plan), int((time.monotonic() - start) * rate) + 1)
        while i < due:
            future, sent[plan[i].sender] = await send_inbound(producer, topics, plan[i])
            futures.append(future)
            i += 1
        bar.to(i)
        await asyncio.sleep(_TICK_S)  # pacing the offered load, not waiting for a condition
    await asyncio.gather(*futures)
    return sent


async def _wait(
    endpoints: Endpoints,
    since: float,
    n: int,
    timeout: float,
    bar: Progress,
    block: int = BLOCK,
) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        accepted, _ = await ledger_count(endpoints.database, block, since - 1, step="provider_%")
        bar.to(accepted)
        if accepted >= n:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(_POLL_S)
