"""Contract harness: run one adapter send against queued HTTP responses and check the invariants.

Everything it knows about a provider comes from the provider's case file,
``cases/<channel_type>.yaml``: a ``provider`` header (a working config, the default URL, the
credential and basic-auth fields) and the ``cases``.

An SMTP provider's case file says ``kind: smtp``: its cases run against the sandbox's real
aiosmtpd server on a free port (:func:`run_smtp_send`), and ``expected_data`` describes the
messages the server accepted (envelope, headers, parts) instead of ``expected_requests``.

Every adapter goes through the same checks (CO ``handlertest.RunOutgoingTestCases``): the requests
match, no queued response is left over, no ``secret_fields`` value leaks into requests, logs,
results or errors, and the outcome is a ``SendResult`` or a ``SendError``.
"""

from __future__ import annotations

import base64
import logging
import socket
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus

import httpx
import pytest
import yaml
from pydantic import BaseModel, SecretStr

from channels import ADAPTERS, PROVIDERS
from channels.base import OutboundMessage, SendResult
from channels.errors import SendError
from channels.sandbox.config import SandboxConfig
from channels.sandbox.runtime import SandboxRuntime
from channels.smtp.sandbox import Recorder, smtp_server

CASES_DIR = Path(__file__).resolve().parent / "cases"
"""One ``<channel_type>.yaml`` per registered provider: a ``provider`` header and ``cases``."""


@dataclass(frozen=True)
class CaseFile:
    """A provider's case file: what the harness needs to run it, and its send cases."""

    config: BaseModel
    default_url: str
    credential_fields: tuple[str, ...]
    basic_auth: tuple[str, str] | None
    cases: list[dict[str, Any]]
    mailbox: bool = False
    kind: str = "http"
    """``http`` (queued HTTP responses) or ``smtp`` (a real SMTP server: :func:`run_smtp_send`)."""
    status_cases: list[dict[str, Any]] = field(default_factory=list)
    """Receipts as the provider posts them (``body``) and the StatusReports each must decode
    to (``expected``), run by ``test_status_contract.py`` through its provider's parser."""


def case_path(channel_type: str) -> Path:
    """Where the case file of ``channel_type`` is."""
    return CASES_DIR / f"{channel_type}.yaml"


def load_case_file(channel_type: str) -> CaseFile:
    """Read and check the case file of a registered provider."""
    data = yaml.safe_load(case_path(channel_type).read_text(encoding="utf-8"))
    head = data["provider"]
    auth = head.get("basic_auth")
    return CaseFile(
        config=PROVIDERS[channel_type].settings.model_validate(head["config"]),
        default_url=head.get("default_url", ""),
        credential_fields=tuple(head["credential_fields"]),
        basic_auth=(auth[0], auth[1]) if auth else None,
        cases=list(data["cases"]),
        mailbox=bool(head.get("mailbox", False)),
        kind=head.get("kind", "http"),
        status_cases=list(data.get("status_cases", [])),
    )


ALL_CASE_FILES: Mapping[str, CaseFile] = {
    ct: load_case_file(ct) for ct in sorted(PROVIDERS) if case_path(ct).is_file()
}
"""Every registered provider's case file that exists (a missing one fails a contract test)."""

CASE_FILES: Mapping[str, CaseFile] = {ct: f for ct, f in ALL_CASE_FILES.items() if f.kind == "http"}
"""The HTTP providers' case files (the web chat's mailbox included): what the queued-response
checks run on."""

HTTP_CASE_FILES: Mapping[str, CaseFile] = {ct: f for ct, f in CASE_FILES.items() if not f.mailbox}
"""The case files of providers that send over HTTP: what the HTTP status/transport checks run."""

SMTP_CASE_FILES: Mapping[str, CaseFile] = {
    ct: f for ct, f in ALL_CASE_FILES.items() if f.kind == "smtp"
}
"""The SMTP providers' case files, run against a real SMTP server (:func:`run_smtp_send`)."""

CONFIGS: Mapping[str, BaseModel] = {ct: f.config for ct, f in CASE_FILES.items()}
"""One working config per channel_type."""

