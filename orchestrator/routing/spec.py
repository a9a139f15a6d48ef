"""``flows/routing.yaml``: queues, their schedules and routing rules, as pydantic models.

The model follows Twilio TaskRouter's workflows and Azure Job Router's queues: a conversation
waits in a queue; the first rule of the queue whose ``when`` matches it gives its priority and
its bullseye of targets, each wider than the last after its ``timeout``; agents are offered
conversations one at a time. ``docs/routing.md`` explains every field with a worked example.
"""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from orchestrator.durations import duration_schema, parse_duration
from orchestrator.engine.spec import known_zone
from orchestrator.media import MEDIA

WORK_KINDS: tuple[str, ...] = (*MEDIA, "voice")
"""What a conversation with an agent can be carried on: every medium, and voice calls."""

Proficiency = Annotated[int, Field(ge=1, le=5)]
Priority = Annotated[int, Field(ge=0, le=100)]
Skills = dict[str, Proficiency]
"""Skill name to the minimum proficiency (1 to 5) an agent needs."""

_NAME = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
Name = Annotated[str, Field(pattern=_NAME)]
_HHMM_RANGE = r"^([01]\d|2[0-3]):[0-5]\d-(([01]\d|2[0-3]):[0-5]\d|24:00)$"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _duration(value: object) -> object:
    """A duration as flow files write it (``30s``, ``2m``, ``PT1M``); other values as given."""
    return parse_duration(value) if isinstance(value, str) else value


Duration = Annotated[
    timedelta, BeforeValidator(_duration), Field(json_schema_extra=duration_schema)
]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Span(_Spec):
    """Open from ``start`` to ``end`` local time on one day (``end`` may be 24:00)."""

    start: time
    end: time | None = Field(None, description="None: until midnight (24:00)")

    def covers(self, moment: time) -> bool:
        """Whether ``moment`` (local) is in this span: the start inclusive, the end exclusive."""
        return self.start <= moment and (self.end is None or moment < self.end)


