"""The flow language: what a flow file may say, as pydantic models (the JSON Schema's source).

See ``docs/flows.md`` for the reference with an example of every trigger and step. Models only
check shape here; references between steps, expressions and allow-lists are checked by
:mod:`orchestrator.engine.flowfile`, which knows the file and its line numbers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from orchestrator.engine.durations import duration_schema, parse_duration
from orchestrator.media import MEDIA as CHANNELS
from orchestrator.media import Medium as Channel

SPEC_VERSION = 1
STAGES = ("awareness", "consideration", "purchase", "onboarding", "support", "renewal", "win-back")
PURPOSES = ("transactional", "service", "marketing")
STATUSES = ("failed", "undelivered", "read", "delivered", "sent")
STEP_ID = r"^[a-z][a-z0-9_-]{0,63}$"

Stage = Literal[
    "awareness", "consideration", "purchase", "onboarding", "support", "renewal", "win-back"
]
Purpose = Literal["transactional", "service", "marketing"]
StepRef = Annotated[str, Field(pattern=STEP_ID)]


class Spec(BaseModel):
    """Base of every part of a flow: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    return parse_duration(str(value))


_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

Duration = Annotated[timedelta, Field(json_schema_extra=duration_schema)]


# ---------------------------------------------------------------------------------- triggers


class MessageTrigger(Spec):
    """An inbound message on one of ``channels`` whose text matches.

    ``match`` is ``keyword`` (first word in ``words``), ``any_word`` (any word in ``words``),
    ``regex`` (``pattern``), ``expression`` (``when``), ``catch_all`` or ``new_customer``.
    """

    type: Literal["message"]
    channels: tuple[Channel, ...] = CHANNELS
    match: Literal["keyword", "any_word", "regex", "expression", "catch_all", "new_customer"]
    words: tuple[str, ...] = ()
    pattern: str | None = None
    when: str | None = None
    interrupts: bool = Field(
        False, description="start even when the customer is inside another flow's wait"
    )

    @model_validator(mode="after")
    def _arguments(self) -> MessageTrigger:
        needs = {"keyword": "words", "any_word": "words", "regex": "pattern", "expression": "when"}
        field = needs.get(self.match)
        if field and not getattr(self, field):
            raise ValueError(f"match: {self.match} needs `{field}`")
        return self


class EventTrigger(Spec):
    """A business event ``event.<name>`` arrives, and ``when`` (if given) holds."""

    type: Literal["event"]
    name: str = Field(pattern=r"^[a-z0-9_.-]+$")
    when: str | None = None


