"""Pipeline throughput, black box: N HELP SMS in, N ``message.send`` out, through ``continuum up``.

Starts ``continuum up`` as a child process with every server and port on a free port and its
data in a temporary directory, waits until it is up, then produces ``--count`` HELP
``message.received`` records (one per customer) to ``continuum.inbound.sms`` with plain
aiokafka and counts ``message.send`` records on ``continuum.outbound.sms`` until all are there
(the issue's harness). Prints msg/s from the first produce to the last send command, and how many
the sandbox accepted by then, and the CPU time ``continuum up`` spent (its own process, not the
embedded servers), which a busy shared machine disturbs less than the wall-clock rate::

    .venv/bin/python -m tests.bench.pipeline_throughput --count 5000
    .venv/bin/python -m tests.bench.pipeline_throughput --count 5000 --no-sandbox
    .venv/bin/python -m tests.bench.pipeline_throughput --profile /tmp/up.txt  # py-spy, raw

``--source DIR`` runs another checkout's code (``git archive <commit> | tar -x -C DIR``) with
this virtualenv, for before/after figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from orchestrator.servers import free_port
from tests.integration.helpers import sms_event

INBOUND, OUTBOUND = "continuum.inbound.sms", "continuum.outbound.sms"


Started = tuple[subprocess.Popen[bytes], dict[str, str]]


def start_up(args: argparse.Namespace, data: Path) -> Started:
    ports = {name: free_port() for name in ("kafka", "redis", "postgres", "api", "metrics", "sb")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTINUUM_")}
    env.update(
        {
            "CONTINUUM_DATA_DIR": str(data),
            "CONTINUUM_EMBEDDED__KAFKA_PORT": str(ports["kafka"]),
            "CONTINUUM_EMBEDDED__REDIS_PORT": str(ports["redis"]),
            "CONTINUUM_EMBEDDED__POSTGRES_PORT": str(ports["postgres"]),
            "CONTINUUM_API__PORT": str(ports["api"]),
            "CONTINUUM_METRICS__PORT": str(ports["metrics"]),
            "CONTINUUM_SANDBOX__PORT": str(ports["sb"]),
            "CONTINUUM_SANDBOX__ENABLED": "false" if args.no_sandbox else "true",
            "CONTINUUM_FLOWS_DIR": str((Path(args.source or ".") / "flows").resolve()),
        }
    )
    if args.no_sandbox:  # dispatch fails fast: nothing listens there
        env["CONTINUUM_TWILIO__BASE_URL"] = f"http://127.0.0.1:{free_port()}"
    if args.source:
        env["PYTHONPATH"] = str(Path(args.source).resolve())
    log = (data / "up.log").open("ab")
    command = [sys.executable, "-m", "orchestrator", "up"]
    child = subprocess.Popen(  # in the source's directory: ``-m`` puts the cwd first on the path
        command,
        cwd=args.source or None,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    urls = {
        "kafka": f"127.0.0.1:{ports['kafka']}",
        "sandbox": f"http://127.0.0.1:{ports['sb']}",
        "log": str(data / "up.log"),
    }
    return child, urls


def wait_up(child: subprocess.Popen[bytes], log: str, within_s: float = 180.0) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"continuum up exited:\n{Path(log).read_text()[-3000:]}")
        if "continuum: up in" in Path(log).read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise SystemExit("continuum up did not come up")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux ``/proc``), its children not counted."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(args: argparse.Namespace, urls: dict[str, str], pid: int) -> None:
    run_id = uuid.uuid4().hex[:6]
    consumer = AIOKafkaConsumer(
        OUTBOUND,
        bootstrap_servers=urls["kafka"],
        group_id=f"bench-{run_id}",
        auto_offset_reset="latest",
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    while not consumer.assignment():  # joined, so "latest" is before our first send
        await consumer.getmany(timeout_ms=200)
    producer = AIOKafkaProducer(bootstrap_servers=urls["kafka"], acks="all", linger_ms=5)
    await producer.start()
    senders = [f"+1212{5_000_000 + i:07d}" for i in range(args.count)]  # fresh state each run
    started, cpu_before = time.perf_counter(), cpu_seconds(pid)
    for i, sender in enumerate(senders):
        await producer.send(
            INBOUND, sms_event(f"B{run_id}{i}", sender, "HELP"), key=sender.encode()
        )
    await producer.flush()
    produced_at = time.perf_counter() - started
    seen: set[str] = set()
    deadline = time.monotonic() + args.timeout
    while len(seen) < args.count and time.monotonic() < deadline:
        for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
            for record in records:
                doc = orjson.loads(record.value or b"{}")
                if doc.get("type") == "message.send":
                    seen.add(doc["data"]["to"])
    elapsed, cpu = time.perf_counter() - started, cpu_seconds(pid) - cpu_before
    if len(seen) < args.count:
        print(f"only {len(seen)} of {args.count}: see {urls['log']}", file=sys.stderr)
    accepted = None
    if not args.no_sandbox:
        async with httpx.AsyncClient(timeout=30) as http:
            listed = (await http.get(f"{urls['sandbox']}/_sandbox/messages")).json()
            accepted = sum(1 for m in listed if m["to"] in set(senders))
    await producer.stop()
    await consumer.stop()
    print(
        f"{len(seen & set(senders))}/{args.count} message.send in {elapsed:.1f}s: "
        f"{len(seen) / elapsed:,.0f} msg/s (produced in {produced_at:.1f}s); "
        f"sandbox accepted {accepted}; continuum up used {cpu:.1f} CPU-s, "
        f"{cpu * 1000 / max(1, len(seen)):.1f} ms per message",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--no-sandbox", action="store_true", help="dispatch fails fast")
    parser.add_argument("--source", help="run this checkout's code instead")
    parser.add_argument("--profile", help="py-spy raw profile of continuum up to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="continuum-bench-") as tmp:
        child, urls = start_up(args, Path(tmp))
        spy = None
        try:
            wait_up(child, urls["log"])
            if args.profile:
                spy_cmd = ["py-spy", "record", "-r", "100", "-f", "raw", "-o", args.profile]
                spy = subprocess.Popen([*spy_cmd, "--pid", str(child.pid)])
            asyncio.run(run(args, urls, child.pid))
        except BaseException:
            print(Path(urls["log"]).read_text(errors="replace")[-4000:], file=sys.stderr)
            raise
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    spy.wait(30)
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


if __name__ == "__main__":
    main()
