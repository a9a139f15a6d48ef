"""Linking an address to a customer, and merging the customer who owned it, through the real
API, Kafka, Redis and PostgreSQL: ``POST /v1/customers/{id}/identities`` and
``event.identity.link``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from orchestrator.settings import Settings
from tests.integration.helpers import Pipeline, customer_of, eventually

TOKEN = "operator-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NUMBER, EMAIL = "+15551230007", "ann@example.com"


@pytest.fixture
async def pipe(settings: Settings) -> AsyncIterator[Pipeline]:
    api = settings.api.model_copy(update={"operator_token": SecretStr(TOKEN)})
    async with Pipeline.running(settings.model_copy(update={"api": api})) as running:
        yield running


def _business(event_id: str, name: str, customer: Any, **data: Any) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": "/shop",
            "type": f"event.{name}",
            "data": {"customer": customer, **data},
        }
    )


async def test_link_merge_and_redirect(pipe: Pipeline) -> None:
    api, http = pipe.api_url, pipe.http
    # customer A writes on sms (through the sandbox's signed Twilio webhook) and is answered
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
    a = await customer_of(pipe, NUMBER)
    # customer B is known by email only (a business event named them by address)
    events = pipe.service.topics.events
    await pipe.produce(
        events, _business("shop-1", "visited", {"channel": "email", "address": EMAIL})
    )
    b = await customer_of(pipe, EMAIL)
    assert a != b
    link = f"{api}/v1/customers/{a}/identities"

    # refusals, each with its reason
    assert (await http.post(link, json={"channel": "email", "address": EMAIL})).status_code == 401
    bad = await http.post(link, json={"channel": "email", "address": "nobody"}, headers=AUTH)
    assert (bad.status_code, bad.json()["detail"][:15]) == (400, "invalid_address")
    unknown = f"{api}/v1/customers/cus_nobody/identities"
    assert (
        await http.post(unknown, json={"channel": "sms", "address": NUMBER}, headers=AUTH)
    ).status_code == 404
    taken = await http.post(
        link, json={"channel": "email", "address": " ann@EXAMPLE.com"}, headers=AUTH
    )
    assert taken.status_code == 409
    assert b in taken.json()["detail"]
    assert '"merge": true' in taken.json()["detail"]

    # a fresh address is linked
    fresh = await http.post(link, json={"channel": "webchat", "address": "web-7"}, headers=AUTH)
    assert (fresh.status_code, fresh.json()["status"]) == (202, "accepted")

    # merge: B into A, A (named in the request) survives
    merge = await http.post(
        link, json={"channel": "email", "address": EMAIL, "merge": True}, headers=AUTH
    )
    assert merge.status_code == 202
    assert (merge.json()["merges"], merge.json()["customer_id"]) == (b, a)

    async def view(cid: str) -> dict[str, Any]:
        got = await http.get(f"{api}/v1/customers/{cid}", headers=AUTH)
        assert got.status_code == 200
        result: dict[str, Any] = got.json()
        return result

    shown = await eventually(
        lambda: view(a), lambda v: set(v["identities"]) == {"sms", "email", "webchat"}, timeout=30
    )
    assert shown["identities"] == {"sms": NUMBER, "email": EMAIL, "webchat": "web-7"}
    assert (await view(b))["customer_id"] == a  # the old id answers with the survivor
    steps = await eventually(
        lambda: pipe.ledger_steps(EMAIL), lambda s: ("customer_merged", "merged") in s, timeout=30
    )
    assert ("identity_linked", "merged") in steps
    assert ("identity_linked", "linked") in await pipe.ledger_steps("web-7")

    # merging again is a no-op
    again = await http.post(
        link, json={"channel": "email", "address": EMAIL, "merge": True}, headers=AUTH
    )
    assert (again.status_code, again.json()["status"]) == (200, "already_linked")

    # a later event for the old id goes to the survivor, whose flow answers on its sms number
    delayed = _business("shop-2", "order.delayed", b, order_id="A-1")
    await pipe.produce(events, delayed, b)
    sent = await eventually(
        pipe.sandbox_messages,
        lambda ms: any("running late" in m["body"] for m in ms),
        timeout=30,
    )
    late = next(m for m in sent if "running late" in m["body"])
    assert late["to"] == NUMBER
    rows = [r for r in await pipe.service.ledger.query(customer_id=a) if r.step == "event_received"]
    assert any(r.event_id == "shop-2" for r in rows)


async def test_the_business_event_links_and_refuses_a_taken_address_without_merge(
    pipe: Pipeline,
) -> None:
    events = pipe.service.topics.events
    await pipe.produce(
        events, _business("shop-3", "visited", {"channel": "sms", "address": NUMBER})
    )
    a = await customer_of(pipe, NUMBER)
    await pipe.produce(
        events, _business("shop-4", "visited", {"channel": "email", "address": EMAIL})
    )
    b = await customer_of(pipe, EMAIL)
    link = _business("shop-5", "identity.link", a, channel="webchat", address=" web-9 ")
    taken = _business("shop-6", "identity.link", a, channel="email", address=EMAIL)
    await pipe.produce(events, link, a)
    await pipe.produce(events, taken, a)
    linked = await eventually(
        lambda: pipe.ledger("web-9"), lambda rows: any(r.step == "identity_linked" for r in rows)
    )
    rows = [(r.outcome, r.customer_id) for r in linked if r.step == "identity_linked"]
    assert sorted(rows) == [("conflict", a), ("linked", a)]  # the customer's trail holds both
    assert [r.outcome for r in linked if r.address == "web-9"] == ["linked"]
    refused = await eventually(
        lambda: pipe.ledger(EMAIL),
        lambda rows: any(r.step == "identity_linked" for r in rows),
    )
    [row] = [r for r in refused if r.step == "identity_linked" and r.address == EMAIL]
    assert (row.outcome, row.customer_id) == ("conflict", a)
    assert b in str(row.reason)
    shown = await eventually(
        lambda: pipe.http.get(f"{pipe.api_url}/v1/customers/{a}", headers=AUTH),
        lambda r: "webchat" in r.json()["identities"],
    )
    assert "email" not in shown.json()["identities"]
