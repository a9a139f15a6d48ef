"""The CloudEvents 1.0 envelope and the typed data of each event type.

Every record on every topic is one CloudEvent, in either content mode of the Kafka protocol
binding, chosen as the binding says: a ``content-type`` header of ``application/cloudevents...``
means *structured* (the value is the whole event as JSON); otherwise ``ce_*`` headers mean
*binary* (each header one attribute, ``content-type`` the ``datacontenttype``, the value the
data); a record with neither is read as structured. Continuum itself publishes structured mode,
each envelope built by :func:`new_event`.

Unknown envelope attributes are kept (``extra="allow"``), and so are unknown data fields of the
events other systems write to us (``message.received``, ``event.<name>``), so that a producer's
additions travel through. The data Continuum writes itself (commands, audit records, the status,
timer, call, agent and dead-letter events) forbids unknown fields (``extra="forbid"``): a
misspelt field is an error where it is written, and a record that carries one is refused
(dead-lettered) where it is read.

Example, on ``continuum.inbound.sms`` with key ``+15551230001``::

    {"specversion": "1.0", "id": "SM8f1c", "source": "/channels/sms/twilio",
     "type": "message.received", "time": "2026-11-22T12:00:00Z",
     "datacontenttype": "application/json",
     "data": {"channel": "sms", "from": "+15551230001", "to": "+15559990000",
              "text": "Where is my order?", "attachments": [], "locale": "en-US"}}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer
from pydantic_core import to_jsonable_python

from channels.base import OutboundMessage
from orchestrator.errors import BadRecord
from orchestrator.media import Medium
from orchestrator.provenance import Provenance

if TYPE_CHECKING:
    from orchestrator.engine.decisions import SendMessage

CONTENT_TYPE = "application/cloudevents+json"
CE_HEADER_PREFIX = "ce_"

Headers = Sequence[tuple[str, bytes]]
"""Kafka record headers as aiokafka gives them: (name, value) pairs, names may repeat."""

MESSAGE_RECEIVED = "message.received"
MESSAGE_SEND = "message.send"
MESSAGE_STATUS = "message.status"
TIMER_FIRED = "timer.fired"
CALL_COMPLETED = "call.completed"
SCHEDULE_FIRED = "schedule.fired"
AGENT_TASK = "agent.task"
AGENT_MESSAGE = "agent.message"
AGENT_REPLY = "agent.reply"
AGENT_CANCEL = "agent.cancel"
RETURNED = "returned"
"""The extension attribute of a customer's message the router gave back to flows (its
conversation had ended): the engine does not forward it to an agent again."""
BUSINESS_PREFIX = "event."
DEAD_LETTER = "continuum.dead_letter"
AUDIT_PREFIX = "audit."

T = TypeVar("T", bound=BaseModel)

DeliveryStatus = Literal["queued", "sent", "delivered", "read", "failed", "undelivered", "unknown"]
FlowStatus = Literal[
    "queued", "sent", "delivered", "read", "failed", "undelivered", "unknown", "delivery_overdue"
]
"""What a customer's flows hear about a message: its delivery status, or ``delivery_overdue``
(sent, and no delivery receipt within ``status.overdue_s``)."""


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
        """Serialise as the wire format, dropping unset optional attributes.

        The same bytes as ``orjson.dumps(self.model_dump(mode="json", exclude_none=True))``
        (tests/unit/test_events_fast.py), without building the intermediate dict tree.
        """
        return dumps(present(self))


class _Data(BaseModel):
    """The data of an event other systems write: their extra fields are kept."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class _Written(BaseModel):
    """The data of an event Continuum writes: a field it does not declare is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class MessageReceived(_Data):
    """``message.received``: a customer wrote to us on some channel."""

    channel: str = Field(min_length=1, max_length=32)
    sender: str = Field(alias="from", min_length=1, max_length=320)
    recipient: str | None = Field(None, alias="to", max_length=320)
    text: str = Field("", max_length=64_000)
    attachments: list[str] = Field(default_factory=list)
    locale: str | None = None
    customer_id: str | None = None


class Alternate(_Written):
    """A fallback channel of a message, resolved at decision time: the address on that channel
    and the message rendered for it (``MessageSend.alternates``)."""

    channel: str
    to: str
    text: str
    content: dict[str, Any] | None = None
    subject: str | None = None
    html: str | None = None


# One outbound message has three shapes: the engine's SendMessage decision, this command, and
# the adapter's OutboundMessage. MessageSend.from_decision and MessageSend.outbound are the only
# places it changes shape (tests/unit/test_message_shapes.py checks that every field travels,
# or is listed as one that does not).
class MessageSend(_Written):
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
    decided_at: datetime | None = None
    """When the decision was made; send time applies only consent revoked since then."""
    consent_basis: str | None = None
    """Why the decision's consent check passed (``marketing consent granted (...)``)."""
    inbound_at: datetime | None = None
    """The customer's last inbound message on ``channel`` as the decision saw it."""
    content: dict[str, Any] | None = None
    """Provider content beyond the text (WhatsApp buttons, list, template with parameters),
    as :class:`channels.base.OutboundMessage` takes it; None is the text alone."""
    subject: str | None = None
    """An email's subject; None is the provider's configured default."""
    html: str | None = None
    """An email's HTML body, beside ``text``."""
    alternates: list[Alternate] = Field(default_factory=list)
    """The ``fallback`` channels, in order, each with its address and rendered text: the next
    is tried once when this message fails permanently or has no receipt in time
    (:mod:`orchestrator.delivery.fallback`)."""
    receipt_timeout_s: float | None = None
    """The send step's ``receipt_timeout``: no delivery receipt by then falls back."""
    fallback_from: str | None = None
    """The id of the original message this one is a fallback of."""
    fallback_reason: str | None = None
    """Why it fell back (``permanent:131026``, ``receipt_timeout``)."""

    @classmethod
    def from_decision(
        cls,
        d: SendMessage,
        *,
        customer_id: str,
        in_reply_to: str,
        decided_at: datetime,
        inbound_at: datetime | None,
    ) -> MessageSend:
        """The command for the engine's ``send_message`` decision ``d``, made at ``decided_at``
        for the event ``in_reply_to``; ``inbound_at``: the customer's last inbound message on
        the decision's channel."""
        return cls(
            message_id=d.message_id,
            customer_id=customer_id,
            channel=d.channel,
            to=d.to,
            sender=d.sender,
            text=d.text,
            purpose=d.purpose,
            in_reply_to=in_reply_to,
            flow_id=d.flow_id,
            flow_version=d.flow_version,
            step=d.step,
            fallback=list(d.fallback),
            language=d.language,
            not_before=d.not_before,
            template_name=d.template_name,
            policy_rule=d.policy_rule,
            decided_at=decided_at,
            consent_basis=d.consent_basis,
            inbound_at=inbound_at,
            content=dict(d.content) if d.content else None,
            subject=d.subject,
            html=d.html,
            alternates=[
                Alternate(
                    channel=a.channel,
                    to=a.to,
                    text=a.text,
                    content=dict(a.content) if a.content else None,
                    subject=a.subject,
                    html=a.html,
                )
                for a in d.alternates
            ],
            receipt_timeout_s=d.receipt_timeout_s,
        )

    def outbound(self, status_callback: str | None) -> OutboundMessage:
        """What the channel adapter is given: the message, where the provider should post its
        receipts, and the conversation (the customer) a reply threads under."""
        return OutboundMessage(
            message_id=self.message_id,
            to=self.to,
            text=self.text,
            sender=self.sender,
            attachments=tuple(self.attachments),
            status_callback=status_callback,
            thread_id=self.customer_id,
            content=self.content or self.template_content(),
            subject=self.subject,
            html=self.html,
        )

    def template_content(self) -> dict[str, Any] | None:
        """The provider content of a send the policy turned into an approved template
        (WhatsApp outside its window: ``template_name``) when the command has no ``content`` of
        its own (the engine fills it; a command recorded before it did has only the name): the
        template in the message's language, without parameters; None for plain text."""
        if not self.template_name:
            return None
        return {"kind": "template", "name": self.template_name, "language": self.language or "en"}

    @property
    def provenance(self) -> Provenance:
        """The flow step that decided this message."""
        return Provenance(self.flow_id, self.flow_version, self.step)


