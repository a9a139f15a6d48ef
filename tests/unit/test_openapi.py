"""The OpenAPI document declares the API's responses as the API really gives them."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest
from aiokafka.errors import KafkaConnectionError
from prometheus_client import CollectorRegistry

from channels.twilio.signature import compute_signature
from channels.twilio.webhooks import INBOUND_PATH, STATUS_PATH
from orchestrator.api.app import ApiDeps, create_app
from orchestrator.metrics import Metrics
from orchestrator.settings import Settings
from orchestrator.topics import Topics

PUBLIC = "http://api.test"
TOKEN = "sandbox-auth-token"
RELOAD = "/v1/flows/reload"
CUSTOMERS = ("/v1/customers/{customer_id}", "/v1/customers/{customer_id}/identities")


class DownPublisher:
    """A publisher whose broker refuses everything."""

    async def publish_confirmed(self, topic: str, event: object, key: str | None) -> None:
        raise KafkaConnectionError("broker down")


def _app(operator_token: str | None = None) -> Any:
    settings = Settings(api={"public_url": PUBLIC, "operator_token": operator_token})

    async def reload_flows() -> Any:
        raise AssertionError("not reached in these tests")

    publisher: Any = DownPublisher()
    deps = ApiDeps(settings, Metrics(CollectorRegistry()), Topics(), publisher, {}, reload_flows)
    return create_app(deps)


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    result: dict[str, Any] = _app().openapi()
    return result


def _check(doc: dict[str, Any], path: str, status: int, resp: httpx.Response) -> None:
    """``resp`` has a status the document declares for ``path``, and a body of its schema."""
    declared = doc["paths"][path]["post"]["responses"]
    assert str(status) in declared, f"{path} answers {status} but does not declare it"
    assert resp.status_code == status
    schema = declared[str(status)]["content"]["application/json"]["schema"]
    jsonschema.validate(resp.json(), {**schema, "components": doc["components"]})
    for header in declared[str(status)].get("headers", {}):
        assert header in resp.headers


def test_the_operator_endpoint_declares_a_bearer_scheme(doc: dict[str, Any]) -> None:
    assert doc["components"]["securitySchemes"]["operatorToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["operatorToken"]["description"],
    }
    reload = doc["paths"][RELOAD]["post"]
    assert reload["security"] == [{"operatorToken": []}]
    refs = {s: r["content"]["application/json"]["schema"] for s, r in reload["responses"].items()}
    assert refs == {
        "200": {"$ref": "#/components/schemas/FlowsReloaded"},
        "401": {"$ref": "#/components/schemas/ErrorBody"},
        "403": {"$ref": "#/components/schemas/ErrorBody"},
        "422": {"$ref": "#/components/schemas/FlowsRejected"},
    }
    for path, item in doc["paths"].items():
        operation = item.get("post", item.get("get", {}))
        if path in (RELOAD, *CUSTOMERS):  # the operator endpoints
            assert operation["security"] == [{"operatorToken": []}]
        else:
            assert "security" not in operation


@pytest.mark.parametrize(
    ("path", "required"),
    [
        (STATUS_PATH, ["MessageSid", "MessageStatus"]),
        (INBOUND_PATH, ["MessageSid", "From", "To", "Body"]),
    ],
)
def test_webhooks_declare_their_form_body_and_real_errors(
    doc: dict[str, Any], path: str, required: list[str]
) -> None:
    op = doc["paths"][path]["post"]
    body = op["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/x-www-form-urlencoded"]["schema"]["required"] == required
    assert set(op["responses"]) == {"204" if path == STATUS_PATH else "200", "400", "403", "503"}
    assert op["responses"]["503"]["headers"]["Retry-After"]["schema"] == {"type": "integer"}
    assert "HTTPValidationError" not in str(op)  # FastAPI does not validate these bodies


def test_health_and_readiness_have_response_models(doc: dict[str, Any]) -> None:
    ready = doc["paths"]["/readyz"]["get"]["responses"]
    assert set(ready) == {"200", "503"}
    for r in ready.values():
        assert r["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Readiness"
        }
    health = doc["paths"]["/healthz"]["get"]["responses"]["200"]
    assert health["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Health"
    }


async def test_the_real_refusals_match_the_declared_ones(doc: dict[str, Any]) -> None:
    async def post(app: Any, path: str, **kwargs: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as http:
            return await http.post(path, **kwargs)

    disabled = await post(_app(), RELOAD)
    _check(doc, RELOAD, 403, disabled)
    wrong = await post(_app("s3cret"), RELOAD, headers={"Authorization": "Bearer nope"})
    _check(doc, RELOAD, 401, wrong)
    assert wrong.headers["WWW-Authenticate"] == "Bearer"

    form = {"MessageSid": "SM1", "From": "hello", "To": "+15559990000", "Body": "hi"}
    _check(doc, INBOUND_PATH, 403, await post(_app(), INBOUND_PATH, data=form))
    signed = {"X-Twilio-Signature": compute_signature(TOKEN, PUBLIC + INBOUND_PATH, form)}
    bad_from = await post(_app(), INBOUND_PATH, data=form, headers=signed)
    _check(doc, INBOUND_PATH, 400, bad_from)
    assert bad_from.json()["detail"].startswith("invalid_address: From:")

    form["From"] = "+15551230001"
    signed = {"X-Twilio-Signature": compute_signature(TOKEN, PUBLIC + INBOUND_PATH, form)}
    down = await post(_app(), INBOUND_PATH, data=form, headers=signed)
    _check(doc, INBOUND_PATH, 503, down)
    assert down.headers["Retry-After"] == "5"

    status = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    signed = {"X-Twilio-Signature": compute_signature(TOKEN, PUBLIC + STATUS_PATH, status)}
    _check(doc, STATUS_PATH, 503, await post(_app(), STATUS_PATH, data=status, headers=signed))
