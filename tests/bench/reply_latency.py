"""Reply latency: inbound SMS produced by a plain Kafka client until its reply is at the sandbox.

Runs against a service that is already up (``make run``)::

    .venv/bin/python -m tests.bench.reply_latency --count 50

Each message comes from a distinct number, is produced with aiokafka in the ARCHITECTURE.md
envelope, and is timed until the sandbox lists a reply to that number. Prints p50/p95/max.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import httpx
from aiokafka import AIOKafkaProducer

from tests.integration.helpers import sms_event


async def main(args: argparse.Namespace) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, acks="all")
    await producer.start()
    run = uuid.uuid4().hex[:6]
    latencies: list[float] = []
    async with httpx.AsyncClient(timeout=5) as http:
        for i in range(args.count):
            sender = f"+1999{int(run, 16) % 1000:03d}{i:04d}"
            started = time.perf_counter()
            await producer.send_and_wait(
                args.topic,
                sms_event(f"BENCH{run}{i}", sender, "Where is my order?"),
                key=sender.encode(),
            )
            deadline = started + args.timeout
            while time.perf_counter() < deadline:
                messages = (await http.get(f"{args.sandbox}/_sandbox/messages")).json()
                if any(m["to"] == sender for m in messages):
                    latencies.append(time.perf_counter() - started)
                    break
                await asyncio.sleep(0.005)
            else:
                print(f"no reply to {sender} within {args.timeout}s")
    await producer.stop()
    if latencies:
        ordered = sorted(latencies)
        p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
        print(
            f"replies {len(latencies)}/{args.count}  p50 {statistics.median(ordered) * 1000:.0f} ms"
            f"  p95 {p95 * 1000:.0f} ms  max {ordered[-1] * 1000:.0f} ms"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="continuum.inbound.sms")
    parser.add_argument("--sandbox", default="http://127.0.0.1:8090")
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=10.0)
    asyncio.run(main(parser.parse_args()))
