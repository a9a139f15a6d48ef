"""kill -9 of the dispatcher during 10,000 sends: nothing twice, nothing unexplained (issue 11).

10,000 ``message.send`` commands for SMS (Twilio) are queued, one per customer and recipient
over four partitions, each text naming its message. A dispatcher process (``continuum worker
--only dispatcher``, the reconciler beside it) sends them to a sandbox process; the ledger sink
runs in a process of its own. Once a few thousand have gone out, the dispatcher is killed with
SIGKILL: no stop, no grace, no flush. A new dispatcher takes over the uncommitted batches.

Then every message must be exactly one of: **delivered** (at the sandbox once, its send ledger
entry ``accepted`` with the sandbox's sid, a ``provider_accepted`` row); **reconciled** (the
killed process's call reached the sandbox but its answer was lost: ``provider_unknown``, then
``provider_reconciled`` ``accepted`` with the sid); or **unknown** (claimed, never at the
sandbox: ``provider_unknown``, the reconciler gave up with ``not_sent``, and ``continuum ledger
query --step provider_unknown`` lists it as still unknown). None reaches the sandbox twice.

The sandbox drops every delivery receipt (a ``drop_receipt`` fault): no API runs here, and
30,000 status callbacks failing against a closed port would only load the machine.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from orchestrator.commands.serve import SANDBOX_READY, WORKERS_READY
from orchestrator.engine.model import CustomerState
from orchestrator.events import MESSAGE_SEND, new_event
from orchestrator.policy import consent
from orchestrator.service import create_topics
from orchestrator.settings import Settings
from orchestrator.state import keys
from orchestrator.state.codec import load_entry
from orchestrator.state.store import RedisStateStore
from orchestrator.topics import Topics
from tests.integration.helpers import eventually
from tests.integration.processes import env_for, spawn
from tests.integration.test_policy_send_time import daytime_zone

SENDS = 10_000
KILL_AFTER = 3_000  # accepted sends (estimated from a sample) before the SIGKILL
SAMPLE = range(0, SENDS, 10)
PARTITIONS = 4
RECONCILE = {  # look 1 s after an unknown outcome, then every second; give up after 5 s
    "CONTINUUM_RECONCILE__DELAY_S": "1",
    "CONTINUUM_RECONCILE__INTERVAL_S": "1",
    "CONTINUUM_RECONCILE__KEEP_S": "5",
    "CONTINUUM_RECONCILE__TICK_S": "0.2",
}
_STEPS = ("provider_accepted", "provider_unknown", "provider_reconciled", "duplicate_send_refused")


def _id(i: int) -> str:
    return f"msg_k9_{i:05d}"


def _phone(i: int) -> str:
    return f"+1555{7_000_000 + i:07d}"


def _text(i: int) -> str:
    return f"Your order {_id(i)} has shipped"


async def _add_customers(settings: Settings) -> None:
    """Customers who may get a message now: consent, a zone where it is daytime."""
    now = datetime.now(UTC)
    granted = {"sms": {"marketing": consent.record("granted", "test", now - timedelta(days=1))}}
    zone = daytime_zone(now)
    states = [
        CustomerState(
            f"cus_k9_{i:05d}", identities={"sms": _phone(i)}, timezone=zone, consent=granted
        )
        for i in range(SENDS)
    ]
    redis = Redis.from_url(settings.redis)
    try:
        await RedisStateStore(redis).save_states(states)
    finally:
        await redis.aclose()


async def _preload(settings: Settings, topics: Topics) -> None:
    """Every send queued on the outbound topic before any dispatcher runs."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(SENDS):
            data = {
                "message_id": _id(i),
                "customer_id": f"cus_k9_{i:05d}",
                "channel": "sms",
                "to": _phone(i),
                "text": _text(i),
                "purpose": "service",
            }
            event = new_event(MESSAGE_SEND, _id(i), "/tests/kill9", data, time=datetime.now(UTC))
            await producer.send(
                topics.outbound("sms"), event.to_bytes(), key=data["customer_id"].encode()
            )
        await producer.flush()
    finally:
        await producer.stop()


def _read(log: Path) -> str:
    return log.read_text() if log.exists() else ""


async def _ready(proc: subprocess.Popen[bytes], log: Path, line: str) -> None:
    async def probe() -> str:
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode}: {_read(log)}")
        return _read(log)

    await eventually(probe, lambda out: line in out, timeout=90)


async def _entries(redis: Redis, ids: list[str]) -> list[dict[str, object] | None]:
    raw = await redis.mget([keys.send_key(m) for m in ids])
    return [load_entry(r) if r is not None else None for r in raw]


