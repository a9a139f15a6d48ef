"""``/v1/customers``: the refusals with their reasons, the published link event, and answers
that match the OpenAPI document (the store is faked; the real one is in
tests/integration/test_identity_link.py)."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest
from aiokafka.errors import KafkaConnectionError
from prometheus_client import CollectorRegistry

from orchestrator.api.app import ApiDeps, create_app
from orchestrator.engine.model import CustomerState
from orchestrator.metrics import Metrics
from orchestrator.settings import Settings
from orchestrator.topics import Topics

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LINK = "/v1/customers/{customer_id}/identities"


class FakeStore:
    def __init__(self) -> None:
        self.states = {"cus_a": CustomerState("cus_a", identities={"sms": "+15551230001"})}
        self.owner = {("email", "bob@example.com"): "cus_b", ("sms", "+15551230001"): "cus_a"}
        self.merged = {"cus_old": "cus_a"}

    async def redirects(self, ids: list[str]) -> dict[str, str]:
        return {i: self.merged.get(i, i) for i in ids}

    async def exists(self, cid: str) -> bool:
        return cid in self.states

    async def owners(self, items: list[tuple[str, str]]) -> list[str | None]:
        return [self.owner.get(item) for item in items]

    async def load_states(self, ids: list[str]) -> dict[str, CustomerState]:
        return {i: self.states[i] for i in ids}


class Publisher:
    def __init__(self, down: bool = False) -> None:
        self.down = down
        self.published: list[tuple[str, Any, str | None]] = []

    async def publish_confirmed(self, topic: str, event: Any, key: str | None) -> None:
        if self.down:
            raise KafkaConnectionError("broker down")
        self.published.append((topic, event, key))


def _app(publisher: Publisher) -> Any:
    settings = Settings(api={"operator_token": TOKEN, "publish_timeout_s": 1})

    async def reload_flows() -> Any:
        raise AssertionError("not reached")

    store: Any = FakeStore()
    pub: Any = publisher
    deps = ApiDeps(
        settings, Metrics(CollectorRegistry()), Topics(), pub, {}, reload_flows, store=store
    )
    return create_app(deps)


async def _call(app: Any, method: str, path: str, **kw: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        return await http.request(method, path, **kw)


def _declared(app: Any, path: str, method: str, resp: httpx.Response) -> None:
    doc = app.openapi()
    declared = doc["paths"][path][method]["responses"]
    assert str(resp.status_code) in declared
    schema = declared[str(resp.status_code)]["content"]["application/json"]["schema"]
    jsonschema.validate(resp.json(), {**schema, "components": doc["components"]})


@pytest.mark.parametrize(
    ("customer", "body", "status", "reason"),
    [
        ("cus_a", {"channel": "fax", "address": "1"}, 400, "invalid_channel"),
        ("cus_a", {"channel": "email", "address": "bob"}, 400, "invalid_address"),
        ("cus_nobody", {"channel": "email", "address": "x@example.com"}, 404, "no customer"),
        ("cus_a", {"channel": "email", "address": "bob@EXAMPLE.com"}, 409, "conflict: email"),
    ],
)
async def test_refusals_have_reasons_and_publish_nothing(
    customer: str, body: dict[str, str], status: int, reason: str
) -> None:
    pub = Publisher()
    app = _app(pub)
    resp = await _call(app, "POST", f"/v1/customers/{customer}/identities", json=body, headers=AUTH)
    assert resp.status_code == status
    assert resp.json()["detail"].startswith(reason)
    _declared(app, LINK, "post", resp)
    assert pub.published == []


async def test_no_token_is_401() -> None:
    body = {"channel": "email", "address": "x@example.com"}
    resp = await _call(_app(Publisher()), "POST", "/v1/customers/cus_a/identities", json=body)
    assert resp.status_code == 401


async def test_a_link_publishes_event_identity_link_after_the_broker_acks() -> None:
    pub = Publisher()
    app = _app(pub)
    body = {"channel": "email", "address": "Ann@Example.COM"}
    resp = await _call(app, "POST", "/v1/customers/cus_old/identities", json=body, headers=AUTH)
    assert resp.status_code == 202
    _declared(app, LINK, "post", resp)
    [(topic, event, key)] = pub.published
    assert (topic, key, event.type) == (Topics().events, "cus_a", "event.identity.link")
    assert event.data == {"customer": "cus_a", "channel": "email", "address": "Ann@example.com"}
    assert resp.json()["customer_id"] == "cus_a"  # the merged-away id went to its survivor


async def test_merge_true_publishes_a_merging_link() -> None:
    pub = Publisher()
    body = {"channel": "email", "address": "bob@example.com", "merge": True}
    resp = await _call(_app(pub), "POST", "/v1/customers/cus_a/identities", json=body, headers=AUTH)
    assert (resp.status_code, resp.json()["merges"]) == (202, "cus_b")
    assert pub.published[0][1].data["merge"] is True


async def test_an_address_already_the_customers_is_200_and_publishes_nothing() -> None:
    pub = Publisher()
    body = {"channel": "sms", "address": "+1 555 123 0001"}
    resp = await _call(_app(pub), "POST", "/v1/customers/cus_a/identities", json=body, headers=AUTH)
    assert (resp.status_code, resp.json()["status"]) == (200, "already_linked")
    assert pub.published == []


async def test_a_broker_down_is_503_with_retry_after() -> None:
    app = _app(Publisher(down=True))
    body = {"channel": "email", "address": "x@example.com"}
    resp = await _call(app, "POST", "/v1/customers/cus_a/identities", json=body, headers=AUTH)
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "1"
    _declared(app, LINK, "post", resp)


async def test_show_lists_identities() -> None:
    app = _app(Publisher())
    resp = await _call(app, "GET", "/v1/customers/cus_old", headers=AUTH)
    assert resp.status_code == 200
    assert resp.json()["customer_id"] == "cus_a"
    assert resp.json()["identities"] == {"sms": "+15551230001"}
    missing = await _call(app, "GET", "/v1/customers/cus_nobody", headers=AUTH)
    assert missing.status_code == 404
