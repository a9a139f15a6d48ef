"""The CloudEvents 1.0 envelope and the typed data of each event type.

Every record on every topic is one structured-mode CloudEvent. Unknown envelope attributes and
unknown data fields are kept (``extra="allow"``) so that a producer's additions travel through.

Example, on ``continuum.inbound.sms`` with key ``+15551230001``::

    {"specversion": "1.0", "id": "SM8f1c", "source": "/channels/sms/twilio",
     "type": "message.received", "time": "2026-11-22T12:00:00Z",
     "datacontenttype": "application/json",
     "data": {"channel": "sms", "from": "+15551230001", "to": "+15559990000",
              "text": "Where is my order?", "attachments": [], "locale": "en-US"}}
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator.errors import BadRecord

CONTENT_TYPE = "application/cloudevents+json"

MESSAGE_RECEIVED = "message.received"
MESSAGE_SEND = "message.send"
MESSAGE_STATUS = "message.status"
TIMER_FIRED = "timer.fired"
CALL_COMPLETED = "call.completed"
SCHEDULE_FIRED = "schedule.fired"
AGENT_TASK = "agent.task"
BUSINESS_PREFIX = "event."
DEAD_LETTER = "continuum.dead_letter"
AUDIT_PREFIX = "audit."

T = TypeVar("T", bound=BaseModel)

DeliveryStatus = Literal["queued", "sent", "delivered", "read", "failed", "undelivered", "unknown"]


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope in structured JSON mode; extension attributes are kept."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"]
    id: str = Field(min_length=1, max_length=512)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    time: datetime | None = None
    datacontenttype: str | None = "application/json"
    subject: str | None = None
    data: dict[str, Any] | None = None

    def to_bytes(self) -> bytes:
        """Serialise as the wire format, dropping unset optional attributes."""
        return orjson.dumps(self.model_dump(mode="json", exclude_none=True))


class _Data(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class MessageReceived(_Data):
    """``message.received``: a customer wrote to us on some channel."""

    channel: str = Field(min_length=1, max_length=32)
    sender: str = Field(alias="from", min_length=1, max_length=320)
    recipient: str | None = Field(None, alias="to", max_length=320)
    text: str = Field("", max_length=64_000)
    attachments: list[str] = Field(default_factory=list)
    locale: str | None = None
    customer_id: str | None = None


class MessageSend(_Data):
    """``message.send``: the command to deliver one outbound message."""

    message_id: str
    customer_id: str
    channel: str
    to: str
    sender: str | None = None
    text: str
    attachments: list[str] = Field(default_factory=list)
    purpose: str = "service"
    in_reply_to: str | None = None
    flow_id: str | None = None
    flow_version: int | None = None
    step: str | None = None
    fallback: list[str] = Field(default_factory=list)
    language: str | None = None
    not_before: datetime | None = None
    template_name: str | None = None
    policy_rule: str | None = None


class MessageStatus(_Data):
    """``message.status``: a provider's delivery receipt for a message it accepted."""

    provider: str
    external_id: str
    status: DeliveryStatus
    provider_status: str | None = None
    error_code: str | None = None
    error_message: str | None = None


class AuditRecord(_Data):
    """One step of one interaction, as the ledger stores it.

    ``record_id`` is deterministic (derived from the event and the step) so that a redelivered
    event writes the same record and the ledger keeps one.
    """

    record_id: str
    occurred_at: datetime
    step: str
    outcome: str
    customer_id: str | None = None
    channel: str | None = None
    address: str | None = None
    event_id: str | None = None
    message_id: str | None = None
    flow_id: str | None = None
    flow_version: int | None = None
    flow_step: str | None = None
    provider: str | None = None
    external_id: str | None = None
    reason: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class DeadLetter(_Data):
    """What ``continuum.dlq`` holds: why a record was refused, and the record itself."""

    reason: str
    detail: str
    stage: str
    topic: str
    partition: int
    offset: int
    key: str | None = None
    key_b64: str | None = None
    original_b64: str
    original_size: int | None = None  # set, with the digest, when original_b64 is cut short
    original_sha256: str | None = None


def parse_envelope(raw: bytes) -> CloudEvent:
    """Decode one record's value into a CloudEvent, or raise :class:`BadRecord`."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRecord("not_json", f"value is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BadRecord("not_cloudevent", "value is JSON but not an object")
    try:
        return CloudEvent.model_validate(doc)
    except ValidationError as exc:
        raise BadRecord("not_cloudevent", _explain(exc)) from None


def parse_data(event: CloudEvent, model: type[T]) -> T:
    """Validate an event's ``data`` as ``model``, or raise :class:`BadRecord`."""
    try:
        return model.model_validate(event.data or {})
    except ValidationError as exc:
        raise BadRecord("invalid_data", _explain(exc)) from None


def _explain(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()[:5]
    )