@dataclass
class Settled:
    """The send ledger's view of every message, and the reconciler's work left."""

    states: Counter[str] = field(default_factory=Counter)
    looking: int = 0  # unknown sends the reconciler will still ask about

    @property
    def done(self) -> bool:
        terminal = self.states["accepted"] + self.states["unknown"]
        return terminal == SENDS and self.looking == 0


@dataclass
class Explained:
    """How many messages are of each kind, and a few that are explained by none."""

    counts: Counter[str]
    examples: list[tuple[str, dict[str, object] | None, list[tuple[str, str, str | None]]]]


async def _settled(redis: Redis) -> Settled:
    entries = await _entries(redis, [_id(i) for i in range(SENDS)])
    states = Counter(str(e["state"]) if e else "missing" for e in entries)
    looking = await redis.zcard(keys.unknown_due_key()) + await redis.zcard(
        keys.unknown_leased_key()
    )
    return Settled(states, looking)


async def _rows(settings: Settings) -> dict[str, list[tuple[str, str, str | None]]]:
    """Each message's ledger rows of the send path: (step, outcome, external id)."""
    conn = await asyncpg.connect(settings.database)
    try:
        rows = await conn.fetch(
            "SELECT message_id, step, outcome, external_id FROM ledger"
            " WHERE step = ANY($1::text[]) ORDER BY seq",
            list(_STEPS),
        )
    except asyncpg.UndefinedTableError:
        return {}
    finally:
        await conn.close()
    by_id: dict[str, list[tuple[str, str, str | None]]] = {}
    for r in rows:
        by_id.setdefault(r["message_id"], []).append((r["step"], r["outcome"], r["external_id"]))
    return by_id


def _explained(entry: dict[str, object] | None, rows: list[tuple[str, str, str | None]]) -> str:
    """What the ledger says became of one message: delivered, reconciled, unknown, or why not."""
    steps = {(step, outcome) for step, outcome, _ in rows}
    state = entry["state"] if entry else None
    if state == "accepted" and entry and entry.get("code") == "reconciled":
        ok = ("provider_reconciled", "accepted") in steps and (
            "provider_unknown",
            "unknown",
        ) in steps
        return "reconciled" if ok else "reconciled_without_rows"
    if state == "accepted":
        return (
            "delivered"
            if any(s == "provider_accepted" for s, _ in steps)
            else "accepted_without_row"
        )
    if state == "unknown":
        ok = ("provider_unknown", "unknown") in steps and (
            "provider_reconciled",
            "not_sent",
        ) in steps
        return "unknown" if ok else "unknown_without_rows"
    return f"unexplained_{state}"


