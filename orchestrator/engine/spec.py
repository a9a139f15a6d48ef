"""The flow language: what a flow file may say, as pydantic models (the JSON Schema's source).

See ``docs/flows.md`` for the reference with an example of every trigger and step. Models only
check shape here; references between steps, expressions and allow-lists are checked by
:mod:`orchestrator.engine.flowfile`, which knows the file and its line numbers.

The triggers and the flow are here; each step type is in ``orchestrator/engine/steps/<type>.py``
(re-exported here, so ``spec.SendStep`` and friends keep working).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import reduce
from operator import or_
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from pydantic import Field, field_validator, model_validator

from orchestrator.engine.spec_base import (
    STEP_ID,
    Duration,
    Spec,
    StepBase,
    StepRef,
    Text,
    optional_duration,
)
from orchestrator.engine.steps._message import (
    BUTTON_TITLE_CHARS,
    CHOICE_ID,
    MAX_BUTTONS,
    MENU_BUTTON_CHARS,
    MENU_ROWS,
    ROW_DESCRIPTION_CHARS,
    ROW_TITLE_CHARS,
    SECTION_TITLE_CHARS,
    Button,
    Menu,
    MenuRow,
    MenuSection,
    MessageParts,
    MessageStep,
    WhatsAppTemplate,
)
from orchestrator.engine.steps.ask import AskStep, Category
from orchestrator.engine.steps.call import CallStep
from orchestrator.engine.steps.emit import EmitStep
from orchestrator.engine.steps.end import EndStep
from orchestrator.engine.steps.markers import Expression, Regex, Target
from orchestrator.engine.steps.registry import STEP_MODELS
from orchestrator.engine.steps.route import RouteStep
from orchestrator.engine.steps.send import SendStep
from orchestrator.engine.steps.set import ConsentChange, SetStep
from orchestrator.engine.steps.split import SplitStep
from orchestrator.engine.steps.subflow import SubflowStep
from orchestrator.engine.steps.switch import Case, SwitchStep
from orchestrator.engine.steps.wait import WaitStep
from orchestrator.media import MEDIA as CHANNELS
from orchestrator.media import Medium as Channel
from orchestrator.vocabulary import PURPOSES, STAGES, Purpose, Stage

__all__ = [
    "BUTTON_TITLE_CHARS",
    "CHANNELS",
    "CHOICE_ID",
    "MAX_BUTTONS",
    "MENU_BUTTON_CHARS",
    "MENU_ROWS",
    "OVERDUE",
    "PURPOSES",
    "ROW_DESCRIPTION_CHARS",
    "ROW_TITLE_CHARS",
    "SECTION_TITLE_CHARS",
    "SPEC_VERSION",
    "STAGES",
    "STATUSES",
    "STEP_ID",
    "AskStep",
    "Button",
    "CallStep",
    "Case",
    "Category",
    "Channel",
    "ConsentChange",
    "Duration",
    "EmitStep",
    "EndStep",
    "EventTrigger",
    "Flow",
    "Guards",
    "Menu",
    "MenuRow",
    "MenuSection",
    "MessageParts",
    "MessageStep",
    "MessageTrigger",
    "Migration",
    "Purpose",
    "Reentry",
    "RouteStep",
    "ScheduleTrigger",
    "SendStep",
    "SetStep",
    "Spec",
    "SplitStep",
    "Stage",
    "StageTrigger",
    "StatusTrigger",
    "Step",
    "StepBase",
    "StepRef",
    "SubflowStep",
    "SwitchStep",
    "Text",
    "TimerTrigger",
    "Trigger",
    "WaitStep",
    "WhatsAppTemplate",
]

SPEC_VERSION = 1
STATUSES = ("failed", "undelivered", "read", "delivered", "sent")
"""The receipt statuses a customer's flows hear about."""
OVERDUE = "delivery_overdue"
"""Not a receipt: no delivery receipt came in time (``status.overdue_s``); a status trigger
may name it, a negative moment like ``failed``."""

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


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
    pattern: Annotated[str | None, Regex()] = None
    when: Annotated[str | None, Expression()] = None
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
    when: Annotated[str | None, Expression()] = None


class ScheduleTrigger(Spec):
    """A cron schedule in a time zone, over the customers for whom ``audience`` holds."""

    type: Literal["schedule"]
    cron: str
    timezone: str = "UTC"
    audience: Annotated[str, Expression()]

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
        return known_zone(value)


def known_zone(value: str) -> str:
    """``value`` when it names an IANA time zone; else a ``ValueError`` saying so."""
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
    """A message the customer was sent reaches one of ``statuses``, or had no delivery receipt
    in time (``delivery_overdue``)."""

    type: Literal["status"]
    statuses: tuple[
        Literal["failed", "undelivered", "read", "delivered", "sent", "delivery_overdue"], ...
    ]
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

# Each step type lives in its own module (``orchestrator/engine/steps/<type>.py``) and is listed
# in :mod:`orchestrator.engine.steps.registry`; the union below is built from that list.

if TYPE_CHECKING:
    Step: TypeAlias = StepBase
else:
    Step = Annotated[reduce(or_, STEP_MODELS), Field(discriminator="type")]


# -------------------------------------------------------------------------------------- flow


class Reentry(Spec):
    """Whether a customer may start this flow again: ``never``, ``always`` or ``after`` a time."""

    policy: Literal["never", "always", "after"] = "always"
    after: Duration | None = None

    _a = field_validator("after", mode="before")(optional_duration)

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
    steps: Annotated[dict[str, StepRef], Target()]


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
    exit_when: Annotated[tuple[str, ...], Expression()] = ()
    expires_after: Duration | None = None
    guards: Guards = Guards()
    migrate: tuple[Migration, ...] = ()
    steps: tuple[Step, ...] = Field(min_length=1)

    _e = field_validator("expires_after", mode="before")(optional_duration)

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