DEFAULT_URLS: Mapping[str, str] = {ct: f.default_url for ct, f in CASE_FILES.items()}
"""Where each adapter sends with its CONFIGS entry; used when responses are given as a list."""

CREDENTIAL_FIELDS: Mapping[str, tuple[str, ...]] = {
    ct: f.credential_fields for ct, f in CASE_FILES.items()
}
"""Config fields that must be non-empty; blanking any one must raise ChannelConfigInvalid."""

BASIC_AUTH: Mapping[str, tuple[str, str]] = {
    ct: f.basic_auth for ct, f in CASE_FILES.items() if f.basic_auth
}
"""Config fields (user, password) every request's basic-auth header must carry."""

Queued = httpx.Response | httpx.TransportError


def queued_response(item: Mapping[str, Any]) -> Queued:
    """A case file's queued response (status, json|body, headers) or transport error."""
    if "error" in item:
        kinds = {"connect": httpx.ConnectError, "timeout": httpx.ReadTimeout}
        return kinds[item["error"]](f"simulated {item['error']} error")
    if "json" in item:
        return httpx.Response(item["status"], json=item["json"], headers=item.get("headers"))
    return httpx.Response(item["status"], text=item.get("body", ""), headers=item.get("headers"))


@dataclass
class SendOutcome:
    """What one harness run produced: a result or an error, and the requests made."""

    result: SendResult | None
    error: SendError | None
    requests: list[httpx.Request] = field(default_factory=list)
    writes: list[dict[str, Any]] = field(default_factory=list)


ANY = "<any>"
"""In ``expected_writes``, a value that matches any non-empty string (a timestamp)."""


class Mailbox:
    """A stand-in for ``redis.asyncio``'s client that records the writes of a pipeline.

    Records ``{"command": "xadd", "key", "fields", "maxlen"}`` and ``{"command": "expire",
    "key", "seconds"}``; with ``fail`` every ``execute`` raises ``redis.ConnectionError``.
    """

    def __init__(self, writes: list[dict[str, Any]], fail: bool = False) -> None:
        self.writes, self.fail = writes, fail
        self._queued: list[dict[str, Any]] = []

    def pipeline(self, transaction: bool = True) -> Mailbox:
        return self

    async def __aenter__(self) -> Mailbox:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._queued = []

    def xadd(
        self, key: str, fields: Mapping[str, str], maxlen: int | None = None, **_: Any
    ) -> None:
        self._queued.append(
            {"command": "xadd", "key": key, "fields": dict(fields), "maxlen": maxlen}
        )

    def expire(self, key: str, seconds: int) -> None:
        self._queued.append({"command": "expire", "key": key, "seconds": seconds})

    async def execute(self) -> list[Any]:
        if self.fail:
            import redis.exceptions

            raise redis.exceptions.ConnectionError("simulated connect error")
        self.writes.extend(self._queued)
        answers = [b"1700000000000-0" if w["command"] == "xadd" else True for w in self._queued]
        self._queued = []
        return answers


def assert_writes(
    actual: Sequence[Mapping[str, Any]], expected: Sequence[Mapping[str, Any]]
) -> None:
    """Every mailbox write as the case lists it (``ANY`` matches any non-empty string)."""
    assert len(actual) == len(expected), f"{len(actual)} writes made, {len(expected)} expected"
    for got, want in zip(actual, expected, strict=True):
        assert set(got) == set(want), (got, want)
        for name, value in want.items():
            if name == "fields":
                assert set(got["fields"]) == set(value), got["fields"]
                for k, v in value.items():
                    if v == ANY:
                        assert isinstance(got["fields"][k], str), k
                        assert got["fields"][k], k
                    else:
                        assert got["fields"][k] == v, k
            else:
                assert got[name] == value, name


def secret_values(channel_type: str, config: BaseModel) -> list[str]:
    """Return the non-empty values of the adapter's secret_fields in ``config``."""
    values = []
    for name in ADAPTERS[channel_type].secret_fields:
        value = getattr(config, name)
        if value is None:  # an optional secret left unset (Twilio's api_key_secret)
            continue
        text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        if text:
            values.append(text)
    return values


