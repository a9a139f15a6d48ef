"""``continuum policy explain``: what the contact policy would decide for one send, and why.

Loads the policy and one customer's stored state, runs every rule on a candidate send and prints
each rule's finding, then the verdict::

    $ continuum policy explain --customer c42 --purpose marketing --channel sms
    customer c42: marketing on sms to +14155550100 at 2026-11-22T10:00:00+00:00
    ✓ consent.marketing  marketing consent granted (flow:welcome.opt_in at ...)
    ...
    verdict: allow  (consent.marketing: marketing consent granted ...)

:func:`explain` and :func:`render_text`/:func:`render_json` are pure; only :func:`run` reads
Redis and the clock.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson

from orchestrator.commands import parse_time
from orchestrator.commands.registry import Command
from orchestrator.engine.model import CustomerState
from orchestrator.errors import ConfigError, FlowError
from orchestrator.media import MEDIA
from orchestrator.settings import Settings

if TYPE_CHECKING:
    from orchestrator.policy.evaluate import Verdict
    from orchestrator.policy.spec import Policy

EXIT_USAGE = 2


@dataclass(frozen=True, slots=True)
class Explanation:
    """The policy's answer for one candidate send; ``verdict`` is ``None`` when unreachable."""

    customer_id: str
    purpose: str
    channel: str
    to: str | None
    at: datetime
    verdict: Verdict | None


def explain(
    policy: Policy,
    state: CustomerState,
    channel: str,
    purpose: str,
    now: datetime,
    text: str = "",
    template: str = "",
) -> Explanation:
    """Run every rule on a ``purpose`` message to the customer's ``channel`` address at ``now``.

    Example::

        explain(Policy(), CustomerState("c1", identities={"sms": "+14155550100"}),
                "sms", "transactional", now).verdict.action   # "allow"
    """
    from orchestrator.policy.evaluate import Candidate, Customer, evaluate
    from orchestrator.policy.history import Sent, text_hash

    to = state.identities.get(channel)
    if to is None:
        return Explanation(state.customer_id, purpose, channel, None, now, None)
    who = Customer(
        state.consent,
        state.identities,
        state.timezone,
        state.last_inbound,
        [Sent.from_dict(e) for e in state.sent_log],
    )
    cand = Candidate(channel, to, purpose, template, text_hash(text))
    return Explanation(
        state.customer_id, purpose, channel, to, now, evaluate(policy, who, cand, now)
    )


def render_text(e: Explanation) -> str:
    """One line per finding (``✓``/``✗ rule  reason``), then the verdict."""
    head = f"customer {e.customer_id}: {e.purpose} on {e.channel}"
    head += f" to {e.to}" if e.to else ""
    lines = [f"{head} at {e.at.isoformat()}"]
    v = e.verdict
    if v is None:
        lines.append(f"✗ reachable  the customer has no {e.channel} address")
        lines.append(f"verdict: blocked: unreachable  (no {e.channel} address)")
        return "\n".join(lines)
    lines.extend(f"{'✓' if f.ok else '✗'} {f.rule}  {f.reason}" for f in v.findings)
    lines.append(f"verdict: {_action(v, e.channel)}  ({v.rule}: {v.reason})")
    return "\n".join(lines)


def render_json(e: Explanation) -> str:
    """The same as one JSON document."""
    v = e.verdict
    doc = {
        "customer": e.customer_id,
        "purpose": e.purpose,
        "channel": e.channel,
        "to": e.to,
        "at": e.at.isoformat(),
        "findings": [
            {"rule": f.rule, "ok": f.ok, "reason": f.reason} for f in (v.findings if v else ())
        ],
        "verdict": (
            {
                "action": v.action,
                "rule": v.rule,
                "reason": v.reason,
                "channel": v.channel,
                "not_before": v.not_before.isoformat() if v.not_before else None,
                "template_name": v.template_name,
            }
            if v
            else {
                "action": "blocked",
                "rule": "unreachable",
                "reason": f"no {e.channel} address",
                "channel": e.channel,
                "not_before": None,
                "template_name": None,
            }
        ),
    }
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()


