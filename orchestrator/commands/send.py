"""``continuum send CHANNEL --from ADDR TEXT``: publish an inbound message like a provider would."""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import UTC, datetime

from orchestrator.addresses import InvalidAddress, normalize
from orchestrator.events import MESSAGE_RECEIVED, CloudEvent
from orchestrator.settings import Settings
from orchestrator.topics import Topics
from orchestrator.workers.publisher import Publisher
from orchestrator.workers.runtime import make_broker


async def send(settings: Settings, args: argparse.Namespace) -> int:
    """Publish and wait for the broker's acknowledgement."""
    try:
        sender = normalize(args.channel, args.sender)
    except InvalidAddress as exc:
        print(f"continuum send: {exc.reason}: --from {exc}", file=sys.stderr)
        return 2
    topics = Topics(settings.kafka.topic_prefix)
    event = CloudEvent(
        specversion="1.0",
        id=args.event_id or f"CLI{uuid.uuid4().hex}",
        source="/cli/continuum-send",
        type=MESSAGE_RECEIVED,
        time=datetime.now(UTC),
        data={
            "channel": args.channel,
            "from": sender,
            "to": args.recipient or settings.twilio.from_number,
            "text": args.text,
            "attachments": [],
        },
    )
    broker = make_broker(settings, "continuum-cli")
    await broker.connect()
    try:
        await Publisher(broker, topics, "/cli").publish_confirmed(
            topics.inbound(args.channel), event, sender
        )
    finally:
        await broker.stop()
    print(f"published {event.id} to {topics.inbound(args.channel)} (key {sender})")
    return 0
