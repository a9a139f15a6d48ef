"""The dispatcher alone, through the sandbox with injected faults: sends per second per process,
and the delay that retries add to the messages that did not fail.

``message.send`` commands (SMS, transactional, each to its own number) are produced straight
onto the outbound topic; only the ``dispatcher`` (with its deferred-release loop) and the
``ledger`` workers run. The sandbox fails 1% of the requests with a 5xx and 1% with a 429
(``Retry-After: 1``) through its fault API (docs/sandbox.md). Three phases:

1. **burst**: every command at once, faults on: sends/s = commands / (last first arrival at the
   sandbox - first produce), divided by the dispatcher processes; and what the burst cost in
   CPU: a dispatcher's per send (its ceiling with a core of its own is the inverse), and the
   whole machine's per send (every process of the deployment: its ceiling on this machine is
   the cores over it);
2. **clean**: ``rate`` per second for ``seconds``, no faults: each command's latency, from its
   record's timestamp to its first accepted request at the sandbox;
3. **faulted**: the same load with the faults on. The messages that did not fail are those
   with no ``provider_attempt`` ledger row; the delay retries add is their p99 latency minus
   the clean phase's p99.

Every command must end as exactly one accepted request (the faults are retryable, and three
attempts make a loss at 1% each one in a million): ``lost`` and ``duplicate_sends`` say
otherwise.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaProducer

from orchestrator.bench.cost import Snapshot, cost_fields
from orchestrator.bench.harness import Deployment, Endpoints
from orchestrator.bench.latency import percentile
from orchestrator.bench.load import address, end_offsets, fast_producer
from orchestrator.bench.options import BenchOptions
from orchestrator.bench.progress import Progress
from orchestrator.bench.provider import Requests, sandbox_requests, sms_prefix
from orchestrator.bench.report import Result, timed_out
from orchestrator.topics import Topics

ROLES = ("dispatcher", "ledger")
BLOCKS = {"burst": 5, "clean": 6, "faulted": 7}
"""Each phase's address block (``load.address``), so their requests are told apart."""
FAULT_RATE = 0.01
RETRY_AFTER_S = 1
FAULTS = (
    {"provider": "twilio", "kind": "error", "status": 503, "probability": FAULT_RATE},
    {
        "provider": "twilio",
        "kind": "throttle",
        "retry_after": RETRY_AFTER_S,
        "probability": FAULT_RATE,
    },
)
"""What the sandbox injects in the burst and faulted phases (``POST /_sandbox/faults``)."""
NO_CALLBACKS = {"CONTINUUM_DISPATCH__STATUS_CALLBACKS": "false"}
"""No API runs here to take the sandbox's status callbacks: the sends ask for none (else the
sandbox's callback backlog fills with posts that fail, and its Messages API waits for room)."""
_POLL_S = 0.25
_TICK_S = 0.005


@dataclass(frozen=True, slots=True)
class Command:
    """One ``message.send`` of the plan."""

    message_id: str
    to: str


def plan(run: str, phase: str, count: int) -> list[Command]:
    """``count`` commands of one phase, each to its own number."""
    block = BLOCKS[phase]
    return [Command(f"bench-{run}-{phase}-{i}", address("sms", i, block)) for i in range(count)]


def encode(cmd: Command, at: float) -> bytes:
    """The ``message.send`` CloudEvent of ``cmd``, as the decision worker writes it."""
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": cmd.message_id,
            "source": "/continuum/bench",
            "type": "message.send",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)),
            "datacontenttype": "application/json",
            "data": {
                "message_id": cmd.message_id,
                "customer_id": f"cus_{cmd.to[1:]}",
                "channel": "sms",
                "to": cmd.to,
                "text": "Your code is 123456",
                "purpose": "transactional",
            },
        }
    )


