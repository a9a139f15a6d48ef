"""After a merge, a record keyed by the old customer id reaches the survivor: a provider's status
receipt for a message sent to A before A was merged into B starts B's status-triggered flow
(real API, sandbox, Kafka, Redis and PostgreSQL)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr

from channels.twilio.signature import compute_signature
from channels.twilio.webhooks import STATUS_PATH
from orchestrator.engine.model import CustomerState
from orchestrator.events import AuditRecord
from orchestrator.redis_client import make_redis
from orchestrator.settings import Settings
from orchestrator.state.store import RedisStateStore
from tests.integration.helpers import Pipeline, customer_of, eventually

TOKEN = "operator-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NUMBER, EMAIL = "+15551230417", "bea@example.com"
REPO_FLOWS = Path(__file__).resolve().parents[2] / "flows"

READ_RECEIPT = """
spec_version: 1
id: read-receipt
version: 1
stage: support
owner: tests
trigger: {type: status, statuses: [read], channels: [sms]}
steps:
  - {id: mark, type: set, add_tags: [read_on_sms]}
"""


@pytest.fixture
async def pipe(settings: Settings, tmp_path: Path) -> AsyncIterator[Pipeline]:
    folder = tmp_path / "flows"
    shutil.copytree(REPO_FLOWS, folder)
    (folder / "read_receipt.yaml").write_text(READ_RECEIPT)
    api = settings.api.model_copy(update={"operator_token": SecretStr(TOKEN)})
    async with Pipeline.running(
        settings.model_copy(update={"api": api, "flows_dir": folder})
    ) as running:
        yield running


async def test_a_status_receipt_for_the_old_id_starts_the_survivors_flow(pipe: Pipeline) -> None:
    api, http = pipe.api_url, pipe.http
    redis = make_redis(pipe.service.settings.redis)
    store = RedisStateStore(redis)

    async def state(cid: str) -> CustomerState:
        return (await store.load_states([cid]))[cid]

    async def trail(cid: str) -> list[AuditRecord]:
        return await pipe.service.ledger.query(customer_id=cid)

    try:
        # customer A writes on sms and is answered; the sandbox reports the reply delivered
        resp = await http.post(
            f"{pipe.sandbox_url}/_sandbox/twilio/inbound",
            json={
                "url": f"{api}/webhooks/twilio/inbound",
                "from": NUMBER,
                "to": "+15559990000",
                "body": "HELP",
            },
        )
        assert resp.json()["status_code"] == 200
        await eventually(
            lambda: pipe.ledger_steps(NUMBER),
            lambda steps: ("status_changed", "delivered") in steps,
            timeout=30,
        )
        a = await customer_of(pipe, NUMBER)
        [reply] = [m for m in await pipe.sandbox_messages() if m["to"] == NUMBER]

        # customer B is known by email; A is merged into B (B, named in the request, survives)
        event = {
            "specversion": "1.0",
            "id": "shop-fwd-1",
            "source": "/shop",
            "type": "event.visited",
            "data": {"customer": {"channel": "email", "address": EMAIL}},
        }
        await pipe.produce(pipe.service.topics.events, orjson.dumps(event))
        b = await customer_of(pipe, EMAIL)
        assert a != b
        merge = await http.post(
            f"{api}/v1/customers/{b}/identities",
            json={"channel": "sms", "address": NUMBER, "merge": True},
            headers=AUTH,
        )
        assert (merge.status_code, merge.json()["merges"]) == (202, a)
        await eventually(lambda: state(a), lambda s: s.merged_into == b, timeout=30)

        # the provider's read receipt for the message sent to A, after the merge
        url = api + STATUS_PATH
        form = {"MessageSid": reply["sid"], "MessageStatus": "read", "AccountSid": "AC" + "0" * 32}
        signature = compute_signature("sandbox-auth-token", url, form)
        posted = await http.post(url, data=form, headers={"X-Twilio-Signature": signature})
        assert posted.status_code == 204

        # it reaches B, whose status flow runs; A's trail says where it went
        rows = await eventually(
            lambda: trail(b),
            lambda rows: any(r.flow_id == "read-receipt" for r in rows),
            timeout=30,
        )
        [started] = [r for r in rows if r.flow_id == "read-receipt" and r.outcome == "flow_matched"]
        assert "read_on_sms" in (await state(b)).tags
        assert started.event_id in (await state(b)).applied
        old = await trail(a)
        [forwarded] = [r for r in old if r.step == "event_forwarded"]
        assert (forwarded.outcome, forwarded.event_id) == ("forwarded", started.event_id)
        assert forwarded.detail["survivor"] == b
        assert not [r for r in old if r.flow_id == "read-receipt"]  # not applied to A
        assert started.event_id not in (await state(a)).applied
        metrics = (await http.get(f"{api}/metrics")).text  # one process here: all its metrics
        assert 'continuum_merge_forwards_total{kind="status",outcome="forwarded"} 1.0' in metrics
    finally:
        await redis.aclose()