def blank_credential(channel_type: str, name: str) -> BaseModel:
    """Return the channel's config with credential ``name`` emptied."""
    config = CONFIGS[channel_type]
    blank: object = SecretStr("") if isinstance(getattr(config, name), SecretStr) else ""
    return config.model_copy(update={name: blank})


async def run_send(
    channel_type: str,
    *,
    responses: Mapping[str, Sequence[Queued]] | Sequence[Queued] = (),
    msg: OutboundMessage | None = None,
    config: BaseModel | None = None,
    expected_requests: Sequence[Mapping[str, Any]] | None = None,
    caplog: pytest.LogCaptureFixture | None = None,
    expected_writes: Sequence[Mapping[str, Any]] | None = None,
    redis_error: bool = False,
) -> SendOutcome:
    """Send ``msg`` through the adapter with queued responses and assert the contract invariants."""
    config = config or CONFIGS[channel_type]
    if not isinstance(responses, Mapping):
        responses = {DEFAULT_URLS[channel_type]: responses}
    queues = {url: list(items) for url, items in responses.items()}
    outcome = SendOutcome(result=None, error=None)

    def handler(request: httpx.Request) -> httpx.Response:
        outcome.requests.append(request)
        queue = queues.get(str(request.url))
        assert queue, f"unexpected request: {request.method} {request.url}"
        item = queue.pop(0)
        if isinstance(item, httpx.TransportError):
            raise item
        return item

    msg = msg or OutboundMessage(message_id="msg-1", to="+15550001", text="hello")
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        provider = PROVIDERS.get(channel_type)
        if provider is not None and provider.needs_redis:
            mailbox = Mailbox(outcome.writes, fail=redis_error)
            adapter = ADAPTERS[channel_type](config, http, redis=mailbox)  # type: ignore[call-arg]
        else:
            adapter = ADAPTERS[channel_type](config, http)
        with _captured_logs(caplog) as records:
            try:
                outcome.result = await adapter.send(msg)
            except SendError as exc:
                outcome.error = exc
    leftover = {url: len(queue) for url, queue in queues.items() if queue}
    assert not leftover, f"unused HTTP mocks: {leftover}"
    if expected_requests is not None:
        assert_requests(channel_type, config, outcome.requests, expected_requests)
    if expected_writes is not None:
        assert_writes(outcome.writes, expected_writes)
    _assert_no_secrets(channel_type, config, outcome, records)
    return outcome


def assert_requests(
    channel_type: str,
    config: BaseModel,
    actual: Sequence[httpx.Request],
    expected: Sequence[Mapping[str, Any]],
) -> None:
    """Check method, URL, form or JSON body, headers and basic auth of every request (the
    ``basic_auth`` config fields of the request, else of the provider header)."""
    assert len(actual) == len(expected), f"{len(actual)} requests made, {len(expected)} expected"
    for request, want in zip(actual, expected, strict=True):
        assert request.method == want.get("method", "POST")
        assert str(request.url) == want.get("url", DEFAULT_URLS[channel_type])
        if "form" in want:
            assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
            form = parse_qs(request.content.decode(), keep_blank_values=True)
            assert form == {
                k: [v] if isinstance(v, str) else list(v) for k, v in want["form"].items()
            }
        if "json" in want:
            assert httpx.Response(200, content=request.content).json() == want["json"]
        for name, value in want.get("headers", {}).items():
            assert request.headers.get(name) == value, name
        auth_fields = want.get("basic_auth", BASIC_AUTH.get(channel_type))
        if auth_fields:  # a request may name other fields (Twilio's API key) than the header's
            user, password = (_plain(getattr(config, f)) for f in auth_fields)
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            assert request.headers.get("Authorization") == f"Basic {token}"


@contextmanager
def _captured_logs(caplog: pytest.LogCaptureFixture | None) -> Iterator[list[logging.LogRecord]]:
    """Capture every log record at DEBUG, through caplog when given, else a private handler."""
    if caplog is not None:
        with caplog.at_level(logging.DEBUG):
            start = len(caplog.records)
            records: list[logging.LogRecord] = []
            yield records
            records.extend(caplog.records[start:])
        return
    handler = _ListHandler()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler.records
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


