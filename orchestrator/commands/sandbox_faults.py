"""``continuum sandbox fault add|list|clear``: make the running sandbox provider misbehave.

Each talks to the sandbox's admin API (``/_sandbox/faults``, see docs/sandbox.md) where the
settings put it (``CONTINUUM_SANDBOX__HOST``/``PORT``), or where the ``continuum up`` running
in this folder started it. A rule that cannot be valid, or a sandbox that does not answer,
exits 2 with one line saying why.

Example::

    continuum sandbox fault add --provider twilio --kind throttle --retry-after 2 --count 3
"""

from __future__ import annotations

import argparse
from typing import Any

from orchestrator.commands import positive_int
from orchestrator.commands.registry import Command
from orchestrator.errors import ConfigError
from orchestrator.settings import Settings

TIMEOUT_S = 5.0
"""How long a command waits for the sandbox's answer."""
_RULE_OPTIONS = (
    "id",
    "provider",
    "kind",
    "probability",
    "count",
    "seconds",
    "status",
    "retry_after",
    "code",
    "message",
    "at",
)


def sandbox_url(settings: Settings) -> str:
    """Where this machine reaches the sandbox: the settings' address when the environment sets
    it, else the one a running ``continuum up`` here wrote, else the default."""
    from orchestrator.commands import addresses

    configured = settings.sandbox
    found = addresses.read(settings)
    if found is not None and found.sandbox and not configured.model_fields_set & {"host", "port"}:
        return found.sandbox.rstrip("/")
    return addresses.client_url(configured.host, configured.port)


def rule_body(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON rule of ``fault add``'s options: only those given, so the sandbox's defaults
    (and its refusal of another kind's parameters) apply."""
    body = {name: getattr(args, name) for name in _RULE_OPTIONS}
    body = {name: value for name, value in body.items() if value is not None}
    match = {name: getattr(args, name) for name in ("to", "text") if getattr(args, name)}
    if match:
        body["match"] = match
    return body


def check_rule(args: argparse.Namespace) -> str | None:
    """The problem with ``fault add``'s rule, as the sandbox would say it, or None."""
    from pydantic import ValidationError

    from channels.sandbox.faults import FaultRule, validation_reason

    try:
        FaultRule.model_validate(rule_body(args))
    except ValidationError as exc:
        return validation_reason(exc)
    return None


async def _call(settings: Settings, method: str, path: str, body: Any = None) -> Any:
    """One admin API call; ConfigError (exit 2) when the sandbox is unreachable or refuses."""
    import httpx

    url = sandbox_url(settings) + path
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as http:
            resp = await http.request(method, url, json=body)
    except httpx.TransportError as exc:
        raise ConfigError(
            f"the sandbox at {url} does not answer ({type(exc).__name__}: {exc}); is "
            "`continuum up` or `continuum sandbox` running, or CONTINUUM_SANDBOX__PORT set?"
        ) from None
    try:
        data = resp.json()
    except ValueError:
        data = None
    if resp.status_code == 404 and not isinstance(data, dict):
        raise ConfigError(f"{url} is not a Continuum sandbox (HTTP 404)")
    if resp.is_error:
        reason = data.get("error") if isinstance(data, dict) else None
        raise ConfigError(f"the sandbox refused: {reason or f'HTTP {resp.status_code}'}")
    return data


def describe_rule(rule: dict[str, Any]) -> str:
    """One line per rule for ``fault list``: id, provider, kind, match, odds, parameters."""
    match = rule.get("match") or {}
    where = " ".join(f"{k}={v!r}" for k, v in match.items()) or "every send"
    count = rule.get("count")
    fired = f"fired {rule.get('fired', 0)}" + (f"/{count}" if count is not None else "")
    common = {"id", "provider", "kind", "match", "probability", "count", "fired", "expired"}
    params = " ".join(f"{k}={v}" for k, v in rule.items() if k not in common)
    parts = [
        str(rule["id"]),
        str(rule["provider"]),
        str(rule["kind"]),
        where,
        f"p={rule.get('probability', 1)}",
        fired,
        *([params] if params else []),
        *(["expired"] if rule.get("expired") else []),
    ]
    return "  ".join(parts)


async def _run_add(settings: Settings, args: argparse.Namespace) -> int:
    rule = await _call(settings, "POST", "/_sandbox/faults", rule_body(args))
    print(f"added {describe_rule(rule)}")
    return 0


async def _run_list(settings: Settings, args: argparse.Namespace) -> int:
    rules = await _call(settings, "GET", "/_sandbox/faults")
    if not rules:
        print("no faults")
    for rule in rules:
        print(describe_rule(rule))
    return 0


async def _run_clear(settings: Settings, args: argparse.Namespace) -> int:
    path = "/_sandbox/faults" + (f"/{args.id}" if args.id else "")
    result = await _call(settings, "DELETE", path)
    print(f"cleared {result.get('deleted', 0)} fault(s)")
    return 0


def _probability(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {value!r}")
    return number


def _add_arguments(p: argparse.ArgumentParser) -> None:
    from channels.sandbox.faults import KINDS, PROVIDERS

    p.add_argument("--provider", required=True, choices=(*PROVIDERS, "*"))
    p.add_argument("--kind", required=True, choices=KINDS)
    p.add_argument("--to", help="only sends to this recipient")
    p.add_argument("--text", help="only sends whose text contains this")
    p.add_argument("--probability", type=_probability, help="chance to fire, 0-1 (default 1)")
    p.add_argument("--count", type=positive_int, help="fire at most N times, then expire")
    p.add_argument("--seconds", type=float, help="latency, timeout, delay_receipt: how long")
    p.add_argument("--status", type=int, help="error: the HTTP status (default 500)")
    p.add_argument("--retry-after", type=int, help="throttle: Retry-After seconds (default 1)")
    p.add_argument("--code", help="reject: the provider's error code (e.g. twilio 21614)")
    p.add_argument("--message", help="error, reject: the provider's error text")
    p.add_argument("--at", choices=("send", "receipt"), help="reject: when (default send)")
    p.add_argument("--id", help="name the rule (default: generated)")


def _clear_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--id", help="clear only this rule (default: every rule)")


COMMANDS = (
    Command(
        "sandbox fault",
        "inject faults into the running sandbox provider: errors, throttling, timeouts, "
        "lost or late receipts, rejections, outages (docs/sandbox.md)",
        ("continuum sandbox fault list",),
        order=10,
    ),
    Command(
        "sandbox fault add",
        "add a fault rule (tried after the rules already held)",
        (
            "continuum sandbox fault add --provider twilio --kind throttle --retry-after 2 "
            "--count 3",
            "continuum sandbox fault add --provider meta --kind reject --at receipt --to +15550001",
        ),
        order=10,
        run=_run_add,
        add_arguments=_add_arguments,
        check=check_rule,
    ),
    Command(
        "sandbox fault list",
        "list the fault rules and how many times each fired",
        ("continuum sandbox fault list",),
        order=20,
        run=_run_list,
    ),
    Command(
        "sandbox fault clear",
        "remove every fault rule, or one",
        ("continuum sandbox fault clear", "continuum sandbox fault clear --id slow-twilio"),
        order=30,
        run=_run_clear,
        add_arguments=_clear_arguments,
    ),
)
