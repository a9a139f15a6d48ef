"""SMTP email: the message we build, and sends against the sandbox's real aiosmtpd server."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from pydantic import SecretStr

from channels.base import OutboundMessage
from channels.errors import (
    ChannelConfigInvalid,
    ConnectionFailed,
    RejectedWithReason,
    SendError,
    Throttled,
)
from channels.sandbox.config import SandboxConfig
from channels.sandbox.runtime import SandboxRuntime
from channels.smtp import SmtpEmail, SmtpSettings, build_message, rejection, verify
from channels.smtp.sandbox import SANDBOX_PASSWORD, smtp_sandbox
from orchestrator.settings import Settings

MSG = OutboundMessage(
    message_id="msg-7f3a",
    to="ada@example.com",
    text="Your order shipped.",
    subject="Re: my order",
    thread_id="cust-42",
)


@contextlib.asynccontextmanager
async def running_sandbox() -> AsyncIterator[SandboxRuntime]:
    """A sandbox runtime with its SMTP server on a free port (in the test's own event loop)."""
    runtime = SandboxRuntime(SandboxConfig(smtp_port=0))
    smtp_sandbox(runtime)
    async with runtime.running():
        yield runtime


def config_for(runtime: SandboxRuntime, **changes: object) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=runtime.ports["smtp"]).model_copy(update=changes)


def test_the_message_has_our_headers_and_threads_on_the_conversation() -> None:
    email = build_message(MSG, SmtpSettings(message_id_domain="mail.acme.test"))
    assert email["From"] == "Continuum <support@continuum.test>"
    assert email["To"] == "ada@example.com"
    assert email["Subject"] == "Re: my order"
    assert email["Message-ID"] == "<msg-7f3a@mail.acme.test>"
    assert email["References"] == "<conv-cust-42@mail.acme.test>"
    assert email["In-Reply-To"] == "<conv-cust-42@mail.acme.test>"
    assert email["Reply-To"] is None
    assert email.get_content_type() == "text/plain"
    assert email.get_content() == "Your order shipped.\n"


def test_the_message_id_is_the_same_on_every_try() -> None:
    config = SmtpSettings()
    ids = {build_message(MSG, config)["Message-ID"] for _ in range(3)}
    assert ids == {"<msg-7f3a@continuum.test>"}


def test_html_makes_a_multipart_alternative_with_the_text_first() -> None:
    msg = OutboundMessage(message_id="m1", to="a@example.com", text="plain", html="<p>rich</p>")
    email = build_message(msg, SmtpSettings(reply_to="help@acme.test", from_name=""))
    assert email.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in email.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert email["From"] == "support@continuum.test"
    assert email["Reply-To"] == "help@acme.test"
    assert email["References"] is None  # no conversation named: no threading headers


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (550, RejectedWithReason),
        (553, RejectedWithReason),
        (554, RejectedWithReason),
        (421, Throttled),
        (451, Throttled),
        (452, Throttled),
        (450, ConnectionFailed),
        (441, ConnectionFailed),
        (535, ChannelConfigInvalid),
        (530, ChannelConfigInvalid),
    ],
)
def test_reply_codes_map_to_send_errors(code: int, kind: type[SendError]) -> None:
    error = rejection(code, "text")
    assert type(error) is kind
    assert error.status_code == code
    assert error.retryable is (400 <= code < 500 and kind is not ChannelConfigInvalid)
    if isinstance(error, RejectedWithReason):
        assert error.ext_code == str(code)


async def test_a_send_is_accepted_and_recorded_by_the_sandbox() -> None:
    async with running_sandbox() as sandbox:
        result = await SmtpEmail(config_for(sandbox)).send(MSG)
        assert result.status == "sent"
        assert result.external_ids == ("<msg-7f3a@continuum.test>",)
        [stored] = list(sandbox.store)
        summary = stored.summary()
        assert summary["provider"] == "smtp"
        assert summary["to"] == "ada@example.com"
        assert summary["from"] == "support@continuum.test"
        assert summary["subject"] == "Re: my order"
        assert summary["body"] == "Your order shipped."
        assert summary["sid"] == "<msg-7f3a@continuum.test>"


