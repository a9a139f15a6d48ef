"""Inbound load with a plain aiokafka producer, and what came out on the outbound topics.

The producer is the fastest aiokafka offers (large batches, no await per record), so the
pipeline, not the load, is what a scenario measures. Every inbound message is a
``message.received`` CloudEvent with a run-unique id; its reply's ``message.send`` carries that
id as ``in_reply_to``, which is how :class:`Outbound` accounts for every message.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from orchestrator.media import MEDIA
from orchestrator.topics import Topics

HELP_TEXT = "HELP"
"""What every bench customer writes: flows/help.yaml answers it on every channel, every time."""
OUR_NUMBER = "+15559990000"


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message a customer sends."""

    event_id: str
    channel: str
    sender: str


def address(channel: str, customer: int, block: int) -> str:
    """A stable address per channel and customer; ``block`` keeps scenarios apart."""
    if channel in ("sms", "whatsapp"):
        return f"+1415{block}{customer:06d}"  # one digit of block, six of customer
    if channel == "email":
        return f"c{block}-{customer}@bench.example.com"
    return f"web-{block}-{customer}"


ANSWERED = tuple(m for m in MEDIA if m != "webhook")
"""The media the bench loads: every medium but ``webhook``, whose provider (``generic``) is
off unless ``CONTINUUM_CHANNELS__WEBHOOK`` enables it, so its messages would never be replied
to."""


def inbound_plan(
    run: str, count: int, customers: int, block: int, channels: Iterable[str] = ANSWERED
) -> list[Inbound]:
    """``count`` messages over ``customers`` customers, each customer on one channel."""
    chans = tuple(channels)
    plan = []
    for i in range(count):
        customer = i % customers
        channel = chans[customer % len(chans)]
        plan.append(Inbound(f"bench-{run}-{block}-{i}", channel, address(channel, customer, block)))
    return plan


def encode(msg: Inbound, at: float) -> bytes:
    """The CloudEvent of ``msg`` as ARCHITECTURE.md's wire contract shows it."""
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": msg.event_id,
            "source": f"/channels/{msg.channel}/bench",
            "type": "message.received",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)),
            "datacontenttype": "application/json",
            "data": {
                "channel": msg.channel,
                "from": msg.sender,
                "to": OUR_NUMBER,
                "text": HELP_TEXT,
                "attachments": [],
                "locale": "en-US",
            },
        }
    )