async def _ledger_query_unknown(settings: Settings, since: datetime) -> tuple[list[str], str]:
    """``continuum ledger query --step provider_unknown``, as an operator runs it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator",
        "ledger",
        "query",
        "--step",
        "provider_unknown",
        "--since",
        since.isoformat(),
        "--format",
        "jsonl",
        "--limit",
        str(SENDS),
        env=env_for(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    listed = [str(orjson.loads(line)["message_id"]) for line in out.splitlines() if line.strip()]
    return listed, err.decode()


@pytest.mark.timeout(280)
async def test_kill9_of_the_dispatcher_during_10000_sends_duplicates_none_and_explains_all(
    settings: Settings, tmp_path: Path
) -> None:
    began, started = datetime.now(UTC) - timedelta(minutes=1), time.monotonic()
    settings = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"partitions": PARTITIONS})}
    )
    topics = Topics(settings.kafka.topic_prefix)
    await _add_customers(settings)
    await create_topics(settings, topics)
    await _preload(settings, topics)

    env = env_for(settings, CONTINUUM_SANDBOX__PORT=str(settings.sandbox.port), **RECONCILE)
    sandbox_url = f"http://127.0.0.1:{settings.sandbox.port}"
    procs: list[subprocess.Popen[bytes]] = []
    redis = Redis.from_url(settings.redis)
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            sandbox = spawn(["sandbox"], env, tmp_path / "sandbox.log")
            procs.append(sandbox)
            await _ready(sandbox, tmp_path / "sandbox.log", SANDBOX_READY)
            fault = {"id": "no-receipts", "provider": "twilio", "kind": "drop_receipt"}
            (await http.post(f"{sandbox_url}/_sandbox/faults", json=fault)).raise_for_status()
            sink = spawn(["worker", "--only", "ledger"], env, tmp_path / "ledger.log")
            procs.append(sink)
            await _ready(sink, tmp_path / "ledger.log", WORKERS_READY)

            first_log, second_log = tmp_path / "dispatcher1.log", tmp_path / "dispatcher2.log"
            first = spawn(["worker", "--only", "dispatcher"], env, first_log)
            procs.append(first)
            sample = [_id(i) for i in SAMPLE]

            async def accepted_estimate() -> int:
                if first.poll() is not None:
                    raise AssertionError(f"exited with {first.returncode}: {_read(first_log)}")
                states = [e["state"] if e else None for e in await _entries(redis, sample)]
                return states.count("accepted") * SENDS // len(sample)

            await eventually(accepted_estimate, lambda n: n >= KILL_AFTER, timeout=150)
            os.kill(first.pid, signal.SIGKILL)
            assert (
                await eventually(
                    lambda: asyncio.sleep(0, first.poll()), lambda c: c is not None, timeout=10
                )
                == -signal.SIGKILL
            )
            at_kill = len(await _sandbox_messages(http, sandbox_url))
            assert KILL_AFTER // 2 <= at_kill < SENDS, f"{at_kill} at the sandbox at the kill"

            second = spawn(["worker", "--only", "dispatcher"], env, second_log)
            procs.append(second)

            async def settled() -> Settled:
                if second.poll() is not None:
                    raise AssertionError(f"exited with {second.returncode}: {_read(second_log)}")
                return await _settled(redis)

            await eventually(settled, lambda s: s.done, timeout=180)
            ids = [_id(i) for i in range(SENDS)]
            entries = dict(zip(ids, await _entries(redis, ids), strict=True))

            async def explained() -> Explained:
                rows = await _rows(settings)
                kinds = {m: _explained(entries[m], rows.get(m, [])) for m in ids}
                odd = [
                    m for m, k in kinds.items() if k not in ("delivered", "reconciled", "unknown")
                ]
                return Explained(
                    Counter(kinds.values()), [(m, entries[m], rows.get(m, [])) for m in odd[:3]]
                )

            kinds = (await eventually(explained, lambda e: not e.examples, timeout=60)).counts
            at_sandbox = await _sandbox_messages(http, sandbox_url)
            listed, listed_err = await _ledger_query_unknown(settings, began)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        await redis.aclose()
    took = time.monotonic() - started
    counts = (
        f"{kinds['delivered']} delivered, {kinds['reconciled']} reconciled, "
        f"{kinds['unknown']} unknown; {at_kill} at the sandbox at the kill; {took:.0f} s"
    )
    print(f"kill -9 during {SENDS} sends: {counts}")

    # Nothing twice: each recipient (one message each) reached the sandbox at most once, with
    # its own message's text.
    by_to = Counter(m["to"] for m in at_sandbox)
    twice = sorted(to for to, n in by_to.items() if n > 1)
    assert twice == [], f"sent more than once: {twice[:20]} ({counts})"
    number = {_phone(i): i for i in range(SENDS)}
    assert all(m["body"] == _text(number[m["to"]]) for m in at_sandbox), counts
    sid = {_id(number[m["to"]]): m["sid"] for m in at_sandbox}

    # Every one explained, and what the ledger says matches what the provider has.
    rows = await _rows(settings)
    kind = {m: _explained(entries[m], rows.get(m, [])) for m in ids}
    known = sorted(m for m, k in kind.items() if k in ("delivered", "reconciled"))
    unknown = sorted(m for m, k in kind.items() if k == "unknown")
    assert sorted(sid) == known, (
        f"at the sandbox but not known: {sorted(set(sid) - set(known))[:20]}; "
        f"known but not at the sandbox: {sorted(set(known) - set(sid))[:20]} ({counts})"
    )
    wrong = [m for m in known if entries[m]["external_ids"] != [sid[m]]]  # type: ignore[index]
    assert wrong == [], f"send ledger sid differs from the sandbox's: {wrong[:20]} ({counts})"
    assert not set(unknown) & set(sid), counts
    assert len(known) + len(unknown) == SENDS, f"neither known nor unknown ({counts})"

    # The operator's listing names every send that was unknown, and says which still are.
    expected = sorted(m for m, k in kind.items() if k in ("reconciled", "unknown"))
    assert sorted(set(listed)) == expected, counts
    if expected:
        assert f"{len(unknown)} of these {len(expected)} sends are still unknown" in listed_err, (
            f"{listed_err!r} ({counts})"
        )
    assert took < 270, counts


async def _sandbox_messages(http: httpx.AsyncClient, url: str) -> list[dict[str, str]]:
    resp = await http.get(f"{url}/_sandbox/messages", params={"provider": "twilio"})
    resp.raise_for_status()
    result: list[dict[str, str]] = resp.json()
    return result