async def test_the_password_goes_only_into_auth() -> None:
    async with running_sandbox() as sandbox:
        result = await SmtpEmail(config_for(sandbox)).send(MSG)
        assert SANDBOX_PASSWORD not in repr(result)
        recorder_raw = [s.summary() for s in sandbox.store]
        assert SANDBOX_PASSWORD not in repr(recorder_raw)


async def test_a_refused_recipient_is_rejected_with_the_smtp_code() -> None:
    async with running_sandbox() as sandbox:
        msg = OutboundMessage(message_id="m2", to="bounce@example.com", text="hi")
        with pytest.raises(RejectedWithReason) as caught:
            await SmtpEmail(config_for(sandbox)).send(msg)
        assert caught.value.ext_code == "550"
        assert "User unknown" in caught.value.detail
        assert list(sandbox.store) == []


async def test_a_busy_mailbox_is_throttled_and_retryable() -> None:
    async with running_sandbox() as sandbox:
        msg = OutboundMessage(message_id="m3", to="busy@example.com", text="hi")
        with pytest.raises(Throttled) as caught:
            await SmtpEmail(config_for(sandbox)).send(msg)
        assert caught.value.status_code == 451
        assert caught.value.retryable


async def test_a_wrong_password_is_a_config_error() -> None:
    async with running_sandbox() as sandbox:
        config = config_for(sandbox, password=SecretStr("nope"))
        with pytest.raises(ChannelConfigInvalid) as caught:
            await SmtpEmail(config).send(MSG)
        assert caught.value.status_code == 535
        assert "nope" not in str(caught.value)


async def test_no_server_is_a_retryable_connection_failure() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionFailed) as caught:
        await SmtpEmail(SmtpSettings(port=port, timeout_s=2)).send(MSG)
    assert caught.value.retryable


async def test_half_a_login_is_a_config_error_before_any_io() -> None:
    adapter = SmtpEmail(SmtpSettings(username="", port=1))
    with pytest.raises(ChannelConfigInvalid):
        await adapter.send(MSG)


def test_there_is_no_signature_to_verify() -> None:
    assert verify(b"anything", "sig") is False


def test_the_client_follows_the_sandbox_host_and_smtp_port() -> None:
    settings = Settings.model_validate({"sandbox": {"host": "0.0.0.0", "smtp_port": 2525}})
    assert (settings.smtp.host, settings.smtp.port) == ("127.0.0.1", 2525)
    given = Settings.model_validate({"smtp": {"host": "smtp.acme.test", "port": 587}})
    assert (given.smtp.host, given.smtp.port) == ("smtp.acme.test", 587)


def test_the_sandbox_parses_what_we_send() -> None:
    raw = build_message(MSG, SmtpSettings()).as_bytes()
    parsed = message_from_bytes(raw, _class=EmailMessage, policy=policy.default)
    assert parsed["Message-ID"] == "<msg-7f3a@continuum.test>"


def test_the_sandbox_holds_the_smtp_port_only_when_email_goes_by_smtp() -> None:
    sandbox = {"smtp_port": 2525}
    assert Settings.model_validate({"sandbox": sandbox}).sandbox_smtp_port == 0
    by_smtp = Settings.model_validate({"sandbox": sandbox, "channels": {"email": "smtp"}})
    assert by_smtp.sandbox_smtp_port == 2525


def test_a_message_without_a_subject_gets_the_configured_one() -> None:
    bare = replace(MSG, subject=None)
    assert build_message(bare, SmtpSettings())["Subject"] == "Message from Continuum"
    assert build_message(bare, SmtpSettings(subject="Acme support"))["Subject"] == "Acme support"
