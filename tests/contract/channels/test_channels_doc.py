"""The "How to add a provider" skeleton in docs/channels.md is a working provider.

The test loads the page's ``# file:`` blocks as ``channels.acme``, then runs the provider the
way Continuum does: its parts, a send through its sandbox fake, an inbound message from the
fake through its signed webhook and the API's context, and its case file through the harness.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from harness import queued_response, run_send
from prometheus_client import CollectorRegistry

import channels
from channels import errors
from channels.base import OutboundMessage
from channels.sandbox.config import SandboxConfig
from channels.sandbox.runtime import SandboxRuntime
from orchestrator.api.app import ApiDeps
from orchestrator.api.webhooks import _Context
from orchestrator.metrics import Metrics
from orchestrator.settings import Settings
from orchestrator.topics import Topics

DOC = Path(__file__).resolve().parents[3] / "docs" / "channels.md"
BLOCK = re.compile(r"```(python|yaml)\n# file: (\S+)\n(.*?)```", re.DOTALL)


def _blocks() -> dict[str, str]:
    return {path: body for _, path, body in BLOCK.findall(DOC.read_text(encoding="utf-8"))}


@pytest.fixture
def acme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The skeleton's package, importable as ``channels.acme`` for the test's length."""
    for path, body in _blocks().items():
        if path.startswith("channels/"):
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_text(body, encoding="utf-8")
    monkeypatch.setattr(channels, "__path__", [*channels.__path__, str(tmp_path / "channels")])
    import channels.acme as module

    yield module
    for name in [n for n in sys.modules if n == "channels.acme" or n.startswith("channels.acme.")]:
        del sys.modules[name]


def test_the_page_has_the_four_files_it_counts() -> None:
    assert set(_blocks()) == {
        "channels/acme/__init__.py",
        "channels/acme/sandbox.py",
        "tests/contract/channels/cases/sms.acme.yaml",
    }  # the fourth is the page's own section
    assert "four new files and two registration lines" in DOC.read_text(encoding="utf-8")


def test_the_skeleton_declares_every_part(acme: ModuleType) -> None:
    provider = acme.ACME
    assert provider.channel_type == "sms.acme" == provider.adapter.channel_type
    assert set(provider.status_map.values()) <= {"queued", "sent", "delivered", "failed"}
    assert provider.error_codes == {"opted_out": errors.ContactStopped}
    assert provider.verify("k", b"{}", acme.sign("k", b"{}"))
    assert not provider.verify("k", b"{ }", acme.sign("k", b"{}"))


async def test_the_skeleton_sends_through_its_sandbox_fake(acme: ModuleType) -> None:
    runtime = SandboxRuntime(SandboxConfig())
    fake = FastAPI()
    fake.include_router(acme.ACME.sandbox(runtime))
    transport = httpx.ASGITransport(fake)
    async with httpx.AsyncClient(transport=transport, base_url="http://sb") as http:
        adapter = acme.ACME.adapter(acme.AcmeSettings(base_url="http://sb"), http)
        result = await adapter.send(OutboundMessage(message_id="m1", to="+15550001", text="Hi"))
    [stored] = list(runtime.store)
    assert result.status == "queued"
    assert result.external_ids == (stored.sid,)
    assert (stored.provider, stored.to, stored.body) == ("acme", "+15550001", "Hi")


class RecordingPublisher:
    def __init__(self) -> None:
        self.published: list[tuple[str, Any, str | None]] = []

    async def publish_confirmed(self, topic: str, event: Any, key: str | None) -> None:
        self.published.append((topic, event, key))


async def test_an_inbound_sms_from_the_fake_reaches_the_inbound_topic(acme: ModuleType) -> None:
    publisher: Any = RecordingPublisher()

    async def reload_flows() -> Any:
        raise AssertionError("not reached")

    deps = ApiDeps(Settings(), Metrics(CollectorRegistry()), Topics(), publisher, {}, reload_flows)
    api = FastAPI()
    api.include_router(acme.ACME.webhooks(acme.AcmeSettings(), _Context(deps, acme.ACME)))
    fake = FastAPI()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(api)) as to_api:
        fake.include_router(acme.ACME.sandbox(SandboxRuntime(SandboxConfig(), to_api)))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(fake), base_url="http://sb"
        ) as client:
            body = {"url": "http://api/webhooks/acme/inbound", "from": "+1 555 123 0001", "to": "x"}
            resp = await client.post("/_sandbox/acme/inbound", json={**body, "text": "HELP"})
        forged = await to_api.post("http://api/webhooks/acme/inbound", json={"id": "AM9"})
    assert resp.json()["status_code"] == 204
    assert forged.status_code == 403
    [(topic, event, key)] = publisher.published
    assert (topic, key) == ("continuum.inbound.sms", "+15551230001")
    assert event.data["text"] == "HELP"
    assert event.source == "/channels/sms/acme"


async def test_the_skeleton_case_file_passes_the_harness(
    acme: ModuleType, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    data = yaml.safe_load(_blocks()["tests/contract/channels/cases/sms.acme.yaml"])
    monkeypatch.setattr("harness.ADAPTERS", {"sms.acme": acme.AcmeSms})
    monkeypatch.setattr("harness.DEFAULT_URLS", {"sms.acme": data["provider"]["default_url"]})
    config = acme.AcmeSettings.model_validate(data["provider"]["config"])
    for case in data["cases"]:
        responses = {u: [queued_response(i) for i in r] for u, r in case["responses"].items()}
        outcome = await run_send(
            "sms.acme",
            responses=responses,
            msg=OutboundMessage(message_id="msg-1", **case["msg"]),
            config=config,
            expected_requests=case.get("expected_requests"),
            caplog=caplog,
        )
        if "expected_error" in case:
            assert type(outcome.error) is getattr(errors, case["expected_error"])
        else:
            assert outcome.result is not None, outcome.error
            assert list(outcome.result.external_ids) == case["expected_external_ids"]
            assert outcome.result.status == case["expected_status"]
    blank = config.model_copy(update={"api_key": type(config.api_key)("")})
    outcome = await run_send("sms.acme", config=blank, expected_requests=[], caplog=caplog)
    assert type(outcome.error) is errors.ChannelConfigInvalid
