"""X-Twilio-Signature against Twilio's published vectors, and single-byte tampering; Twilio's
official library (``twilio``) as the oracle of our signatures, the sandbox's and its API."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sandbox_harness import Sandbox
from twilio.base.exceptions import TwilioRestException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from channels.twilio.signature import compute_signature, validate_signature

REPO_ROOT = Path(__file__).resolve().parents[3]
VECTORS = REPO_ROOT.parent / "shared" / "vectors" / "twilio_signature.json"
CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text(encoding="utf-8"))["cases"]
IDS = [f"case{i}" for i in range(len(CASES))]


def flip(text: str, index: int) -> str:
    """Return ``text`` with the character at ``index`` changed by one bit."""
    return text[:index] + chr(ord(text[index]) ^ 1) + text[index + 1 :]


def test_vectors_are_present() -> None:
    assert len(CASES) >= 3


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_vector_validates(case: dict[str, Any]) -> None:
    assert validate_signature(case["auth_token"], case["url"], case["params"], case["signature"])
    assert compute_signature(case["auth_token"], case["url"], case["params"]) == case["signature"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_any_changed_url_byte_fails(case: dict[str, Any]) -> None:
    token, url, params, sig = case["auth_token"], case["url"], case["params"], case["signature"]
    for i in range(len(url)):
        assert not validate_signature(token, flip(url, i), params, sig), flip(url, i)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_any_changed_param_byte_fails(case: dict[str, Any]) -> None:
    token, url, params, sig = case["auth_token"], case["url"], case["params"], case["signature"]
    for name, value in params.items():
        for i in range(len(value)):
            tampered = {**params, name: flip(value, i)}
            assert not validate_signature(token, url, tampered, sig), (name, i)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_any_changed_signature_byte_fails(case: dict[str, Any]) -> None:
    token, url, params, sig = case["auth_token"], case["url"], case["params"], case["signature"]
    for i in range(len(sig)):
        assert not validate_signature(token, url, params, flip(sig, i)), i


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_wrong_token_or_extra_param_fails(case: dict[str, Any]) -> None:
    url, params, sig = case["url"], case["params"], case["signature"]
    assert not validate_signature(case["auth_token"] + "x", url, params, sig)
    assert not validate_signature(case["auth_token"], url, {**params, "Extra": ""}, sig)
    assert not validate_signature(case["auth_token"], url, params, "")


@pytest.mark.parametrize(
    ("signed", "presented"),
    [
        ("https://example.com/hook?a=1", "https://example.com:443/hook?a=1"),
        ("https://example.com:443/hook?a=1", "https://example.com/hook?a=1"),
        ("http://example.com/hook", "http://example.com:80/hook"),
        ("http://user:pw@[::1]:80/hook", "http://user:pw@[::1]/hook"),
    ],
)
def test_default_port_is_optional(signed: str, presented: str) -> None:
    sig = compute_signature("tok", signed, {"Body": "hi"})
    assert validate_signature("tok", presented, {"Body": "hi"}, sig)


@pytest.mark.parametrize(
    ("signed", "presented"),
    [
        ("https://example.com/hook", "https://example.com:8443/hook"),
        ("https://example.com/hook", "https://example.com:80/hook"),
        ("http://example.com/hook", "http://example.com:443/hook"),
        ("ftp://example.com/hook", "ftp://example.com:21/hook"),
        ("https://example.com/hook", "https://example.com:bad/hook"),
    ],
)
def test_other_ports_are_not_equivalent(signed: str, presented: str) -> None:
    sig = compute_signature("tok", signed, {})
    assert not validate_signature("tok", presented, {}, sig)


@pytest.mark.parametrize("url", ["https:no-authority", "mailto:ops@example.com", ""])
def test_urls_without_authority_are_signed_as_is(url: str) -> None:
    sig = compute_signature("tok", url, {"A": "1"})
    assert validate_signature("tok", url, {"A": "1"}, sig)
    assert not validate_signature("tok", url + ":443", {"A": "1"}, sig)


def test_repeated_names_sign_their_sorted_distinct_values_like_twilio_python() -> None:
    url = "https://example.com/hook"
    sig = compute_signature("tok", url, {"MediaUrl": ["b", "a", "b"], "Body": "x"})
    assert sig == compute_signature("tok", url + "BodyxMediaUrlaMediaUrlb", {})
    assert validate_signature("tok", url, {"Body": "x", "MediaUrl": ("b", "a")}, sig)
    assert not validate_signature("tok", url, {"Body": "x", "MediaUrl": ["a"]}, sig)


@given(
    token=st.text(min_size=1, max_size=20),
    params=st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=5),
)
def test_roundtrip_with_and_without_port(token: str, params: dict[str, str]) -> None:
    url = "https://hooks.example.com/twilio?x=1"
    sig = compute_signature(token, url, params)
    assert validate_signature(token, url, params, sig)
    assert validate_signature(token, "https://hooks.example.com:443/twilio?x=1", params, sig)
    assert not validate_signature(token, url + "2", params, sig)


# --- Twilio's official library as the oracle (twilio==9.13.0, the dev extra) ----------------

ORACLE_HOOK = "https://continuum.test/webhooks/twilio/status?tenant=t1"
ORACLE_INBOUND = "https://continuum.test/webhooks/twilio/inbound"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_official_validator_accepts_every_vector(case: dict[str, Any]) -> None:
    oracle = RequestValidator(case["auth_token"])
    assert oracle.validate(case["url"], case["params"], case["signature"])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_official_validator_refuses_any_changed_byte(case: dict[str, Any]) -> None:
    oracle = RequestValidator(case["auth_token"])
    url, params, sig = case["url"], case["params"], case["signature"]
    for i in range(len(sig)):
        assert not oracle.validate(url, params, flip(sig, i)), i
    for name, value in params.items():
        for i in range(len(value)):
            assert not oracle.validate(url, {**params, name: flip(value, i)}, sig), (name, i)
    # The URL's path and query after its first "/" (the library normalises the scheme and
    # host, and a changed "/" after a port is no URL it can parse).
    start = url.index("/", len("https://")) + 1
    for i in range(start, len(url)):
        assert not oracle.validate(flip(url, i), params, sig), flip(url, i)


@given(
    token=st.text(min_size=1, max_size=20),
    params=st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=5),
)
def test_our_signature_is_the_official_one(token: str, params: dict[str, str]) -> None:
    url = "https://hooks.example.com/twilio?x=1"
    ours = compute_signature(token, url, params)
    assert ours == RequestValidator(token).compute_signature(url, params)
    assert RequestValidator(token).validate(url, params, ours)


async def test_the_official_validator_accepts_the_sandboxs_status_callbacks(
    sandbox: Sandbox,
) -> None:
    form = {"To": "+15550001", "From": "+15559999", "Body": "hi", "StatusCallback": ORACLE_HOOK}
    key = (sandbox.config.twilio_api_key_sid, sandbox.config.twilio_api_key_secret)
    resp = await sandbox.client.post(  # sent with the API key: callbacks still use the token
        sandbox.messages_path, data=form, auth=(key[0], key[1].get_secret_value())
    )
    assert resp.status_code == 201
    await sandbox.wait_until(lambda: len(sandbox.webhooks.hooks) == 3)
    oracle = RequestValidator(sandbox.config.twilio_auth_token.get_secret_value())
    for hook in sandbox.webhooks.hooks:
        assert hook.signature is not None
        assert oracle.validate(hook.url, hook.form, hook.signature)
        assert not oracle.validate(hook.url, hook.form, flip(hook.signature, 0))
        assert not RequestValidator(key[1].get_secret_value()).validate(
            hook.url, hook.form, hook.signature
        )


async def test_the_official_validator_accepts_the_sandboxs_inbound_sms(sandbox: Sandbox) -> None:
    payload = {"url": ORACLE_INBOUND, "from": "+15550001", "to": "+15559999", "body": "HELP"}
    assert (await sandbox.client.post("/_sandbox/twilio/inbound", json=payload)).is_success
    (hook,) = sandbox.webhooks.hooks
    oracle = RequestValidator(sandbox.config.twilio_auth_token.get_secret_value())
    assert hook.signature is not None
    assert oracle.validate(ORACLE_INBOUND, hook.form, hook.signature)
    assert not oracle.validate(ORACLE_INBOUND, {**hook.form, "Body": "HELQ"}, hook.signature)


class _ToSandbox(AsyncHttpClient):
    """The official client's HTTP layer, sending through the in-process sandbox app."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        super().__init__(logging.getLogger("twilio.http_client"), is_async=True)
        self._http = http

    async def request(
        self,
        method: str,
        uri: str,
        params: Any = None,
        data: Any = None,
        headers: Any = None,
        auth: Any = None,
        timeout: Any = None,
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        resp = await self._http.request(
            method, uri, params=params, data=data, headers=headers, auth=auth
        )
        return TwilioResponse(resp.status_code, resp.text, resp.headers)


def _official_client(sandbox: Sandbox, user: str, password: str) -> Client:
    client = Client(
        user, password, account_sid=sandbox.auth[0], http_client=_ToSandbox(sandbox.client)
    )
    client.api.base_url = "http://sandbox"
    return client


@pytest.mark.parametrize("credentials", ["auth-token", "api-key"])
async def test_the_official_client_creates_a_message_the_fake_accepts(
    sandbox: Sandbox, credentials: str
) -> None:
    config = sandbox.config
    user, password = (
        sandbox.auth
        if credentials == "auth-token"
        else (config.twilio_api_key_sid, config.twilio_api_key_secret.get_secret_value())
    )
    client = _official_client(sandbox, user, password)
    message = await client.messages.create_async(to="+15550001", from_="+15559999", body="hi")
    assert message.sid is not None
    assert message.sid.startswith("SM")
    assert (message.to, message.from_, message.body, message.status) == (
        "+15550001",
        "+15559999",
        "hi",
        "queued",
    )
    assert message.account_sid == sandbox.auth[0]
    assert message.date_created is not None  # the library parsed Twilio's RFC 2822 date
    (item,) = (await sandbox.client.get("/_sandbox/messages")).json()
    assert (item["id"], item["provider"]) == (message.sid, "twilio")


async def test_the_official_client_sends_through_the_messaging_service(sandbox: Sandbox) -> None:
    service = sandbox.config.twilio_messaging_service_sid
    client = _official_client(sandbox, *sandbox.auth)
    message = await client.messages.create_async(
        to="+15550001", messaging_service_sid=service, body="via service"
    )
    assert (message.messaging_service_sid, message.status, message.from_) == (
        service,
        "accepted",
        None,
    )
    (item,) = (await sandbox.client.get("/_sandbox/messages")).json()
    assert item["from"] == sandbox.config.twilio_service_sender


async def test_the_official_client_gets_the_fakes_errors(sandbox: Sandbox) -> None:
    client = _official_client(sandbox, sandbox.auth[0], "wrong-token")
    with pytest.raises(TwilioRestException) as info:
        await client.messages.create_async(to="+15550001", from_="+15559999", body="hi")
    assert (info.value.status, info.value.code) == (401, 20003)
    client = _official_client(sandbox, *sandbox.auth)
    with pytest.raises(TwilioRestException) as info:
        await client.messages.create_async(to="+15005550001", from_="+15559999", body="hi")
    assert (info.value.status, info.value.code) == (400, 21211)
