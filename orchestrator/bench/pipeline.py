"""The decision pipeline: N HELP messages over 4 channels through the inbound and decision
workers, from the first produce to the last ``message.send`` (or decision record).

Each customer writes HELP, which flows/help.yaml answers on every channel; a customer's second
HELP within 10 minutes is dropped by the policy (``dedupe.template``) with a ``decision`` audit
record, so every message is accounted for by a send or by a recorded decision.
"""

from __future__ import annotations

import asyncio
import time

from orchestrator.bench.cost import Snapshot, cost_fields
from orchestrator.bench.harness import Deployment, Endpoints
from orchestrator.bench.load import (
    Outbound,
    end_offsets,
    fast_producer,
    follow,
    inbound_plan,
    produce,
    reader,
)
from orchestrator.bench.options import BenchOptions
from orchestrator.bench.progress import Progress
from orchestrator.bench.report import Result, timed_out
from orchestrator.media import MEDIA

ROLES = ("inbound", "decision")
BLOCK = 1
_POLL_S = 0.25


async def run(
    endpoints: Endpoints,
    options: BenchOptions,
    run_id: str,
    limits: dict[str, float | None],
    bar: Progress,
) -> Result:
    """Produce the messages, wait (with a deadline) until each is accounted for, report."""
    prefix = f"bench{run_id}p."
    plan = inbound_plan(run_id, options.messages, options.customers, BLOCK)
    expected = [m.event_id for m in plan]
    result = Result("pipeline", count=len(plan))
    async with Deployment.start(endpoints, prefix, ROLES, options.work, api=False) as dep:
        topics = dep.topics
        out = Outbound(run_id)
        watched = [*(topics.outbound(c) for c in MEDIA), topics.audit]
        consumer = await reader(endpoints.kafka, watched)
        stop = asyncio.Event()
        follower = asyncio.create_task(follow(consumer, out, topics.audit, stop))
        producer = fast_producer(endpoints.kafka)
        await producer.start()
        try:
            before = await Snapshot.take(endpoints.redis, endpoints.database, dep.pids())
            bar.reset("pipeline", len(plan))
            first = time.time()
            await produce(producer, topics, plan)
            produced = time.time() - first
            done = await _wait(out, expected, options.timeout_s, bar)
            after = await Snapshot.take(endpoints.redis, endpoints.database, dep.pids())
        finally:
            stop.set()
            await follower
            await consumer.stop()
            await producer.stop()
        records = await end_offsets(endpoints.kafka, topics.all())
        took = max(out.last_ts - first, 1e-6)
        accounted = out.accounted(expected)
        msg_s = len(plan) / took if done else None
        result.fields.update(
            messages=len(plan),
            customers=options.customers,
            sends=out.sends,
            answered=out.answered,
            unanswered=dict(out.unanswered()),
            msg_s=msg_s,
            ratio_to_raw_aiokafka=_ratio(msg_s, limits.get("raw_aiokafka_msg_s")),
            ratio_to_faststream_batch=_ratio(msg_s, limits.get("faststream_batch_msg_s")),
            produce_msg_s=len(plan) / max(produced, 1e-6),
            accounted=accounted,
            lost=len(plan) - accounted,
            duplicate_sends=out.duplicates(),
            **cost_fields(
                before,
                after,
                messages=len(plan),
                customers=options.customers,
                records=records,
                seconds=took,
                pids=dep.pids(),
            ),
        )
        if not done:
            result.status = "timed_out"
            result.note = timed_out(
                options.timeout_s, f"{accounted} of {len(plan)} messages accounted for"
            )
    return result


async def _wait(out: Outbound, expected: list[str], timeout: float, bar: Progress) -> bool:
    """Poll until every message is accounted for; False when the deadline passes first."""
    deadline = time.monotonic() + timeout
    while True:
        seen = out.seen()
        bar.to(seen)
        if seen >= len(expected) and out.accounted(expected) == len(expected):
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(_POLL_S)


def _ratio(value: float | None, limit: float | None) -> float | None:
    return value / limit if value and limit else None