class MessageStatus(_Written):
    """``message.status``: a provider's delivery receipt for a message it accepted."""

    provider: str
    external_id: str
    status: DeliveryStatus
    provider_status: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    opted_out: bool = Field(
        False,
        description="the provider says the recipient opted out or complained (SendGrid "
        "spamreport/unsubscribe, Twilio 21610): the customer is opted out of the medium",
    )
    opt_out_purpose: str | None = Field(
        None,
        description="the opt-out covers only this purpose on the medium (Meta 131050: "
        "marketing); none: a whole opt-out",
    )


class AuditRecord(_Written):
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

    @property
    def provenance(self) -> Provenance:
        """The flow step the record is about (its ``flow_*`` fields)."""
        return Provenance(self.flow_id, self.flow_version, self.flow_step)


class DeadLetter(_Written):
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
    # The record's headers, each value in base64: a binary-mode CloudEvent's ce_* attributes
    # live there, so without them its original could not be read again.
    headers: list[tuple[str, str]] = []


_DUMP_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS
"""Dates and times through pydantic (orjson writes a historic offset with seconds as
``+02:60``, pydantic as ``+02:59``); other keys as strings, as pydantic's JSON mode does."""


def present(model: BaseModel) -> dict[str, Any]:
    """``model``'s fields then its extras, leaving out the ``None`` ones: the top level of
    ``model_dump(exclude_none=True)``, values not converted (for :func:`dumps`). Field names,
    not aliases."""
    out = {k: v for k, v in model.__dict__.items() if v is not None}
    extra = model.__pydantic_extra__
    if extra:
        out.update((k, v) for k, v in extra.items() if v is not None)
    return out


