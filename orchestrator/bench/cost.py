"""What a scenario cost: counters of the servers and of each worker process, before and after.

- Redis: the sum of ``calls`` in ``INFO commandstats`` (commands, whether pipelined or not) and
  ``used_memory`` from ``INFO memory``;
- Kafka: records on every topic of the scenario's prefix (:func:`load.end_offsets`);
- PostgreSQL: ledger rows;
- each worker process: CPU seconds (utime + stime) and resident memory from ``/proc``;
- the machine: CPU seconds busy on every core (``/proc/stat``: all but idle and iowait), so a
  scenario can say what the whole deployment (workers, sandbox, broker, Redis, PostgreSQL)
  spent per message, and what this machine's cores can carry at that cost.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from redis.asyncio import Redis

_HZ = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used (user + system), 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _HZ


def machine_busy_seconds() -> float:
    """CPU seconds every core of this machine has spent busy since boot (0 without /proc)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except FileNotFoundError:
        return 0.0
    ticks = [int(f) for f in fields[:8]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / _HZ


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB, 0 when it is gone."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return pages * _PAGE / 1e6


async def redis_counters(url: str) -> tuple[int, int]:
    """(commands run so far, bytes of memory used) of the Redis at ``url``."""
    client = Redis.from_url(url)
    try:
        stats: dict[str, Any] = await client.info("commandstats")
        memory: dict[str, Any] = await client.info("memory")
    finally:
        await client.aclose()
    calls = sum(int(v["calls"]) for k, v in stats.items() if k.startswith("cmdstat_"))
    # INFO itself is counted; the two calls above are subtracted by the caller's delta anyway.
    return calls, int(memory["used_memory"])


async def ledger_rows(database: str) -> int:
    """Rows in the ledger (0 before the ledger worker first created its table)."""
    conn = await asyncpg.connect(database)
    try:
        exists = await conn.fetchval("SELECT to_regclass('ledger') IS NOT NULL")
        return int(await conn.fetchval("SELECT count(*) FROM ledger")) if exists else 0
    finally:
        await conn.close()


@dataclass
class Snapshot:
    """The counters at one moment."""

    redis_calls: int
    redis_memory: int
    ledger_rows: int
    cpu: dict[str, float] = field(default_factory=dict)
    rss: dict[str, float] = field(default_factory=dict)
    machine_cpu: float = 0.0

    @classmethod
    async def take(cls, redis: str, database: str, pids: dict[str, int]) -> Snapshot:
        calls, memory = await redis_counters(redis)
        rows = await ledger_rows(database)
        cpu = {role: cpu_seconds(pid) for role, pid in pids.items()}
        rss = {role: rss_mb(pid) for role, pid in pids.items()}
        return cls(calls, memory, rows, cpu, rss, machine_busy_seconds())


def cost_fields(
    before: Snapshot,
    after: Snapshot,
    *,
    messages: int,
    customers: int,
    records: int,
    seconds: float,
    pids: dict[str, int],
) -> dict[str, Any]:
    """The cost fields of a scenario from two snapshots around it."""
    per = max(messages, 1)
    return {
        # The two INFO calls of the `after` snapshot are not the workers' work.
        "redis_commands_per_msg": (after.redis_calls - before.redis_calls - 2) / per,
        "kafka_records_per_inbound": records / per,
        "ledger_rows_s": (after.ledger_rows - before.ledger_rows) / max(seconds, 1e-9),
        "cpu_s_per_1000_msgs": {
            role: (after.cpu.get(role, 0.0) - before.cpu.get(role, 0.0)) * 1000 / per
            for role in pids
        },
        # taken with the `after` snapshot: the processes may have stopped since
        "rss_mb": {role: after.rss.get(role) or rss_mb(pid) for role, pid in pids.items()},
        "redis_bytes_per_customer": _per_customer(
            after.redis_memory - before.redis_memory, customers
        ),
    }


def _per_customer(grown: int, customers: int) -> float | None:
    """Bytes Redis grew by per customer; None when it shrank meanwhile (keys of earlier scenarios
    expired, the allocator gave memory back): the run says nothing about a customer's cost then."""
    return grown / max(customers, 1) if grown >= 0 else None