class _ListHandler(logging.Handler):
    """Keeps every record it is given."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _assert_no_secrets(
    channel_type: str, config: BaseModel, outcome: SendOutcome, records: list[logging.LogRecord]
) -> None:
    """Fail if a secret appears in a request URL or body, a log record, the result or the error."""
    places = [str(r.url) for r in outcome.requests]
    places += [r.content.decode(errors="replace") for r in outcome.requests]
    places += [repr(w) for w in outcome.writes]
    places += [r.getMessage() for r in records]
    places += [repr(outcome.result), str(outcome.error), repr(outcome.error)]
    if outcome.error is not None:
        places += [outcome.error.detail, repr(vars(outcome.error))]
    for secret in secret_values(channel_type, config):
        for form in {secret, quote(secret), quote_plus(secret)}:
            leaks = [place for place in places if form in place]
            assert not leaks, f"secret of {channel_type} leaked into: {leaks}"


def _plain(value: object) -> str:
    """Return a config value as plain text, revealing a SecretStr."""
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


@dataclass
class SmtpOutcome:
    """What one SMTP harness run produced: a result or an error, and each DATA the server took."""

    result: SendResult | None
    error: SendError | None
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    data: list[bytes] = field(default_factory=list)


async def run_smtp_send(
    channel_type: str,
    msg: OutboundMessage,
    config: BaseModel,
    *,
    server: bool = True,
    caplog: pytest.LogCaptureFixture | None = None,
) -> SmtpOutcome:
    """Send ``msg`` to the sandbox's aiosmtpd server on a free port (or, ``server=False``, to a
    port nothing listens on) and check no ``secret_fields`` value reaches the DATA, the logs,
    the result or the error."""
    runtime = SandboxRuntime(SandboxConfig(smtp_port=0))
    recorder = Recorder(runtime.store)
    outcome = SmtpOutcome(result=None, error=None)
    async with smtp_server(runtime, recorder)():
        port = runtime.ports["smtp"] if server else _closed_port()
        adapter = ADAPTERS[channel_type](config.model_copy(update={"port": port}), None)  # type: ignore[arg-type]
        with _captured_logs(caplog) as records:
            try:
                outcome.result = await adapter.send(msg)
            except SendError as exc:
                outcome.error = exc
    outcome.envelopes, outcome.data = recorder.envelopes, recorder.raw
    places = [d.decode(errors="replace") for d in outcome.data]
    places += [r.getMessage() for r in records]
    places += [repr(outcome.result), str(outcome.error), repr(outcome.error)]
    if outcome.error is not None:
        places += [outcome.error.detail, repr(vars(outcome.error))]
    for secret in secret_values(channel_type, config):
        leaks = [place for place in places if secret in place]
        assert not leaks, f"secret of {channel_type} leaked into: {leaks}"
    return outcome


def assert_smtp_data(outcome: SmtpOutcome, expected: Sequence[Mapping[str, Any]]) -> None:
    """Check each DATA the server accepted: envelope, headers, content type, text and html."""
    assert len(outcome.data) == len(expected), f"{len(outcome.data)} messages, {len(expected)}"
    for (mail_from, rcpt_tos), raw, want in zip(
        outcome.envelopes, outcome.data, expected, strict=True
    ):
        if "mail_from" in want:
            assert mail_from == want["mail_from"]
        if "rcpt_to" in want:
            assert rcpt_tos == list(want["rcpt_to"])
        lines = raw.replace(b"\r\n", b"\n")
        email = message_from_bytes(lines, _class=EmailMessage, policy=policy.default)
        for name, value in want.get("headers", {}).items():
            got = email.get(name)
            assert (None if got is None else str(got)) == value, name
        if "content_type" in want:
            assert email.get_content_type() == want["content_type"]
        for subtype in ("plain", "html"):
            key = "text" if subtype == "plain" else "html"
            if key in want:
                part = email.get_body(preferencelist=(subtype,))
                assert part is not None, key
                assert part.get_content_type() == f"text/{subtype}", key
                assert str(part.get_content()).rstrip("\n") == want[key]


def _closed_port() -> int:
    """A loopback port nothing listens on (just released by the OS)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port