def dumps(doc: dict[str, Any]) -> bytes:
    """JSON of ``doc`` as ``model_dump(mode="json")`` and orjson would write it: orjson writes
    UUIDs, enums and the JSON types the way pydantic does; anything else (dates and times too)
    goes through pydantic, a nested model as ``exclude_none`` dumps it."""
    return orjson.dumps(doc, default=_jsonable, option=_DUMP_OPTIONS)


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    return to_jsonable_python(value)


def new_event(
    type_: str,
    id_: str,
    source: str,
    data: BaseModel | Mapping[str, Any],
    *,
    time: datetime | None = None,
    customer_id: str | None = None,
    exclude_none: bool = False,
) -> CloudEvent:
    """A CloudEvents 1.0 envelope Continuum writes: every one of them is built here.

    ``data`` is the event's typed data, dumped as JSON by alias (``exclude_none`` as in
    ``model_dump``), or a mapping taken as it is: the free fields of a business event, and a
    ``message.received`` as a provider's webhook said it (the inbound worker validates it, and
    dead-letters it when it does not fit). ``customer_id`` sets the ``customerid`` extension
    attribute that events on ``continuum.customer`` carry.
    """
    body = (
        data.model_dump(mode="json", by_alias=True, exclude_none=exclude_none)
        if isinstance(data, BaseModel)
        else dict(data)
    )
    extensions = {} if customer_id is None else {"customerid": customer_id}
    return CloudEvent(
        specversion="1.0", id=id_, source=source, type=type_, time=time, data=body, **extensions
    )


def audit_event_bytes(record: AuditRecord, source: str) -> bytes:
    """The structured CloudEvent that carries ``record`` to the ledger: the same bytes as
    ``CloudEvent(specversion="1.0", id=record.record_id, source=source, type="audit." + step,
    time=record.occurred_at, data=record.model_dump(mode="json", exclude_none=True))
    .to_bytes()``, without building and validating the two models per record."""
    return dumps(
        {
            "specversion": "1.0",
            "id": record.record_id,
            "source": source,
            "type": AUDIT_PREFIX + record.step,
            "time": record.occurred_at,
            "datacontenttype": "application/json",
            "data": present(record),
        }
    )


def parse_envelope(raw: bytes, headers: Headers | None = None) -> CloudEvent:
    """Decode one record into a CloudEvent, in the mode its headers name; or raise BadRecord."""
    if headers and _is_binary(headers):
        return _parse_binary(raw, headers)
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


def _content_type(headers: Headers) -> str | None:
    for name, value in headers:
        if name.lower() == "content-type":
            return value.decode("utf-8", errors="replace").strip()
    return None


def _is_binary(headers: Headers) -> bool:
    content_type = (_content_type(headers) or "").lower()
    if content_type.startswith("application/cloudevents"):
        return False
    return any(name.lower() == CE_HEADER_PREFIX + "specversion" for name, _ in headers)


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "application/json").split(";", 1)[0].strip().lower()
    return media in ("application/json", "text/json") or media.endswith("+json")


def _parse_binary(raw: bytes, headers: Headers) -> CloudEvent:
    attributes: dict[str, Any] = {}
    for name, value in headers:
        if not name.lower().startswith(CE_HEADER_PREFIX):
            continue
        attribute = name[len(CE_HEADER_PREFIX) :].lower()
        try:
            attributes[attribute] = value.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRecord("not_cloudevent", f"header {name} is not UTF-8") from None
    attributes.pop("data", None)
    content_type = _content_type(headers)
    attributes["datacontenttype"] = content_type
    if not _is_json(content_type):
        raise BadRecord(
            "invalid_data",
            f"binary-mode data of content-type {content_type!r}: Continuum's events carry JSON",
        )
    data: Any = None
    if raw:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadRecord("not_json", f"binary-mode value is not JSON: {exc}") from None
    if data is not None and not isinstance(data, dict):
        raise BadRecord("invalid_data", "binary-mode data is JSON but not an object")
    try:
        return CloudEvent.model_validate({**attributes, "data": data})
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