class ScheduleTrigger(Spec):
    """A cron schedule in a time zone, over the customers for whom ``audience`` holds."""

    type: Literal["schedule"]
    cron: str
    timezone: str = "UTC"
    audience: str

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from cronsim import CronSim, CronSimError  # a parser only: no I/O

        try:
            CronSim(value, _EPOCH)
        except CronSimError as exc:
            raise ValueError(f"invalid cron expression: {exc}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class StageTrigger(Spec):
    """The customer enters lifecycle ``stage``."""

    type: Literal["stage"]
    stage: Stage


class StatusTrigger(Spec):
    """A message the customer was sent reaches one of ``statuses``."""

    type: Literal["status"]
    statuses: tuple[Literal["failed", "undelivered", "read", "delivered", "sent"], ...]
    channels: tuple[Channel, ...] = CHANNELS


class TimerTrigger(Spec):
    """A named customer timer (started by a ``set`` step's ``timers``) fires."""

    type: Literal["timer"]
    name: str = Field(pattern=r"^[a-z0-9_.-]+$")


Trigger = Annotated[
    MessageTrigger | EventTrigger | ScheduleTrigger | StageTrigger | StatusTrigger | TimerTrigger,
    Field(discriminator="type"),
]


# ------------------------------------------------------------------------------------- steps


class StepBase(Spec):
    """What every step has: an id, and where to go next (default: the following step)."""

    id: StepRef
    next: StepRef | None = None


Text = str | dict[str, str]
"""A template, or per-language templates keyed by language code."""

CHOICE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$"

# WhatsApp's limits on interactive messages (Cloud API reference, "Interactive messages").
MAX_BUTTONS = 3
BUTTON_TITLE_CHARS = 20
MENU_BUTTON_CHARS = 20
MENU_ROWS = 10
ROW_TITLE_CHARS = 24
ROW_DESCRIPTION_CHARS = 72
SECTION_TITLE_CHARS = 24


def _texts(value: Text | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value.values())


def _check_length(value: Text | None, limit: int, what: str) -> None:
    """A literal text (no template syntax) longer than WhatsApp allows is an error now; a
    rendered one that overruns is found at send time (the message then goes as text)."""
    for text in _texts(value):
        if "{" not in text and len(text) > limit:
            raise ValueError(f"{what} {text!r} is longer than {limit} characters")


class Button(Spec):
    """A reply button: its ``id`` and the ``title`` the customer taps (and sends back)."""

    id: str = Field(pattern=CHOICE_ID)
    title: Text

    @model_validator(mode="after")
    def _short(self) -> Button:
        _check_length(self.title, BUTTON_TITLE_CHARS, "button title")
        return self


class MenuRow(Spec):
    """One choice of a menu."""

    id: str = Field(pattern=CHOICE_ID)
    title: Text
    description: Text | None = None

    @model_validator(mode="after")
    def _short(self) -> MenuRow:
        _check_length(self.title, ROW_TITLE_CHARS, "menu row title")
        _check_length(self.description, ROW_DESCRIPTION_CHARS, "menu row description")
        return self


class MenuSection(Spec):
    """A group of menu rows, with an optional heading."""

    title: Text | None = None
    rows: tuple[MenuRow, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _short(self) -> MenuSection:
        _check_length(self.title, SECTION_TITLE_CHARS, "menu section title")
        return self


class Menu(Spec):
    """A list of choices behind a button (WhatsApp's list message)."""

    button: Text
    sections: tuple[MenuSection, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _fits(self) -> Menu:
        _check_length(self.button, MENU_BUTTON_CHARS, "menu button")
        ids = [row.id for section in self.sections for row in section.rows]
        if len(ids) > MENU_ROWS:
            raise ValueError(f"a menu holds at most {MENU_ROWS} rows, this one has {len(ids)}")
        if len(set(ids)) != len(ids):
            raise ValueError("menu row ids must be unique")
        if len(self.sections) > 1 and any(s.title is None for s in self.sections):
            raise ValueError("a menu of several sections needs a title on each")
        return self


class WhatsAppTemplate(Spec):
    """A template approved by Meta, sent on WhatsApp when the customer's window is closed."""

    name: str = Field(pattern=r"^[a-z0-9_]{1,512}$")
    language: str | None = Field(
        None, description="Meta's language code (`en_US`); default: the message's language"
    )
    params: tuple[str, ...] = Field((), description="body parameters {{1}}, {{2}}, ... (templates)")


class MessageParts(Spec):
    """What a message may carry besides its text (``template``), where the channel has it."""

    subject: Text | None = Field(None, description="email subject (a template)")
    html: Text | None = Field(
        None, description="email HTML body (a template; its variables are HTML-escaped)"
    )
    buttons: tuple[Button, ...] = Field(
        (), max_length=MAX_BUTTONS, description="WhatsApp reply buttons; elsewhere, listed"
    )
    menu: Menu | None = Field(None, description="WhatsApp list of choices; elsewhere, listed")
    whatsapp_template: WhatsAppTemplate | None = Field(
        None, description="what to send on WhatsApp once the customer-service window is closed"
    )

    @model_validator(mode="after")
    def _one_kind_of_choices(self) -> MessageParts:
        if self.buttons and self.menu:
            raise ValueError("a message has `buttons` or a `menu`, not both")
        ids = [b.id for b in self.buttons]
        if len(set(ids)) != len(ids):
            raise ValueError("button ids must be unique")
        return self


class SendStep(MessageParts, StepBase):
    """Send a template; ``template`` is text, or per-language texts keyed by language code."""

    type: Literal["send"]
    template: Text
    channel: Literal["reply", "preferred"] | tuple[Channel, ...] = "reply"
    purpose: Purpose | None = None


class Category(Spec):
    """One way to classify a reply: a named test with its arguments."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    test: Literal[
        "has_any_word",
        "has_number_between",
        "has_date",
        "has_email",
        "has_phone",
        "regex",
        "expression",
    ]
    args: tuple[str | int | float, ...] = ()


class AskStep(MessageParts, StepBase):
    """Send a question, wait for the reply, classify it, and branch by category."""

    type: Literal["ask"]
    template: Text
    channel: Literal["reply", "preferred"] | tuple[Channel, ...] = "reply"
    purpose: Purpose | None = None
    timeout: Duration | None = None
    categories: tuple[Category, ...] = ()
    branches: dict[str, StepRef] = Field(default_factory=dict)

    _t = field_validator("timeout", mode="before")(lambda v: None if v is None else _duration(v))


class Case(Spec):
    """A ``switch`` branch: go to ``next`` when the expression ``when`` holds."""

    when: str
    next: StepRef


class SwitchStep(StepBase):
    """Branch on the first case whose expression holds, else ``default``."""

    type: Literal["switch"]
    cases: tuple[Case, ...] = Field(min_length=1)
    default: StepRef | None = None


class SplitStep(StepBase):
    """Random A/B/n split, stable per customer: weights per branch name, then branches."""

    type: Literal["split"]
    weights: dict[str, int] = Field(min_length=2)
    branches: dict[str, StepRef]

    @model_validator(mode="after")
    def _same_keys(self) -> SplitStep:
        if set(self.weights) != set(self.branches):
            raise ValueError("`weights` and `branches` must name the same variants")
        if any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError("weights must be non-negative and not all zero")
        return self


class ConsentChange(Spec):
    """Record the customer's consent answer for a purpose.

    ``channel: reply`` is the channel the run is on; ``all`` covers every channel.
    ``confirmed`` is the second step of a double opt-in.
    """

    purpose: Purpose
    status: Literal["granted", "confirmed", "revoked"]
    channel: Literal["reply", "all"] | Channel = "reply"


class SetStep(StepBase):
    """Set state: fields (values are templates), tags, stage, preferred channel, language,
    consent, and named timers that start ``timer`` triggers later."""

    type: Literal["set"]
    consent: tuple[ConsentChange, ...] = ()
    fields: dict[str, str] = Field(default_factory=dict)
    add_tags: tuple[str, ...] = ()
    remove_tags: tuple[str, ...] = ()
    stage: Stage | None = None
    preferred_channel: Channel | None = None
    language: str | None = Field(None, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
    timers: dict[str, Duration] = Field(default_factory=dict)

    @field_validator("timers", mode="before")
    @classmethod
    def _timers(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: _duration(v) for k, v in value.items()}
        return value


class WaitStep(StepBase):
    """Wait ``duration``, or ``until`` a local time (HH:MM) in the customer's zone, or for
    ``event`` with a ``timeout`` (then ``timeout_next``)."""

    type: Literal["wait"]
    duration: Duration | None = None
    until: str | None = Field(None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    event: str | None = Field(None, pattern=r"^[a-z0-9_.-]+$")
    timeout: Duration | None = None
    timeout_next: StepRef | None = None

    _d = field_validator("duration", "timeout", mode="before")(
        lambda v: None if v is None else _duration(v)
    )

    @model_validator(mode="after")
    def _one_kind(self) -> WaitStep:
        kinds = [k for k in ("duration", "until", "event") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a wait needs exactly one of `duration`, `until` or `event`")
        if self.event is None and (self.timeout or self.timeout_next):
            raise ValueError("`timeout` and `timeout_next` go with `event`")
        return self


class CallStep(StepBase):
    """An HTTP request to an allow-listed host; the executor performs it and resumes the flow.

    ``url`` is a template whose scheme and host are literal. The response is kept in
    ``run.results.<step id>`` as ``{status, json, text}``.
    """

    type: Literal["call"]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    body: dict[str, str] | None = None
    timeout: Duration = Field(timedelta(seconds=10), le=timedelta(seconds=30))
    """At most 30 s: the call holds up its customer's partition while it runs."""
    on_error: StepRef | None = None
    on_timeout: StepRef | None = None

    _t = field_validator("timeout", mode="before")(_duration)


class RouteStep(StepBase):
    """Hand the conversation to an agent queue (routing itself comes later)."""

    type: Literal["route"]
    queue: str = Field(pattern=r"^[a-z0-9_.-]+$")
    skills: tuple[str, ...] = ()
    priority: int = Field(0, ge=0, le=10)
    note: str | None = None


class EmitStep(StepBase):
    """Publish a business event ``event.<name>`` with templated data."""

    type: Literal["emit"]
    event: str = Field(pattern=r"^[a-z0-9_.-]+$")
    data: dict[str, str] = Field(default_factory=dict)


class SubflowStep(StepBase):
    """Run another flow, then come back to ``next``."""

    type: Literal["subflow"]
    flow: str = Field(pattern=STEP_ID)


class EndStep(StepBase):
    """End the run."""

    type: Literal["end"]


Step = Annotated[
    SendStep
    | AskStep
    | SwitchStep
    | SplitStep
    | SetStep
    | WaitStep
    | CallStep
    | RouteStep
    | EmitStep
    | SubflowStep
    | EndStep,
    Field(discriminator="type"),
]


# -------------------------------------------------------------------------------------- flow


class Reentry(Spec):
    """Whether a customer may start this flow again: ``never``, ``always`` or ``after`` a time."""

    policy: Literal["never", "always", "after"] = "always"
    after: Duration | None = None

    _a = field_validator("after", mode="before")(lambda v: None if v is None else _duration(v))

    @model_validator(mode="after")
    def _after(self) -> Reentry:
        if (self.policy == "after") != (self.after is not None):
            raise ValueError("`after` goes with policy: after, and only with it")
        return self


class Guards(Spec):
    """Loop guards: a run that trips one ends with a recorded reason."""

    max_steps_per_event: int = Field(50, ge=1, le=1000)
    max_visits_per_step: int = Field(10, ge=1, le=1000)


class Migration(Spec):
    """Move runs waiting on ``from_version`` to this version: old step id → new step id."""

    from_version: int = Field(ge=1)
    steps: dict[str, StepRef]


def _reentry_schema(schema: dict[str, Any]) -> None:
    """Editors should also accept the shorthands ``never`` and ``always``."""
    ref = {k: schema.pop(k) for k in list(schema) if k in ("$ref", "allOf")}
    schema["anyOf"] = [ref, {"enum": ["never", "always"], "type": "string"}]


class Flow(Spec):
    """One customer journey."""

    spec_version: int
    id: str = Field(pattern=STEP_ID)
    version: int = Field(ge=1)
    description: str = ""
    stage: Stage
    owner: str = Field(min_length=1)
    channels: tuple[Channel, ...] = CHANNELS
    priority: int = 0
    default_language: str = "en"
    trigger: Trigger
    reentry: Reentry = Field(Reentry(), json_schema_extra=_reentry_schema)
    exit_when: tuple[str, ...] = ()
    expires_after: Duration | None = None
    guards: Guards = Guards()
    migrate: tuple[Migration, ...] = ()
    steps: tuple[Step, ...] = Field(min_length=1)

    _e = field_validator("expires_after", mode="before")(
        lambda v: None if v is None else _duration(v)
    )

    @field_validator("reentry", mode="before")
    @classmethod
    def _reentry_shorthand(cls, value: object) -> object:
        # `reentry: never` / `reentry: always` / `reentry: {after: 30d}`
        if isinstance(value, str):
            return {"policy": value}
        if isinstance(value, dict) and "after" in value and "policy" not in value:
            return {"policy": "after", **value}
        return value

    @field_validator("spec_version")
    @classmethod
    def _supported(cls, value: int) -> int:
        if value != SPEC_VERSION:
            raise ValueError(
                f"spec_version {value} is not supported (this build reads {SPEC_VERSION})"
            )
        return value

    def step(self, step_id: str) -> Step:
        """A step by id (validated to exist)."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def after(self, step_id: str) -> str | None:
        """The id of the step following ``step_id`` in the file, if any."""
        ids = [s.id for s in self.steps]
        index = ids.index(step_id)
        return ids[index + 1] if index + 1 < len(ids) else None
