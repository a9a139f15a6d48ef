"""The client commands against real servers: ledger ranges, replay's exit code, explain by
address, and ``flows reload`` through the running API."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import orjson
import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from orchestrator.cli import main
from orchestrator.engine.model import CustomerState
from orchestrator.events import AuditRecord
from orchestrator.ledger.store import LedgerStore
from orchestrator.settings import Settings
from orchestrator.state import keys
from tests.integration.helpers import Pipeline

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TOKEN = "operator-secret"

GREET = """
spec_version: 1
id: greet
version: 1
stage: support
owner: qa
priority: 70
trigger: {type: message, match: any_word, words: [hi, order]}
steps:
  - {id: hi, type: send, purpose: service, template: Hello!}
"""


pytestmark = pytest.mark.usefixtures("restore_logging")


def _record(n: int, step: str, outcome: str, minutes: int, **fields: object) -> AuditRecord:
    doc: dict[str, object] = {
        "record_id": f"r{n}",
        "occurred_at": T0 + timedelta(minutes=minutes),
        "step": step,
        "outcome": outcome,
        "channel": "sms",
        **fields,
    }
    return AuditRecord.model_validate(doc)


def _inbound(n: int, customer: str, text: str, minutes: int) -> AuditRecord:
    return _record(
        n,
        "inbound_received",
        "accepted",
        minutes,
        customer_id=customer,
        address=f"+1555000{n:04d}",
        event_id=f"SM{n}",
        detail={"text": text, "to": "+15559990000"},
    )


@pytest.fixture
async def ledger(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ledger with two customers' records over an hour, named by CONTINUUM_DATABASE_URL."""
    records = [
        _inbound(1, "c1", "where is my order", 0),
        _record(2, "decision", "flow_matched", 0, customer_id="c1", flow_id="order-status"),
        _record(3, "decision", "policy_blocked", 10, customer_id="c1", flow_id="order-status"),
        _inbound(4, "c2", "hi there", 20),
        _record(5, "decision", "policy_blocked", 30, customer_id="c2", flow_id="help"),
        _record(6, "status_changed", "delivered", 40, customer_id="c2", channel="whatsapp"),
        _record(7, "decision", "policy_blocked", 70, customer_id="c2", flow_id="help"),
    ]
    pool = await asyncpg.create_pool(settings.database, min_size=1, max_size=1)
    store = LedgerStore(pool)
    await store.migrate()
    await store.insert(records)
    await pool.close()
    monkeypatch.setenv("CONTINUUM_DATABASE_URL", settings.database)
    monkeypatch.setenv("CONTINUUM_FLOWS_DIR", str(REPO / "flows"))


async def _cli(*argv: str) -> int:
    """``continuum ARGV`` in this process (its own event loop, in a thread)."""
    return await asyncio.to_thread(main, list(argv))


def _ids(out: str) -> list[str]:
    return [json.loads(line)["record_id"] for line in out.splitlines()]


async def test_ledger_query_by_time_range_with_filters(
    ledger: None, capsys: pytest.CaptureFixture[str]
) -> None:
    hour = ["--since", T0.isoformat(), "--until", (T0 + timedelta(hours=1)).isoformat()]
    assert await _cli("ledger", "query", *hour, "--format", "jsonl") == 0
    assert _ids(capsys.readouterr().out) == ["r1", "r2", "r3", "r4", "r5", "r6"]
    blocked = ["--step", "decision", "--outcome", "policy_blocked"]
    assert await _cli("ledger", "query", *hour, *blocked, "--format", "jsonl") == 0
    assert _ids(capsys.readouterr().out) == ["r3", "r5"]
    assert await _cli("ledger", "query", *hour, "--flow", "help", "--format", "jsonl") == 0
    assert _ids(capsys.readouterr().out) == ["r5"]
    assert await _cli("ledger", "query", *hour, "--channel", "whatsapp", "--format", "jsonl") == 0
    assert _ids(capsys.readouterr().out) == ["r6"]
    # a customer and filters together; and no --until: up to now
    since = ["--since", T0.isoformat()]
    assert (
        await _cli("ledger", "query", "--customer", "c2", *since, *blocked, "--format", "jsonl")
        == 0
    )
    assert _ids(capsys.readouterr().out) == ["r5", "r7"]
    assert await _cli("ledger", "query", *since, "--limit", "2", "--format", "jsonl") == 0
    assert _ids(capsys.readouterr().out) == ["r1", "r2"]
    # an address as a person types it finds the records of its canonical spelling
    assert await _cli("ledger", "query", "--address", "+1 (555) 000-0001", "--format", "jsonl") == 0
    assert _ids(capsys.readouterr().out) == ["r1", "r2", "r3"]  # c1, whose number it is


