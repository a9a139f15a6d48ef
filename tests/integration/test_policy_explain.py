"""``continuum policy explain`` against a real Redis: the state the workers stored, explained."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from redis import Redis

from orchestrator.cli import main
from orchestrator.engine.model import CustomerState
from orchestrator.state import keys

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def stored(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Redis]:
    """A flushed Redis named by CONTINUUM_REDIS_URL, with the shipped flows folder."""
    monkeypatch.setenv("CONTINUUM_REDIS_URL", redis_url)
    monkeypatch.setenv("CONTINUUM_FLOWS_DIR", str(REPO / "flows"))
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    client = Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_explains_a_stored_customer(stored: Redis, capsys: pytest.CaptureFixture[str]) -> None:
    state = CustomerState(
        "c42",
        identities={"sms": "+14155550100"},
        consent={"sms": {"marketing": {"status": "granted", "source": "t", "at": "t"}}},
    )
    stored.set(keys.customer_key("c42"), orjson.dumps(state.to_dict()))
    argv = "policy explain --customer c42 --purpose marketing --channel sms"
    assert main([*argv.split(), "--at", "2026-11-19T07:00:00Z"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith("verdict: defer until 2026-11-19T09:00:00-08:00")
    assert main([*argv.split(), "--at", "2026-11-18T20:00:00Z", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"]["action"] == "allow"
    assert main([*argv.split()[:-1], "email"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("verdict: blocked: unreachable")


def test_unknown_customer_exits_2(stored: Redis, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["policy", "explain", "--customer", "nobody", "--purpose", "service", "--channel", "sms"]
    assert main(argv) == 2
    assert "no stored state for customer 'nobody'" in capsys.readouterr().err