def _spans(value: object) -> object:
    """``"09:00-17:30"`` or a list of them, as :class:`Span` mappings."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        return value
    out: list[object] = []
    for item in items:
        if not isinstance(item, str):
            out.append(item)
            continue
        text = item.strip()
        if not re.match(_HHMM_RANGE, text):
            raise ValueError(f"{item!r} is not a time range like 09:00-17:30")
        start, end = text.split("-")
        if end != "24:00" and end <= start:
            raise ValueError(f"{item!r} ends before it starts (use two ranges across midnight)")
        out.append({"start": start, "end": None if end == "24:00" else end})
    return out


_RANGE_SCHEMA = {"type": "string", "pattern": _HHMM_RANGE, "examples": ["09:00-17:30"]}
Spans = Annotated[
    tuple[Span, ...],
    BeforeValidator(_spans),
    WithJsonSchema({"anyOf": [_RANGE_SCHEMA, {"type": "array", "items": _RANGE_SCHEMA}]}),
]


class Schedule(_Spec):
    """Business hours in a time zone, with holidays closed all day."""

    timezone: str = "UTC"
    hours: dict[str, Spans] = Field(
        default_factory=dict,
        description="day or day range (mon, mon-fri, sat-sun) to its open ranges, 09:00-17:30",
    )
    holidays: tuple[date, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return known_zone(value)

    @field_validator("hours")
    @classmethod
    def _days(cls, value: dict[str, tuple[Span, ...]]) -> dict[str, tuple[Span, ...]]:
        seen: set[str] = set()
        for key in value:
            days = days_of(key)
            if not days:
                raise ValueError(f"{key!r} is not a day or day range (mon, mon-fri, sat-sun)")
            twice = seen & set(days)
            if twice:
                raise ValueError(f"{key!r} names {', '.join(sorted(twice))} a second time")
            seen |= set(days)
        return value

    def spans_on(self, weekday: int) -> tuple[Span, ...]:
        """The open ranges of a weekday (0 is Monday)."""
        name = DAYS[weekday]
        return next((s for key, s in self.hours.items() if name in days_of(key)), ())


def days_of(key: str) -> tuple[str, ...]:
    """The days ``key`` names (``mon``, ``mon-fri``, ``fri-mon`` wraps); empty when invalid."""
    first, _, last = key.strip().lower().partition("-")
    if first not in DAYS or (last and last not in DAYS):
        return ()
    if not last:
        return (first,)
    i, j = DAYS.index(first), DAYS.index(last)
    return tuple(DAYS[(i + k) % 7] for k in range((j - i) % 7 + 1))


class ServiceLevel(_Spec):
    """The target: ``percent`` of conversations answered within ``within``."""

    percent: float = Field(80.0, gt=0, le=100)
    within: Duration = timedelta(seconds=60)


class WhenClosed(_Spec):
    """What a conversation that arrives while its queue is closed gets.

    - ``flow``: the flow named in ``flow`` runs for the customer (the closed-hours reply);
    - ``callback``: a callback request is recorded, and the conversation waits for opening;
    - ``queue``: it keeps its place, and is offered when the queue opens.
    """

    action: Literal["flow", "callback", "queue"] = "queue"
    flow: str | None = None

    @model_validator(mode="after")
    def _flow_named(self) -> WhenClosed:
        if (self.action == "flow") != (self.flow is not None):
            raise ValueError("name a `flow` with action flow, and only then")
        return self


class Target(_Spec):
    """The agents one bullseye ring reaches. Every target also needs the queue's skills (and
    the conversation's own, from its ``route`` step).

    - ``last_agent: true``: the customer's last agent, within ``last_agent_window``;
    - ``skills``: agents with at least these proficiencies (experts, for example);
    - ``agents``: these agents by id;
    - none of them: any agent with the queue's skills.
    """

    name: Name
    last_agent: bool = False
    skills: Skills = Field(default_factory=dict)
    agents: tuple[str, ...] = ()
    timeout: Duration | None = Field(
        None, description="how long this ring is tried before the next one is added to it"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Target:
        kinds = sum(bool(x) for x in (self.last_agent, self.skills, self.agents))
        if kinds > 1:
            raise ValueError("a target names one of last_agent, skills or agents")
        return self


def _any_target() -> tuple[Target, ...]:
    return (Target(name="any"),)


class Rule(_Spec):
    """The first rule whose ``when`` matches a conversation routes it."""

    name: Name
    when: str | None = Field(
        None,
        description="an expression on `conversation` (channel, intent, language, tier, "
        "fields, skills, priority); none matches every conversation",
    )
    priority: Priority | None = Field(
        None, description="the conversation's priority is at least this under this rule"
    )
    targets: tuple[Target, ...] = Field(default_factory=_any_target)

    @field_validator("targets")
    @classmethod
    def _unique(cls, value: tuple[Target, ...]) -> tuple[Target, ...]:
        if not value:
            raise ValueError("a rule has one target at least")
        names = [t.name for t in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"target names must be unique: {', '.join(twice)}")
        return value


class Aging(_Spec):
    """Priority grows by ``step`` for every ``every`` a conversation waits, up to ``limit``."""

    every: Duration = timedelta(seconds=60)
    step: int = Field(1, ge=0, le=100)
    limit: int = Field(20, ge=0, le=100, description="the most aging adds")


class Queue(_Spec):
    """One queue of conversations waiting for agents."""

    skills: Skills = Field(default_factory=dict, description="what every agent here needs")
    schedule: str | None = Field(None, description="a schedule's name; none: always open")
    service_level: ServiceLevel = Field(default_factory=ServiceLevel)
    max_wait: Duration | None = Field(
        None, description="after this wait the conversation moves to the overflow queue"
    )
    overflow: str | None = None
    when_closed: WhenClosed = Field(default_factory=WhenClosed)
    aging: Aging = Field(default_factory=Aging)
    rules: tuple[Rule, ...] = Field(
        default_factory=lambda: (Rule(name="default"),),
        description="tried in order; the first whose `when` matches routes the conversation",
    )

    @field_validator("rules")
    @classmethod
    def _unique(cls, value: tuple[Rule, ...]) -> tuple[Rule, ...]:
        if not value:
            raise ValueError("a queue has one rule at least")
        names = [r.name for r in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"rule names must be unique: {', '.join(twice)}")
        return value


def _costs() -> dict[str, int]:
    return {"voice": 100, "webchat": 25, "whatsapp": 25, "sms": 25, "email": 10, "webhook": 25}


class AgentSpec(_Spec):
    """An agent on the roster (the agent API adds and changes agents too)."""

    name: str | None = None
    skills: Skills = Field(default_factory=dict)
    capacity: int | None = Field(None, ge=1, le=10_000, description="none: the default")


class Routing(_Spec):
    """The whole of ``routing.yaml``."""

    spec_version: Literal[1] = 1
    capacity: int = Field(100, ge=1, le=10_000, description="an agent's capacity by default")
    costs: dict[str, int] = Field(
        default_factory=_costs,
        description="the part of an agent's capacity one conversation on each channel takes",
    )
    offer_timeout: Duration = Field(
        timedelta(seconds=30), description="an offer not accepted in this time passes on"
    )
    last_agent_window: Duration = Field(
        timedelta(days=7), description="how long the customer's last agent is preferred"
    )
    schedules: dict[Name, Schedule] = Field(default_factory=dict)
    queues: dict[Name, Queue] = Field(default_factory=dict)
    agents: dict[str, AgentSpec] = Field(default_factory=dict)

    @field_validator("costs")
    @classmethod
    def _known_kinds(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(WORK_KINDS))
        if unknown:
            raise ValueError(
                f"unknown channel(s) {', '.join(unknown)}; use {', '.join(WORK_KINDS)}"
            )
        if any(cost < 0 for cost in value.values()):
            raise ValueError("a cost is 0 or more")
        return {**_costs(), **value}

    def cost(self, channel: str) -> int:
        """The capacity one conversation on ``channel`` takes."""
        return self.costs.get(channel, self.costs["webchat"])


def json_schema() -> dict[str, Any]:
    """The JSON Schema of ``routing.yaml`` (``docs/routing.schema.json`` is this, checked by a
    test, which prints the command that regenerates it)."""
    doc = Routing.model_json_schema()
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    doc["title"] = "Continuum contact-centre routing"
    return doc
