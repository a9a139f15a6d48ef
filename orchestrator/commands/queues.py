"""``continuum queues``: the contact centre's wallboard (``GET /v1/queues``) in the terminal.

One aligned row per queue: open or closed, conversations waiting and offered, the oldest wait,
agents with the queue's skills available / busy / away, and the service level: of the
conversations the API process answered since it started (its ``/metrics``), the share within
the queue's target. ``--watch`` redraws until Ctrl-C; ``--json`` prints the API's document.

Example::

    print(render(wallboard, service_levels({"billing": (9, 1)})))
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from orchestrator.commands.registry import Command
from orchestrator.errors import ConfigError
from orchestrator.settings import Settings

if TYPE_CHECKING:
    import httpx

TIMEOUT_S = 10.0
WATCH_S = 2.0
"""``--watch`` with no number: redraw every 2 seconds."""
_CLEAR = "\x1b[H\x1b[2J"
_COLUMNS = (
    ("QUEUE", "<"),
    ("STATE", "<"),
    ("WAITING", ">"),
    ("OFFERED", ">"),
    ("ASSIGNED", ">"),
    ("OLDEST", ">"),
    ("AVAIL", ">"),
    ("BUSY", ">"),
    ("AWAY", ">"),
    ("SERVICE LEVEL", ">"),
)
Answered = Mapping[str, tuple[float, float]]
"""Queue to conversations answered (within its target, not within it)."""


class Unreachable(ConfigError):
    """Raised when the API does not answer (``--watch`` keeps trying after its first frame)."""


def wait_text(seconds: float | None) -> str:
    """A wait as a wallboard shows it: ``45s``, ``3m05s``, ``1h02m``; ``-`` for none."""
    if seconds is None:
        return "-"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def level_text(answered: tuple[float, float] | None) -> str:
    """``92% (12/13)``: answered within the target, of all answered; ``-`` before the first."""
    if answered is None or sum(answered) == 0:
        return "-"
    yes, no = answered
    return f"{yes / (yes + no):.0%} ({yes:.0f}/{yes + no:.0f})"


def render(wallboard: Mapping[str, Any], answered: Answered | None = None) -> str:
    """The wallboard as an aligned table, one queue a row, with the time it was taken."""
    rows = []
    for q in wallboard.get("queues", []):
        agents = q.get("agents") or {}
        rows.append(
            (
                str(q["queue"]),
                "open" if q.get("open") else "closed",
                str(q.get("waiting", 0)),
                str(q.get("offered", 0)),
                str(q.get("assigned", 0)),
                wait_text(q.get("oldest_wait_s")),
                str(agents.get("available", 0)),
                str(agents.get("busy", 0)),
                str(agents.get("away", 0)),
                level_text((answered or {}).get(str(q["queue"]))),
            )
        )
    header = tuple(name for name, _ in _COLUMNS)
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    lines = [
        "  ".join(
            f"{cell:{align}{width}}"
            for cell, (_, align), width in zip(row, _COLUMNS, widths, strict=True)
        ).rstrip()
        for row in (header, *rows)
    ]
    if not rows:
        lines.append("(routing.yaml has no queues)")
    lines.append(f"at {wallboard.get('at', '?')}")
    return "\n".join(lines)


def service_levels(text: str) -> dict[str, tuple[float, float]]:
    """``continuum_queue_answered_total`` of a ``/metrics`` page, by queue: (yes, no)."""
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "continuum_queue_answered":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                pair = found.setdefault(sample.labels["queue"], [0.0, 0.0])
                pair[sample.labels["within_target"] != "yes"] += sample.value
    return {queue: (yes, no) for queue, (yes, no) in found.items()}


async def fetch(http: httpx.AsyncClient, api: str, token: str) -> dict[str, Any]:
    """The wallboard document; :class:`Unreachable` or :class:`ConfigError` (exit 2)."""
    import httpx

    url = f"{api}/v1/queues"
    try:
        resp = await http.get(url, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        raise Unreachable(
            f"cannot reach the API at {url} ({type(exc).__name__}: {exc}); is `continuum up` "
            "running, or give --api"
        ) from None
    try:
        body = resp.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    if resp.status_code in (401, 403):
        raise ConfigError(
            f"{url} refused the token (HTTP {resp.status_code}: {detail or resp.text[:200]}); "
            "give an operator or agent token with --token or CONTINUUM_API__OPERATOR_TOKEN"
        )
    if resp.status_code != 200 or not isinstance(body, dict) or "queues" not in body:
        raise ConfigError(f"{url} answered {resp.status_code}: {detail or resp.text[:200]}")
    return body


async def answered(http: httpx.AsyncClient, api: str) -> dict[str, tuple[float, float]] | None:
    """The API process's answered counts from its ``/metrics``, or ``None`` if it has none."""
    import httpx

    try:
        resp = await http.get(f"{api}/metrics")
        return service_levels(resp.text) if resp.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