async def test_replay_exit_code_says_whether_decisions_would_change(
    ledger: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    candidate = tmp_path / "candidate"
    shutil.copytree(REPO / "flows", candidate)
    (candidate / "greet.yaml").write_text(GREET, encoding="utf-8")
    since = ["--since", T0.isoformat()]
    assert await _cli("flows", "replay", *since, "--flows", str(candidate)) == 0
    assert "2 messages replayed, 2 decisions would change" in capsys.readouterr().out
    assert await _cli("flows", "replay", *since, "--flows", str(candidate), "--exit-code") == 1
    capsys.readouterr()
    same = ["--flows", str(REPO / "flows"), "--exit-code"]
    assert await _cli("flows", "replay", *since, *same) == 0
    assert "0 decisions would change" in capsys.readouterr().out


async def test_policy_explain_finds_the_customer_by_address(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    redis = Redis.from_url(settings.redis)
    state = CustomerState("c42", identities={"sms": "+14155550100"})
    await redis.set(keys.customer_key("c42"), orjson.dumps(state.to_dict()))
    await redis.set(keys.identity_key("sms", "+14155550100"), "c42")
    await redis.aclose()
    monkeypatch.setenv("CONTINUUM_REDIS_URL", settings.redis)
    monkeypatch.setenv("CONTINUUM_FLOWS_DIR", str(REPO / "flows"))
    explain = ["policy", "explain", "--purpose", "marketing", "--channel", "sms"]
    assert await _cli(*explain, "--address", "+14155550100", "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["customer"], doc["to"]) == ("c42", "+14155550100")
    assert doc["verdict"]["rule"] == "consent.marketing"
    # typed as a person types it, the number is the same customer's
    assert await _cli(*explain, "--address", "+1 (415) 555-0100", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out)["customer"] == "c42"

    assert await _cli(*explain, "--address", "+14155550199") == 2
    err = capsys.readouterr().err
    assert err == "continuum: no customer has the address '+14155550199' on any channel\n"

    # one number, two customers (sms and whatsapp): the asked channel decides, else refuse
    redis = Redis.from_url(settings.redis)
    for cid, channel in (("c7", "sms"), ("c8", "whatsapp")):
        doc = CustomerState(cid, identities={channel: "+14155550177"}).to_dict()
        await redis.set(keys.customer_key(cid), orjson.dumps(doc))
        await redis.set(keys.identity_key(channel, "+14155550177"), cid)
    await redis.aclose()
    shared = ["--address", "+14155550177", "--purpose", "service", "--format", "json"]
    assert await _cli("policy", "explain", *shared, "--channel", "whatsapp") == 0
    assert json.loads(capsys.readouterr().out)["customer"] == "c8"
    assert await _cli("policy", "explain", *shared, "--channel", "email") == 2
    err = capsys.readouterr().err
    assert "belongs to several customers: c7 (sms), c8 (whatsapp); use --customer" in err


@pytest.mark.timeout(120)
async def test_flows_reload_asks_the_running_service(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = settings.api.model_copy(update={"operator_token": SecretStr(TOKEN)})
    async with Pipeline.running(settings.model_copy(update={"api": api})) as pipe:
        monkeypatch.setenv("CONTINUUM_API__PORT", str(pipe.service.settings.api.port))
        monkeypatch.setenv("CONTINUUM_API__OPERATOR_TOKEN", TOKEN)
        assert await _cli("flows", "reload") == 0
        out = capsys.readouterr().out
        assert out.startswith("flows reloaded: ")
        assert "order-status v" in out

        monkeypatch.setenv("CONTINUUM_API__OPERATOR_TOKEN", "wrong")
        assert await _cli("flows", "reload") == 2
        # the service runs in this process: its own log line about the refusal is not the CLI's
        err = [
            line for line in capsys.readouterr().err.splitlines() if line.startswith("continuum")
        ]
        assert len(err) == 1
        assert " answered 401: " in err[0]

    monkeypatch.delenv("CONTINUUM_API__OPERATOR_TOKEN")
    assert await _cli("flows", "reload") == 2
    assert "needs CONTINUUM_API__OPERATOR_TOKEN" in capsys.readouterr().err