def fast_producer(bootstrap: str) -> AIOKafkaProducer:
    """An aiokafka producer tuned for throughput (acks from the leader, big batches)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks=1,
        linger_ms=5,
        max_batch_size=512 * 1024,
        enable_idempotence=False,
    )


async def send_inbound(
    producer: AIOKafkaProducer, topics: Topics, msg: Inbound
) -> tuple[asyncio.Future[Any], float]:
    """Hand ``msg`` to the producer, stamped now; its delivery future and timestamp (s)."""
    at = time.time()
    ts = int(at * 1000)
    future = await producer.send(
        topics.inbound(msg.channel), encode(msg, at), key=msg.sender.encode(), timestamp_ms=ts
    )
    return future, ts / 1000


async def produce(
    producer: AIOKafkaProducer, topics: Topics, plan: Iterable[Inbound]
) -> dict[str, float]:
    """Send every message without awaiting each; return ``event_id -> timestamp`` (s)."""
    sent: dict[str, float] = {}
    futures = []
    for msg in plan:
        future, sent[msg.event_id] = await send_inbound(producer, topics, msg)
        futures.append(future)
    await producer.flush()
    await asyncio.gather(*futures)
    return sent


@dataclass
class Outbound:
    """Accounts for the inbound messages of one run from what the pipeline wrote.

    A message is answered when a ``message.send`` names it in ``in_reply_to``, and explained
    when the decision worker wrote a ``policy_*`` decision audit record about it instead (the
    policy held or dropped the reply: the second HELP within 10 minutes is
    ``dedupe.template``).
    """

    run: str
    replies: Counter[str] = field(default_factory=Counter)
    message_ids: Counter[str] = field(default_factory=Counter)
    notes: dict[str, str] = field(default_factory=dict)
    last_ts: float = 0.0
    other: int = 0

    @property
    def answered(self) -> int:
        return len(self.replies)

    @property
    def sends(self) -> int:
        return sum(self.message_ids.values())

    def seen(self) -> int:
        """Distinct inbound ids answered or explained so far."""
        return len(self.replies.keys() | self.notes.keys())

    def accounted(self, expected: Iterable[str]) -> int:
        """Inbound ids answered or explained."""
        return sum(1 for e in expected if e in self.replies or e in self.notes)

    def add(self, value: bytes, timestamp_ms: int, *, audit: bool = False) -> None:
        """Count one outbound (or, with ``audit``, audit) record; other runs' are ignored."""
        try:
            data = orjson.loads(value).get("data") or {}
        except (orjson.JSONDecodeError, AttributeError):
            self.other += 1
            return
        mine = f"bench-{self.run}-"
        if audit:
            event_id = _inbound_id(data.get("event_id"))
            outcome = str(data.get("outcome"))
            if data.get("step") != "decision" or not event_id.startswith(mine):
                return
            # Only the policy explains a missing reply (policy_blocked, policy_deferred...):
            # flow_ended is written for answered messages too, before their send is confirmed.
            if outcome.startswith("policy_"):
                rule = str(data.get("reason") or "").split(":", 1)[0]
                self.notes.setdefault(event_id, f"{outcome} {rule}".strip())
                self.last_ts = max(self.last_ts, timestamp_ms / 1000)
            return
        reply_to = _inbound_id(data.get("in_reply_to"))
        if not reply_to.startswith(mine):
            self.other += 1
            return
        self.replies[reply_to] += 1
        self.message_ids[str(data.get("message_id"))] += 1
        self.last_ts = max(self.last_ts, timestamp_ms / 1000)

    def duplicates(self) -> int:
        """``message.send`` records beyond the first of the same message id."""
        return sum(n - 1 for n in self.message_ids.values() if n > 1)

    def unanswered(self) -> Counter[str]:
        """Why messages got no ``message.send``: decision outcome codes and their counts."""
        return Counter(code for e, code in self.notes.items() if e not in self.replies)


def _inbound_id(value: object) -> str:
    """The producer's event id from the pipeline's ``<channel>:<id>`` form."""
    text = str(value or "")
    return text.partition(":")[2] if ":" in text else text


async def follow(
    consumer: AIOKafkaConsumer, outbound: Outbound, audit_topic: str, stop: asyncio.Event
) -> None:
    """Read assigned partitions into ``outbound`` until ``stop`` is set."""
    while not stop.is_set():
        batches = await consumer.getmany(timeout_ms=200, max_records=5_000)
        for tp, records in batches.items():
            is_audit = tp.topic == audit_topic
            for record in records:
                outbound.add(record.value, record.timestamp, audit=is_audit)


async def reader(bootstrap: str, topic_names: Iterable[str]) -> AIOKafkaConsumer:
    """A group-less consumer assigned every partition of ``topic_names``, from the start."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    consumer.assign(await partitions(consumer, topic_names))
    return consumer


async def partitions(consumer: AIOKafkaConsumer, topic_names: Iterable[str]) -> list[Any]:
    """Every partition of the named topics, from the broker's metadata."""
    found = []
    for topic in topic_names:
        parts = consumer.partitions_for_topic(topic)
        if parts is None:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        found += [TopicPartition(topic, p) for p in sorted(parts)]
    return found


async def end_offsets(bootstrap: str, topic_names: Iterable[str], timeout: float = 30.0) -> int:
    """The number of records now on ``topic_names``, all partitions together.

    Tansu answers ``end_offsets`` with the last batch's first offset + 1 (KAFKA_NOTES.md), so
    the last batch of each partition is read and its highest offset taken instead.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = await partitions(consumer, topic_names)
        if not tps:
            return 0
        consumer.assign(tps)
        ends: dict[Any, int] = await consumer.end_offsets(tps)
        todo = {tp for tp, end in ends.items() if end > 0}
        for tp in todo:
            consumer.seek(tp, ends[tp] - 1)
        deadline = asyncio.get_running_loop().time() + timeout
        while todo and asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(*todo, timeout_ms=500)
            for tp, records in batches.items():
                if records:
                    ends[tp] = max(ends[tp], records[-1].offset + 1)
                    todo.discard(tp)
        return sum(ends.values())
    finally:
        await consumer.stop()