async def run_queues(settings: Settings, args: argparse.Namespace) -> int:
    """Print the wallboard once, or redraw it every ``--watch`` seconds until Ctrl-C (exit 0)."""
    import httpx

    from orchestrator.commands.addresses import api_url

    secret = settings.api.operator_token
    token = args.token or (secret.get_secret_value() if secret is not None else None)
    if not token:
        raise ConfigError(
            "queues needs a token: --token, or CONTINUUM_API__OPERATOR_TOKEN (the operator "
            "token the service was started with; an agent's token works too)"
        )
    api = (args.api or api_url(settings)).rstrip("/")
    async with httpx.AsyncClient(timeout=TIMEOUT_S) as http:
        if args.watch is None:
            print(await _frame(http, api, token, args.json))
            return 0
        return await _watch(http, api, token, args)


async def _frame(http: httpx.AsyncClient, api: str, token: str, as_json: bool) -> str:
    board = await fetch(http, api, token)
    if as_json:
        return orjson.dumps(board).decode()
    return render(board, await answered(http, api))


async def _watch(http: httpx.AsyncClient, api: str, token: str, args: argparse.Namespace) -> int:
    """Redraw until SIGINT; the API going away after the first frame is shown, and retried."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    clear = _CLEAR if sys.stdout.isatty() and not args.json else ""
    last: str | None = None
    try:
        while not stop.is_set():
            try:
                frame = await _frame(http, api, token, args.json)
            except Unreachable as exc:
                if last is None:
                    raise
                frame = f"{last}\n{exc} (at {datetime.now(UTC).astimezone():%H:%M:%S}; retrying)"
            else:
                last = frame
            footer = "" if args.json else f"\nevery {args.watch:g}s; Ctrl-C to stop"
            print(f"{clear}{frame}{footer}", flush=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.watch)
    finally:
        loop.remove_signal_handler(signal.SIGINT)
    return 0


def _seconds(value: str) -> float:
    """A positive number of seconds, for ``--watch``."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not number > 0 or number > 3600:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 3600: {value!r}")
    return number


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--api", help="the API's URL (default: the one `continuum up` started here, or "
        "CONTINUUM_API__HOST/PORT: http://127.0.0.1:8080)",
    )  # fmt: skip
    p.add_argument(
        "--token", help="an operator (or agent) token (default: CONTINUUM_API__OPERATOR_TOKEN)"
    )
    p.add_argument(
        "--watch",
        nargs="?",
        type=_seconds,
        const=WATCH_S,
        metavar="SECONDS",
        help=f"redraw every SECONDS ({WATCH_S:g} if not given) until Ctrl-C",
    )
    p.add_argument(
        "--json", action="store_true", help="print the API's JSON (with --watch: one a line)"
    )


COMMANDS = (
    Command(
        "queues",
        "show the contact-centre queues now: waiting, oldest wait, agents, service level "
        "(GET /v1/queues)",
        (
            "continuum queues",
            "continuum queues --watch 5 --api http://continuum:8080 --token $OPERATOR_TOKEN",
            "continuum queues --json",
        ),
        order=72,
        run=run_queues,
        add_arguments=_arguments,
        client=True,
    ),
)
