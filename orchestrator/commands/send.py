"""``continuum send CHANNEL --from ADDR TEXT``: publish an inbound message like a provider would."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.commands.registry import Command
from orchestrator.errors import ConfigError, FlowError
from orchestrator.media import MEDIA
from orchestrator.settings import Settings
from orchestrator.topics import Topics

SEND_TIMEOUT_S = 15.0
"""How long ``continuum send`` waits for the broker to take the message."""


async def send(settings: Settings, args: argparse.Namespace) -> int:
    """Publish and wait for the broker's acknowledgement."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    from orchestrator.addresses import InvalidAddress, normalize
    from orchestrator.events import CONTENT_TYPE, MESSAGE_RECEIVED, new_event
    from orchestrator.flowfiles import load_policy
    from orchestrator.policy.quiet_hours import describe_held
    from orchestrator.policy.quiet_hours import zones_for as quiet_zones

    try:
        sender = normalize(args.channel, args.sender)
    except InvalidAddress as exc:
        raise ConfigError(f"{exc.reason}: --from {exc}") from None
    topics = Topics(settings.kafka.topic_prefix)
    data = {  # as a provider's webhook would publish it (the inbound worker validates it)
        "channel": args.channel,
        "from": sender,
        "to": args.recipient or settings.twilio.from_number,
        "text": args.text,
        "attachments": [],
    }
    event_id = args.event_id or f"CLI{uuid.uuid4().hex}"
    event = new_event(
        MESSAGE_RECEIVED, event_id, "/cli/continuum-send", data, time=datetime.now(UTC)
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="continuum-cli",
        acks="all",
        enable_idempotence=False,  # Tansu refuses the idempotent producer; ids dedupe instead
    )
    try:
        with _quiet("aiokafka"):  # its own ERROR lines would repeat ours
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await producer.start()
                await producer.send_and_wait(
                    topics.inbound(args.channel),
                    event.to_bytes(),
                    key=sender.encode(),
                    headers=[("content-type", CONTENT_TYPE.encode())],
                )
    except (KafkaError, OSError, TimeoutError) as exc:
        reason = str(exc) or f"no answer within {SEND_TIMEOUT_S:.0f}s"
        raise ConfigError(
            f"cannot reach the broker at {settings.kafka_bootstrap} ({reason}); "
            "is `continuum up` running in this folder, or CONTINUUM_KAFKA__BOOTSTRAP_SERVERS set?"
        ) from None
    finally:
        await producer.stop()  # also after a failed start, or aiokafka warns it was not closed
    print(f"published {event.id} to {topics.inbound(args.channel)} (key {sender})")
    with contextlib.suppress(FlowError):  # B8: say when quiet hours hold the answer back
        policy = load_policy(Path(settings.flows_dir), settings.policy_file)
        zones = quiet_zones(policy, None, sender)
        quiet = describe_held(policy, datetime.now(UTC), zones)
        if quiet:
            print(quiet)
    return 0


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("channel", choices=MEDIA)
    p.add_argument("text", help="the message text")
    p.add_argument("--from", dest="sender", required=True, help="the customer's address")
    p.add_argument("--to", dest="recipient", default=None, help="our address they wrote to")
    p.add_argument(
        "--id",
        dest="event_id",
        default=None,
        help="the provider message id (default: a new one); reuse it to test dedupe",
    )


COMMANDS = (
    Command(
        "send",
        "publish an inbound message, as if a customer wrote in",
        (
            'continuum send sms --from +15551230001 "where is my order"',
            'continuum send sms --from +15551230005 --id SMdup1 "order?"',
        ),
        order=50,
        run=send,
        add_arguments=_arguments,
        client=True,
    ),
)