async def run(endpoints: Endpoints, options: BenchOptions, run_id: str, bar: Progress) -> Result:
    """The three phases; one result with the throughput, the latencies and the accounting."""
    prefix = f"bench{run_id}d."
    burst = plan(run_id, "burst", options.dispatch_messages)
    paced_n = max(1, int(options.dispatch_rate * options.seconds))
    clean, faulted = plan(run_id, "clean", paced_n), plan(run_id, "faulted", paced_n)
    result = Result("dispatch", count=len(burst) + 2 * paced_n)
    async with Deployment.start(
        endpoints, prefix, ROLES, options.work, api=False, env=NO_CALLBACKS
    ) as dep:
        producer = fast_producer(endpoints.kafka)
        await producer.start()
        processes = sum(1 for p in dep.procs if p.role == "dispatcher")
        try:
            await _faults(endpoints.sandbox_url, on=True)
            before = await Snapshot.take(endpoints.redis, endpoints.database, dep.pids())
            bar.reset("dispatch burst", len(burst))
            first = time.time()
            await _produce(producer, dep.topics, burst)
            burst_done = await _wait(endpoints, "burst", first, len(burst), options, bar)
            took = time.time() - first
            after = await Snapshot.take(endpoints.redis, endpoints.database, dep.pids())
            burst_req = await sandbox_requests(endpoints.sandbox_url, BLOCKS["burst"], first - 1)
            await _faults(endpoints.sandbox_url, on=False)
            clean_lat, clean_req, clean_done = await _paced_phase(
                endpoints, producer, dep.topics, clean, "clean", options, bar
            )
            await _faults(endpoints.sandbox_url, on=True)
            faulted_lat, faulted_req, faulted_done = await _paced_phase(
                endpoints, producer, dep.topics, faulted, "faulted", options, bar
            )
            await _faults(endpoints.sandbox_url, on=False)
        finally:
            await producer.stop()
        retried = await _retried(endpoints.database, BLOCKS["faulted"], first - 1)
        records = await end_offsets(endpoints.kafka, dep.topics.all())
    spans = sorted(burst_req.first_at.values())
    span = (spans[-1] - first) if spans else None
    sends_s = len(burst_req.first_at) / span if span and burst_done else None
    ok_lat = sorted(ms for to, ms in faulted_lat.items() if to not in retried)
    clean_sorted = sorted(clean_lat.values())
    clean_p99 = percentile(clean_sorted, paced_n, 0.99)
    ok_p99 = percentile(ok_lat, len(ok_lat), 0.99) if ok_lat else None
    arrived = burst_req.count + clean_req.count + faulted_req.count
    result.fields.update(
        processes=processes,
        messages=len(burst),
        sends_s=sends_s,
        sends_s_per_process=sends_s / processes if sends_s and processes else None,
        **_capacity(before, after, len(burst), processes),
        paced_msg_s=options.dispatch_rate,
        seconds=options.seconds,
        clean_p50_ms=percentile(clean_sorted, paced_n, 0.50),
        clean_p99_ms=clean_p99,
        faulted_ok_p50_ms=percentile(ok_lat, len(ok_lat), 0.50) if ok_lat else None,
        faulted_ok_p99_ms=ok_p99,
        retry_added_p99_ms=ok_p99 - clean_p99 if ok_p99 is not None and clean_p99 else None,
        retried=len(retried),
        accounted=arrived,
        lost=result.count - arrived,
        duplicate_sends=burst_req.duplicates + clean_req.duplicates + faulted_req.duplicates,
        **cost_fields(
            before,
            after,
            messages=len(burst),
            customers=len(burst),
            records=records,
            seconds=took,
            pids=dep.pids(),
        ),
    )
    if not (burst_done and clean_done and faulted_done):
        result.status = "timed_out"
        result.note = timed_out(
            options.timeout_s, f"{arrived} of {result.count} commands reached the sandbox"
        )
    return result


def _capacity(before: Snapshot, after: Snapshot, sends: int, processes: int) -> dict[str, Any]:
    """What the burst cost in CPU, and what that makes the ceilings: one dispatcher process with
    a core of its own (sends per dispatcher CPU second), and this machine, every process of the
    deployment included (its cores over the machine's CPU per send)."""
    dispatcher = after.cpu.get("dispatcher", 0.0) - before.cpu.get("dispatcher", 0.0)
    machine = after.machine_cpu - before.machine_cpu
    per_send = dispatcher / max(sends / processes, 1) if processes else 0.0  # one process
    per_machine = machine / max(sends, 1)
    return {
        "dispatcher_cpu_ms_per_send": per_send * 1000 if per_send else None,
        "sends_s_per_dispatcher_core": 1 / per_send if per_send else None,
        "machine_cpu_ms_per_send": per_machine * 1000 if per_machine else None,
        "machine_cores": os.cpu_count(),
        "machine_ceiling_sends_s": (os.cpu_count() or 1) / per_machine if per_machine else None,
    }


