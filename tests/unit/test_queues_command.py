"""``continuum queues``: the wallboard as an aligned table, the service level read from the
API's ``/metrics``, and one clear line with exit 2 for a missing token, a refusal or no API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from orchestrator.cli import main
from orchestrator.commands.queues import (
    Unreachable,
    fetch,
    render,
    service_levels,
    wait_text,
)
from orchestrator.errors import ConfigError
from orchestrator.metrics import Metrics
from orchestrator.routing.board import Board
from orchestrator.routing.model import Conversation
from orchestrator.routing.spec import Routing
from orchestrator.workers.queue_metrics import observe

pytestmark = pytest.mark.usefixtures("restore_logging")

WALLBOARD = {
    "at": "2026-03-02T10:00:00Z",
    "queues": [
        {
            "queue": "order-support",
            "open": True,
            "waiting": 12,
            "offered": 3,
            "assigned": 40,
            "oldest_wait_s": 185.4,
            "agents": {"available": 2, "busy": 17, "away": 1, "offline": 4},
        },
        {
            "queue": "general",
            "open": False,
            "waiting": 0,
            "offered": 0,
            "assigned": 0,
            "oldest_wait_s": None,
            "agents": {"offline": 3},
        },
    ],
}

TABLE = """\
QUEUE          STATE   WAITING  OFFERED  ASSIGNED  OLDEST  AVAIL  BUSY  AWAY  SERVICE LEVEL
order-support  open         12        3        40   3m05s      2    17     1     75% (9/12)
general        closed        0        0         0       -      0     0     0              -
at 2026-03-02T10:00:00Z"""


def test_the_table_is_aligned_with_a_row_per_queue() -> None:
    text = render(WALLBOARD, {"order-support": (9, 3)})
    assert text == TABLE


def test_no_queues_says_so() -> None:
    assert "(routing.yaml has no queues)" in render({"at": "now", "queues": []})


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0, "0s"), (59.9, "59s"), (60, "1m00s"), (3599, "59m59s"), (3720, "1h02m")],
)
def test_waits_read_like_a_wallboard(seconds: float | None, text: str) -> None:
    assert wait_text(seconds) == text


def test_service_levels_come_from_the_metrics_page() -> None:
    t0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
    routing = Routing.model_validate({"queues": {"billing": {"service_level": {"within": "20s"}}}})
    board = Board(routing)
    board.agent_joined("ana", {}, t0)
    out = board.presence("ana", "available", t0)
    for n, wait in enumerate((5, 10, 25)):
        start = t0 + timedelta(minutes=n)
        out += board.arrive(Conversation(f"c{n}", "billing", "sms", start), start)
        out += board.accept(f"c{n}", "ana", start + timedelta(seconds=wait))
    metrics = Metrics(CollectorRegistry())
    observe(metrics, board, out, t0 + timedelta(minutes=5))
    assert service_levels(generate_latest(metrics.registry).decode()) == {"billing": (2.0, 1.0)}
    assert service_levels("") == {}


def _client(handler: httpx.MockTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=handler)


async def test_fetch_sends_the_token_and_returns_the_document() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200, json=WALLBOARD)

    async with _client(httpx.MockTransport(answer)) as http:
        assert await fetch(http, "http://api", "op") == WALLBOARD
    assert seen == ["Bearer op"]


@pytest.mark.parametrize(
    ("status", "body", "says"),
    [
        (401, {"detail": "a valid token is required"}, "refused the token (HTTP 401"),
        (403, {"detail": "set CONTINUUM_API__OPERATOR_TOKEN"}, "refused the token (HTTP 403"),
        (503, {"detail": "this process has no routing board"}, "answered 503: this process"),
        (200, {"not": "a wallboard"}, "answered 200"),
    ],
)
async def test_fetch_refusals_are_one_line(status: int, body: object, says: str) -> None:
    async with _client(httpx.MockTransport(lambda r: httpx.Response(status, json=body))) as http:
        with pytest.raises(ConfigError) as info:
            await fetch(http, "http://api", "op")
    assert says in str(info.value)
    assert not isinstance(info.value, Unreachable)


async def test_no_api_is_unreachable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with _client(httpx.MockTransport(refuse)) as http:
        with pytest.raises(Unreachable, match="cannot reach the API at http://api/v1/queues"):
            await fetch(http, "http://api", "op")


def test_without_a_token_it_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["queues", "--api", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "--token" in err
    assert "CONTINUUM_API__OPERATOR_TOKEN" in err


def test_no_api_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTINUUM_API__OPERATOR_TOKEN", "op")
    assert main(["queues", "--api", "http://127.0.0.1:9"]) == 2  # the discard port: refused
    assert "cannot reach the API at http://127.0.0.1:9/v1/queues" in capsys.readouterr().err


@pytest.mark.parametrize("watch", ["0", "-1", "soon"])
def test_a_bad_watch_is_a_usage_error(watch: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["queues", "--watch", watch])
    assert info.value.code == 2
    assert "--watch" in capsys.readouterr().err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["queues", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for word in ("--api", "--token", "--watch", "--json", "continuum queues --watch"):
        assert word in out
