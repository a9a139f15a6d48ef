"""``continuum ledger query``: a customer's trail or a time range, as a table, JSONL or CSV."""

from __future__ import annotations

import argparse
import sys

from orchestrator.commands import parse_time, positive_int
from orchestrator.commands.registry import Command
from orchestrator.errors import ConfigError
from orchestrator.media import MEDIA
from orchestrator.settings import Settings


async def query(settings: Settings, args: argparse.Namespace) -> int:
    """Print matching records in order; exit 0 even when there are none."""
    import asyncpg

    from orchestrator.ledger.export import write_records
    from orchestrator.ledger.store import LedgerStore

    try:
        pool = await asyncpg.create_pool(settings.database, min_size=1, max_size=1, timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        raise ConfigError(f"cannot reach the ledger database: {exc}") from None
    try:
        store = LedgerStore(pool)
        await store.migrate()
        records = await store.search(
            customer_id=args.customer,
            address=_canonical(args.address, args.channel),
            since=args.since,
            until=args.until,
            step=args.step,
            outcome=args.outcome,
            flow_id=args.flow,
            channel=args.channel,
            limit=args.limit,
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise ConfigError(f"cannot query the ledger database: {exc}") from None
    finally:
        await pool.close()
    write_records(records, args.format, sys.stdout)
    if args.step == "provider_unknown" and records:
        await _still_unknown(settings, [r.message_id for r in records if r.message_id])
    return 0


async def _still_unknown(settings: Settings, message_ids: list[str]) -> None:
    """Say on stderr how many of the listed unknown sends no receipt or reconciliation has
    resolved since (quietly nothing when Redis cannot be reached)."""
    from redis.exceptions import RedisError

    from orchestrator.redis_client import make_redis
    from orchestrator.state.unknown_sends import UnknownSends

    redis = make_redis(settings.redis, socket_connect_timeout=2)
    try:
        still = await UnknownSends(redis).still_open(list(dict.fromkeys(message_ids)))
    except (RedisError, OSError):
        return
    finally:
        await redis.aclose()
    print(
        f"{sum(still)} of these {len(still)} sends are still unknown; "
        "`continuum dispatch resend --unknown --since T --dry-run` lists them",
        file=sys.stderr,
    )


def _canonical(address: str | None, channel: str | None) -> str | None:
    """The address as the ledger stores it (E.164, lower-case email domain), however typed."""
    from orchestrator.addresses import guess_channel, normalize_lookup

    if address is None:
        return None
    return normalize_lookup(channel or guess_channel(address), address)


def _query_arguments(q: argparse.ArgumentParser) -> None:
    who = q.add_mutually_exclusive_group()
    who.add_argument("--customer", help="a customer id")
    who.add_argument(
        "--address", help="an address (phone, email...): every customer it resolved to"
    )
    q.add_argument(
        "--since",
        type=parse_time,
        help="ISO 8601 time, inclusive (needed without --customer or --address)",
    )
    q.add_argument("--until", type=parse_time, help="ISO 8601 time, exclusive")
    q.add_argument("--step", help="only this step (inbound_received, decision, ...)")
    q.add_argument("--outcome", help="only this outcome (delivered, policy_blocked, ...)")
    q.add_argument("--flow", help="only records of this flow id")
    q.add_argument("--channel", choices=MEDIA, help="only records on this channel")
    q.add_argument("--format", choices=("table", "jsonl", "csv"), default="table")
    q.add_argument("--limit", type=positive_int, default=10_000, help="records at most (10000)")


def _subject(args: argparse.Namespace) -> str | None:
    """A query names a customer, an address or a time range."""
    if args.customer or args.address or args.since:
        return None
    return "give --customer, --address, or a time range (--since)"


COMMANDS = (
    Command(
        "ledger",
        "query the delivery and audit ledger",
        ("continuum ledger query --address +15551230001",),
        order=70,
    ),
    Command(
        "ledger query",
        "print ledger records in order: one customer's trail, or a time range with filters",
        (
            "continuum ledger query --address +15551230001",
            "continuum ledger query --since 2026-12-01T08:00 --step decision --outcome "
            "policy_blocked",
        ),
        order=1,
        run=query,
        add_arguments=_query_arguments,
        client=True,
        check=_subject,
    ),
)