# The data of the events Continuum produces for itself: the producers build these models and
# hand them to new_event; the models also give them a schema (docs/asyncapi.yaml).


class CustomerAddress(_Data):
    """A customer named by where they can be reached."""

    channel: Medium
    address: str = Field(min_length=1, description="normalised (see docs/wire-format.md)")


class BusinessEvent(_Data):
    """``event.<name>``: something happened to a customer in another system; free fields."""

    customer: str | CustomerAddress = Field(description="a customer id, or {channel, address}")
    customer_id: str | None = Field(None, description="set on continuum.customer")


class TimerFired(_Written):
    """``timer.fired``: a flow timer is due."""

    timer_id: str
    customer_id: str
    purpose: str = Field(description="wait, wait_timeout, ask_timeout, expiry or named")
    name: str | None = None
    flow_id: str | None = None
    step: str | None = None
    due: datetime

    @field_serializer("due")
    def _due_iso(self, due: datetime) -> str:
        return due.isoformat()  # as the scheduler always wrote it: +00:00, not Z


class ScheduleFired(_Written):
    """``schedule.fired``: one cron tick of a scheduled flow, for one customer in its audience."""

    flow_id: str
    tick: datetime
    customer_id: str

    @field_serializer("tick")
    def _tick_iso(self, tick: datetime) -> str:
        return tick.isoformat()  # as the scheduler always wrote it: +00:00, not Z


class CallCompleted(_Written):
    """``call.completed``: the result of a flow's ``call`` step."""

    call_id: str
    customer_id: str
    status: int | None = Field(description="HTTP status, or null when no answer came")
    body: Any = Field(None, alias="json", description="the parsed JSON body, or null")
    text: str | None = Field(None, description="the body, at most 65,536 chars")
    error: str | None = Field(
        None, description="null, timeout, host_not_allowed, or an httpx exception class name"
    )


class StatusForFlows(_Written):
    """``message.status`` on ``continuum.customer``: a receipt matched to a message we sent."""

    status: FlowStatus
    channel: str | None = None
    customer_id: str
    message_id: str | None = None
    external_id: str
    error_code: str | None = None
    opted_out: bool = Field(
        False, description="the receipt's `opted_out`: the engine opts the customer out"
    )
    opt_out_purpose: str | None = Field(
        None, description="the receipt's `opt_out_purpose`: only this purpose is revoked"
    )
    provider: str | None = Field(None, description="the receipt's provider (`email.sendgrid`)")
    address: str | None = Field(None, description="the address the message was sent to")
    final: bool = Field(
        False,
        description="the message's outcome is settled: delivered or read, or failed with no "
        "fallback left to try",
    )
    fallback_to: str | None = Field(
        None, description="the channel a fallback was sent on after this status"
    )
    fallback_from: str | None = Field(
        None, description="this message is a fallback: the id of the original message"
    )


def flow_status(event_id: str, source: str, status: StatusForFlows) -> CloudEvent:
    """The ``message.status`` event that tells a customer's flows about their message (keyed
    and addressed by ``status.customer_id``): a matched receipt, or a send the provider
    refused because the recipient opted out."""
    return new_event(MESSAGE_STATUS, event_id, source, status, customer_id=status.customer_id)


class AgentTask(_Written):
    """``agent.task``: a conversation handed to a person."""

    task_id: str
    customer_id: str
    queue: str
    skills: list[str] = Field(default_factory=list)
    priority: int = Field(ge=0, le=10)
    note: str | None = None
    channel: str | None = None
    flow_id: str | None = None
    step: str | None = None


class AgentMessage(_Written):
    """``agent.message``: a customer's message for the agent who owns their conversation."""

    conversation_id: str
    customer_id: str
    agent: str | None = None
    channel: str
    sender: str | None = None
    recipient: str | None = None
    text: str = ""
    locale: str | None = None
    received_id: str = Field(description="the id of the customer's message.received event")


class AgentReply(_Written):
    """``agent.reply``: an agent's message to the customer of a conversation it owns."""

    conversation_id: str
    customer_id: str
    agent: str
    text: str = Field(min_length=1, max_length=4096)


class AgentCancel(_Written):
    """``agent.cancel``: the customer ended their conversation with people (they opted out, or
    left): the router abandons it if it waits, or closes it with ``reason`` if an agent has it."""

    conversation_id: str
    customer_id: str
    reason: str
