"""docs/asyncapi.yaml: current, complete, self-consistent, and true to what the code produces."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import yaml

from orchestrator import asyncapi
from orchestrator.state.timers import TimerSpec
from orchestrator.topics import Topics
from orchestrator.workers.scheduler import _schedule_event, _timer_event

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DOC_PATH.read_text(encoding="utf-8"))
    return loaded


def test_the_checked_in_document_is_current() -> None:
    assert DOC_PATH.read_text(encoding="utf-8") == asyncapi.render(), (
        "stale: run python -m orchestrator.asyncapi --write docs/asyncapi.yaml"
    )


def test_check_mode_says_when_a_file_is_stale(tmp_path: Path) -> None:
    stale = tmp_path / "asyncapi.yaml"
    stale.write_text("asyncapi: 3.0.0\n")
    assert asyncapi.main(["--check", str(stale)]) == 1
    assert asyncapi.main(["--write", str(stale)]) == 0
    assert asyncapi.main(["--check", str(stale)]) == 0


def test_every_topic_is_a_channel_once(doc: dict[str, Any]) -> None:
    assert doc["asyncapi"] == "3.0.0"
    addresses = [ch["address"] for ch in doc["channels"].values()]
    assert sorted(addresses) == sorted(Topics().all())


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_reference_resolves_and_operations_use_their_channels_messages(
    doc: dict[str, Any],
) -> None:
    for ref in _refs(doc):
        _resolve(doc, ref)
    for name, op in doc["operations"].items():
        assert op["action"] in ("send", "receive"), name
        channel = op["channel"]["$ref"]
        for message in op["messages"]:
            assert message["$ref"].startswith(channel + "/messages/"), name


def _validate(doc: dict[str, Any], message: str, event: dict[str, Any]) -> None:
    payload = doc["components"]["messages"][message]["payload"]
    jsonschema.validate(event, {**payload, "components": doc["components"]})


def test_what_the_code_produces_fits_the_payload_schemas(doc: dict[str, Any]) -> None:
    due = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
    timer = TimerSpec("tmr_1", "cus_1", due, "ask_timeout", flow_id="order-status", step="ask")
    _validate(doc, "timerFired", orjson.loads(_timer_event(timer).to_bytes()))
    tick = _schedule_event("renewal", due, due.isoformat(), "cus_1")
    _validate(doc, "scheduleFired", orjson.loads(tick.to_bytes()))
    received = {
        "specversion": "1.0",
        "id": "SM1",
        "source": "/channels/sms/twilio",
        "type": "message.received",
        "data": {"channel": "sms", "from": "+15551230001", "text": "hi"},
    }
    _validate(doc, "messageReceived", received)
    business = {
        "specversion": "1.0",
        "id": "o1",
        "source": "/orders",
        "type": "event.order.delayed",
        "data": {"customer": {"channel": "sms", "address": "+15551230001"}, "order_id": "1"},
    }
    _validate(doc, "businessEvent", business)


def test_payload_schemas_refuse_what_the_workers_refuse(doc: dict[str, Any]) -> None:
    wrong_type = {"specversion": "1.0", "id": "x", "source": "/s", "type": "timer.fired"}
    with pytest.raises(jsonschema.ValidationError):
        _validate(doc, "messageReceived", wrong_type)
    no_sender = {**wrong_type, "type": "message.received", "data": {"channel": "sms"}}
    with pytest.raises(jsonschema.ValidationError):
        _validate(doc, "messageReceived", no_sender)