async def _paced_phase(
    endpoints: Endpoints,
    producer: AIOKafkaProducer,
    topics: Topics,
    commands: Sequence[Command],
    phase: str,
    options: BenchOptions,
    bar: Progress,
) -> tuple[dict[str, float], Requests, bool]:
    """Offer ``commands`` at the paced rate; each number's latency (ms) to its first arrival."""
    bar.reset(f"dispatch {phase}", len(commands))
    first = time.time()
    sent = await _paced(producer, topics, commands, options.dispatch_rate)
    done = await _wait(endpoints, phase, first, len(commands), options, bar)
    requests = await sandbox_requests(endpoints.sandbox_url, BLOCKS[phase], first - 1)
    latencies = {to: (at - sent[to]) * 1000 for to, at in requests.first_at.items() if to in sent}
    return latencies, requests, done


async def _produce(producer: AIOKafkaProducer, topics: Topics, commands: Sequence[Command]) -> None:
    futures = []
    at = time.time()
    for cmd in commands:
        futures.append(
            await producer.send(
                topics.outbound("sms"),
                encode(cmd, at),
                key=cmd.to.encode(),
                timestamp_ms=int(at * 1000),
            )
        )
    await producer.flush()
    await asyncio.gather(*futures)


async def _paced(
    producer: AIOKafkaProducer, topics: Topics, commands: Sequence[Command], rate: int
) -> dict[str, float]:
    """Send at ``rate`` per second; ``number -> record timestamp`` (s)."""
    sent: dict[str, float] = {}
    futures = []
    start = time.monotonic()
    i = 0
    while i < len(commands):
        due = min(len(commands), int((time.monotonic() - start) * rate) + 1)
        while i < due:
            at = time.time()
            ts = int(at * 1000)
            cmd = commands[i]
            futures.append(
                await producer.send(
                    topics.outbound("sms"), encode(cmd, at), key=cmd.to.encode(), timestamp_ms=ts
                )
            )
            sent[cmd.to] = ts / 1000
            i += 1
        await asyncio.sleep(_TICK_S)  # pacing the offered load, not waiting for a condition
    await asyncio.gather(*futures)
    return sent


async def _wait(
    endpoints: Endpoints, phase: str, since: float, n: int, options: BenchOptions, bar: Progress
) -> bool:
    """Poll the sandbox until ``n`` numbers of ``phase`` arrived; False at the deadline."""
    deadline = time.monotonic() + options.timeout_s
    while True:
        got = (await sandbox_requests(endpoints.sandbox_url, BLOCKS[phase], since - 1)).count
        bar.to(got)
        if got >= n:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(_POLL_S)


async def _faults(sandbox_url: str, *, on: bool) -> None:
    """Turn the sandbox's injected faults on (the two of :data:`FAULTS`) or clear them."""
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=30) as http:
        (await http.delete("/_sandbox/faults")).raise_for_status()
        (await http.post("/_sandbox/faults/seed", json={"seed": 11})).raise_for_status()
        for fault in FAULTS if on else ():
            (await http.post("/_sandbox/faults", json=fault)).raise_for_status()


async def _retried(database: str, block: int, since: float) -> set[str]:
    """The numbers of ``block`` with a ``provider_attempt`` row (a retried send)."""
    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetch(
            "SELECT DISTINCT address FROM ledger WHERE step = 'provider_attempt'"
            " AND address LIKE $1 AND recorded_at >= $2",
            sms_prefix(block) + "%",
            datetime.fromtimestamp(since, UTC),
        )
    finally:
        await conn.close()
    return {str(r[0]) for r in rows}
