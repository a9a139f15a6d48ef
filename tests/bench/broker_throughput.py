"""Throughput of the embedded broker in each storage mode: produce N records with aiokafka
(acks=all, linger 2 ms, as the workers do), then consume them in a group and commit.

    .venv/bin/python -m tests.bench.broker_throughput --count 20000
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from orchestrator.servers import free_port, start_kafka


async def _run(bootstrap: str, count: int, size: int) -> tuple[float, float]:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=2, enable_idempotence=False
    )
    await producer.start()
    value = b"x" * size
    started = time.perf_counter()
    for i in range(count):
        await producer.send("bench", value, key=str(i % 64).encode())
    await producer.flush()
    produced = time.perf_counter() - started
    await producer.stop()
    consumer = AIOKafkaConsumer(
        "bench",
        bootstrap_servers=bootstrap,
        group_id="bench",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    got, started = 0, time.perf_counter()
    while got < count:
        batch = await consumer.getmany(timeout_ms=1000, max_records=500)
        got += sum(len(records) for records in batch.values())
        await consumer.commit()
    consumed = time.perf_counter() - started
    await consumer.stop()
    return count / produced, count / consumed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("memory", "disk"):
            data = Path(tmp) / mode if mode == "disk" else None
            server = start_kafka(free_port(), log_dir=Path(tmp) / "logs", data_dir=data)
            try:
                produce, consume = asyncio.run(_run(server.url, args.count, args.size))
            finally:
                server.stop()
            print(f"{mode:6}  produce {produce:8.0f} rec/s  consume+commit {consume:8.0f} rec/s")


if __name__ == "__main__":
    main()
