"""``continuum dispatch resend --unknown``: re-send, on an operator's decision, the sends whose
outcome stayed unknown (see docs/delivery.md, "Unknown outcomes").

The sends listed are those of the index of unknown sends (:mod:`orchestrator.state.unknown_sends`)
whose outcome was recorded between ``--since`` and ``--until`` and whose send ledger entry is
still ``unknown``. ``--dry-run`` lists them. Otherwise, after a confirmation (``--yes``, or a
``y`` typed on a terminal; without a terminal the command refuses, exit 2), each is published
again as ``<id>.r1`` with ``resendof`` (:mod:`orchestrator.delivery.resend`), an
``operator_resend`` ledger row is written, and it leaves the index.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from orchestrator.commands import parse_time
from orchestrator.commands.registry import Command
from orchestrator.errors import ConfigError
from orchestrator.settings import Settings

if TYPE_CHECKING:
    from orchestrator.state.unknown_sends import UnknownSend

EXIT_REFUSED = 2


async def resend(settings: Settings, args: argparse.Namespace) -> int:
    """List, confirm and re-send the unknown sends of the window."""
    from redis.exceptions import RedisError

    from orchestrator.redis_client import make_redis

    redis = make_redis(settings.redis, socket_connect_timeout=5)
    try:
        sends = await _still_unknown(redis, args.since, args.until)
        _print(sends)
        if args.dry_run or not sends:
            return 0
        if not args.yes:
            if not sys.stdin.isatty():
                print(
                    "continuum: not re-sending without confirmation: give --yes "
                    "(or run on a terminal)",
                    file=sys.stderr,
                )
                return EXIT_REFUSED
            question = f"re-send these {len(sends)} messages? [y/N] "
            answer = await asyncio.to_thread(input, question)
            if answer.strip().lower() not in ("y", "yes"):
                print("nothing re-sent")
                return 0
        await _resend(settings, redis, sends)
    except (RedisError, OSError) as exc:
        raise ConfigError(f"cannot reach Redis: {exc}") from None
    finally:
        await redis.aclose()
    print(f"re-sent {len(sends)} messages")
    return 0


async def _still_unknown(redis: Any, since: datetime, until: datetime | None) -> list[UnknownSend]:
    """The indexed sends of the window whose send ledger entry is still ``unknown``."""
    from orchestrator.delivery.resend import still_unknown
    from orchestrator.state import keys
    from orchestrator.state.codec import load_entry
    from orchestrator.state.unknown_sends import UnknownSends

    sends = await UnknownSends(redis).open(since, until)
    if not sends:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for s in sends:
            pipe.get(keys.send_key(s.message_id))
        docs = await pipe.execute()
    entries = [load_entry(doc) if doc else None for doc in docs]
    return [s for s, ok in zip(sends, still_unknown(entries), strict=True) if ok]


def _print(sends: list[UnknownSend]) -> None:
    if not sends:
        print("no send is still unknown in that window")
        return
    print("message_id\tcustomer_id\tchannel\tprovider\trecorded_at")
    for s in sends:
        recorded = s.recorded_at.isoformat(timespec="seconds")
        print(f"{s.message_id}\t{s.customer_id}\t{s.channel}\t{s.provider}\t{recorded}")


async def _resend(settings: Settings, redis: Any, sends: list[UnknownSend]) -> None:
    """Publish each re-send and its ledger row, confirmed, then drop them from the index."""
    import orjson

    from orchestrator.delivery.resend import RESEND_OF, resend_event
    from orchestrator.events import CloudEvent, MessageSend, parse_data
    from orchestrator.ledger.records import audit
    from orchestrator.state.unknown_sends import UnknownSends
    from orchestrator.topics import Topics
    from orchestrator.workers.publisher import Publisher
    from orchestrator.workers.runtime import make_broker
    from orchestrator.workers.send_guard import command_fields
    from orchestrator.workers.wakeup import Bell, bell_channel

    topics = Topics(settings.kafka.topic_prefix)
    broker = make_broker(settings, "continuum-cli")
    bell = Bell(redis, bell_channel(settings.kafka.topic_prefix))
    now = datetime.now(UTC)
    try:
        await broker.start()
        pub = Publisher(broker, topics, "/cli/continuum-dispatch", bell)
        for s in sends:
            event = CloudEvent.model_validate(resend_event(orjson.loads(s.value), now))
            cmd = parse_data(event, MessageSend)
            await pub.publish(topics.outbound(s.channel), event, s.customer_id)
            await pub.audit(
                audit(
                    "operator_resend",
                    "resent",
                    identity=(s.message_id,),
                    at=now,
                    **command_fields(cmd),
                    provider=s.provider,
                    reason=f"re-sent by an operator as {cmd.message_id}: its outcome stayed "
                    "unknown",
                    detail={RESEND_OF: s.message_id},
                )
            )
        await pub.flush()
    except OSError as exc:
        raise ConfigError(f"cannot reach the broker at {settings.kafka_bootstrap}: {exc}") from None
    finally:
        await broker.stop()
        await bell.close()
    await UnknownSends(redis).forget([s.message_id for s in sends])


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--unknown",
        action="store_true",
        required=True,
        help="the sends whose outcome stayed unknown (the only kind re-sent)",
    )
    p.add_argument(
        "--since", type=parse_time, required=True, help="ISO 8601 time the outcome was recorded"
    )
    p.add_argument("--until", type=parse_time, help="ISO 8601 time, inclusive")
    p.add_argument("--dry-run", action="store_true", help="list them, re-send nothing")
    p.add_argument("--yes", action="store_true", help="re-send without asking")


COMMANDS = (
    Command(
        "dispatch",
        "operate on outbound sends",
        ("continuum dispatch resend --unknown --since 2026-12-01T08:00 --dry-run",),
        order=75,
    ),
    Command(
        "dispatch resend",
        "re-send, once, the sends whose outcome no provider could confirm",
        (
            "continuum dispatch resend --unknown --since 2026-12-01T08:00 --dry-run",
            "continuum dispatch resend --unknown --since 2026-12-01T08:00 --until "
            "2026-12-01T09:00 --yes",
        ),
        order=1,
        run=resend,
        add_arguments=_arguments,
        client=True,
    ),
)
