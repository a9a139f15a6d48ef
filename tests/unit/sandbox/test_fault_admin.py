"""The fault admin API on the sandbox app: add, list with counts, delete, reseed, refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from channels.sandbox import SandboxConfig, create_sandbox_app


@pytest.fixture
async def admin() -> AsyncIterator[httpx.AsyncClient]:
    hooks = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(200)))
    async with hooks:
        app = create_sandbox_app(SandboxConfig(fault_seed=5), http=hooks)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
                yield client


async def test_added_rules_are_listed_in_order_with_their_counts(
    admin: httpx.AsyncClient,
) -> None:
    first = await admin.post(
        "/_sandbox/faults",
        json={"id": "slow", "provider": "twilio", "kind": "latency", "seconds": 0.5},
    )
    assert first.status_code == 201
    assert first.json() == {
        "id": "slow",
        "provider": "twilio",
        "kind": "latency",
        "match": {},
        "probability": 1.0,
        "count": None,
        "seconds": 0.5,
        "fired": 0,
        "expired": False,
    }
    second = await admin.post(
        "/_sandbox/faults",
        json={"provider": "*", "kind": "throttle", "retry_after": 2, "count": 3},
    )
    assert second.status_code == 201
    generated = second.json()["id"]
    listed = (await admin.get("/_sandbox/faults")).json()
    assert [(r["id"], r["kind"], r["fired"]) for r in listed] == [
        ("slow", "latency", 0),
        (generated, "throttle", 0),
    ]
    assert listed[1]["retry_after"] == 2


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        pytest.param(b"not json", 400, "JSON object", id="not-json"),
        pytest.param(b"[1]", 400, "JSON object", id="not-an-object"),
        pytest.param(b'{"kind": "error"}', 422, "provider: Field required", id="no-provider"),
        pytest.param(
            b'{"provider": "twilio", "kind": "down", "seconds": 3}',
            422,
            "seconds does not apply to kind down",
            id="stray-parameter",
        ),
    ],
)
async def test_bad_rules_are_refused_with_a_reason(
    admin: httpx.AsyncClient, body: bytes, status: int, reason: str
) -> None:
    resp = await admin.post(
        "/_sandbox/faults", content=body, headers={"content-type": "application/json"}
    )
    assert resp.status_code == status
    assert reason in resp.json()["error"]
    assert (await admin.get("/_sandbox/faults")).json() == []


async def test_a_repeated_id_is_a_conflict(admin: httpx.AsyncClient) -> None:
    rule = {"id": "x", "provider": "meta", "kind": "down"}
    assert (await admin.post("/_sandbox/faults", json=rule)).status_code == 201
    resp = await admin.post("/_sandbox/faults", json=rule)
    assert resp.status_code == 409
    assert "'x'" in resp.json()["error"]


async def test_delete_one_then_all(admin: httpx.AsyncClient) -> None:
    for fault_id in ("a", "b", "c"):
        await admin.post("/_sandbox/faults", json={"id": fault_id, "provider": "*", "kind": "down"})
    assert (await admin.delete("/_sandbox/faults/b")).json() == {"ok": True, "deleted": 1}
    missing = await admin.delete("/_sandbox/faults/b")
    assert missing.status_code == 404
    assert "no fault with id 'b'" in missing.json()["error"]
    assert [r["id"] for r in (await admin.get("/_sandbox/faults")).json()] == ["a", "c"]
    assert (await admin.delete("/_sandbox/faults")).json() == {"ok": True, "deleted": 2}
    assert (await admin.get("/_sandbox/faults")).json() == []


async def test_reseed_takes_an_integer(admin: httpx.AsyncClient) -> None:
    assert (await admin.post("/_sandbox/faults/seed", json={"seed": 9})).json()["seed"] == 9
    resp = await admin.post("/_sandbox/faults/seed", json={"seed": "nine"})
    assert resp.status_code == 422