def _action(v: Verdict, asked: str) -> str:
    match v.action:
        case "defer":
            word = f"defer until {v.not_before.isoformat() if v.not_before else '?'}"
        case "template":
            word = f"template {v.template_name}"
        case _:
            word = v.action
    return word if v.channel == asked or v.action == "drop" else f"{word} on {v.channel}"


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """``policy explain``: exit 2 for an unknown customer or a bad policy file, else 0."""
    from orchestrator.flowfiles import load_policy

    try:
        policy = load_policy(settings.flows_dir, settings.policy_file)
    except FlowError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_USAGE
    customer = args.customer or await _find(settings, args.address, args.channel)
    state = await _load(settings.redis, customer)
    if state is None:
        print(f"continuum: no stored state for customer {customer!r}", file=sys.stderr)
        return EXIT_USAGE
    now = args.at or datetime.now(UTC)
    found = explain(policy, state, args.channel, args.purpose, now, args.text, args.template)
    print(render_json(found) if args.format == "json" else render_text(found))
    return 0


async def _find(settings: Settings, address: str, channel: str) -> str:
    """The customer who owns ``address``: on ``channel`` first, then on any channel."""
    from redis.exceptions import RedisError

    from orchestrator.addresses import normalize_lookup
    from orchestrator.redis_client import make_redis
    from orchestrator.state.store import RedisStateStore

    redis = make_redis(settings.redis, socket_connect_timeout=5)
    order = [channel, *(c for c in MEDIA if c != channel)]
    share = settings.identity.share_phone_across_media
    try:
        owners = await RedisStateStore(redis, share_phone_across_media=share).owners(
            [(c, normalize_lookup(c, address)) for c in order]
        )
    except (RedisError, OSError) as exc:
        raise ConfigError(f"cannot reach Redis: {exc}") from None
    finally:
        await redis.aclose()
    found = [(c, o) for c, o in zip(order, owners, strict=True) if o is not None]
    if not found:
        raise ConfigError(f"no customer has the address {address!r} on any channel")
    if found[0][0] == channel or len({cid for _, cid in found}) == 1:
        return found[0][1]
    listed = ", ".join(f"{cid} ({c})" for c, cid in found)
    raise ConfigError(f"{address!r} belongs to several customers: {listed}; use --customer")


async def _load(url: str, customer_id: str) -> CustomerState | None:
    from redis.exceptions import RedisError

    from orchestrator.redis_client import make_redis
    from orchestrator.state.store import RedisStateStore

    redis = make_redis(url, socket_connect_timeout=5)
    try:
        states = await RedisStateStore(redis).load_states([customer_id])
    except (RedisError, OSError) as exc:
        raise ConfigError(f"cannot reach Redis: {exc}") from None
    finally:
        await redis.aclose()
    state = states[customer_id]
    # load_states gives a new customer an empty state: nothing stored means nothing to explain
    return None if state == CustomerState(customer_id) else state


def _explain_arguments(e: argparse.ArgumentParser) -> None:
    who = e.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer", help="a customer id")
    who.add_argument("--address", help="an address of the customer (phone, email...)")
    e.add_argument("--purpose", required=True, choices=("transactional", "service", "marketing"))
    e.add_argument("--channel", required=True, choices=MEDIA)
    e.add_argument("--at", type=parse_time, help="ISO 8601 time (default: now, UTC)")
    e.add_argument("--text", default="", help="the message text (for the loop guard)")
    e.add_argument(
        "--template", default="", metavar="FLOW.STEP", help="the sending step (dedupe, WhatsApp)"
    )
    e.add_argument("--format", choices=("text", "json"), default="text")


COMMANDS = (
    Command(
        "policy",
        "inspect the central contact policy (flows/policy.yaml)",
        ("continuum policy explain --address +15551230001 --purpose marketing --channel sms",),
        order=90,
    ),
    Command(
        "policy explain",
        "what the policy would decide for one send to a stored customer, and why",
        (
            "continuum policy explain --address +15551230001 --purpose marketing --channel sms",
            "continuum policy explain --customer cus_0a7b --purpose service --channel sms "
            "--at 2026-12-01T23:00",
        ),
        order=1,
        run=run,
        add_arguments=_explain_arguments,
        client=True,
    ),
)
