"""``continuum send CHANNEL --from ADDR TEXT``: publish an inbound message like a provider would."""

from __future__ import annotations

import argparse
import contextlib
import uuid
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.errors import FlowError
from orchestrator.events import MESSAGE_RECEIVED, CloudEvent
from orchestrator.policy.loader import load_policy
from orchestrator.policy.quiet_hours import describe_held
from orchestrator.policy.quiet_hours import zones_for as quiet_zones
from orchestrator.settings import Settings
from orchestrator.topics import Topics
from orchestrator.workers.publisher import Publisher
from orchestrator.workers.runtime import make_broker


async def send(settings: Settings, args: argparse.Namespace) -> int:
    """Publish and wait for the broker's acknowledgement."""
    topics = Topics(settings.kafka.topic_prefix)
    event = CloudEvent(
        specversion="1.0",
        id=args.event_id or f"CLI{uuid.uuid4().hex}",
        source="/cli/continuum-send",
        type=MESSAGE_RECEIVED,
        time=datetime.now(UTC),
        data={
            "channel": args.channel,
            "from": args.sender,
            "to": args.recipient or settings.twilio.from_number,
            "text": args.text,
            "attachments": [],
        },
    )
    broker = make_broker(settings, "continuum-cli")
    await broker.connect()
    try:
        await Publisher(broker, topics, "/cli").publish_confirmed(
            topics.inbound(args.channel), event, args.sender
        )
    finally:
        await broker.stop()
    print(f"published {event.id} to {topics.inbound(args.channel)} (key {args.sender})")
    with contextlib.suppress(FlowError):  # B8: say when quiet hours hold the answer back
        policy = load_policy(Path(settings.flows_dir))
        zones = quiet_zones(policy, None, args.sender)
        quiet = describe_held(policy, datetime.now(UTC), zones)
        if quiet:
            print(quiet)
    return 0
