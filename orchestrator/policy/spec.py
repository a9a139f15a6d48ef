"""``flows/policy.yaml``: the contact policy compliance owns, as pydantic models.

Every field has a default that follows carrier rules and common regulation (see
``docs/policy.md``), so an empty policy file is already a safe one.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from orchestrator.durations import duration_schema, parse_duration
from orchestrator.media import Medium as Channel
from orchestrator.vocabulary import Purpose

_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


def _duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    return parse_duration(str(value))


Duration = Annotated[timedelta, Field(json_schema_extra=duration_schema)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Need = Literal["none", "implied", "explicit"]


def _require() -> dict[Purpose, Need]:
    return {"transactional": "none", "service": "implied", "marketing": "explicit"}


def _opt_out() -> dict[str, tuple[str, ...]]:
    return {
        "default": ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT")
    }


def _opt_in() -> dict[str, tuple[str, ...]]:
    return {"default": ("START", "UNSTOP", "YES")}


class ConsentSpec(_Spec):
    """What each purpose needs: ``none``, ``implied`` (unless opted out) or ``explicit``."""

    require: dict[Purpose, Need] = Field(default_factory=_require)
    double_opt_in: tuple[Channel, ...] = Field(
        (), description="channels where marketing consent must be confirmed a second time"
    )
    transactional_after_opt_out: bool = Field(
        False, description="whether transactional messages still go to a customer who opted out"
    )


class KeywordSpec(_Spec):
    """Opt-out and opt-in keywords, per language (``default`` applies to every language)."""

    opt_out: dict[str, tuple[str, ...]] = Field(default_factory=_opt_out)
    opt_in: dict[str, tuple[str, ...]] = Field(default_factory=_opt_in)
    match: Literal["whole_message", "first_word"] = "whole_message"
    case_sensitive: bool = False
    scope: Literal["all_channels", "channel"] = Field(
        "all_channels", description="whether an opt-out on one channel suppresses every channel"
    )
    confirm_opt_out: dict[str, str] = Field(
        default_factory=lambda: {
            "en": "You have been unsubscribed and will receive no more messages. Reply START to "
            "resubscribe."
        }
    )
    confirm_opt_in: dict[str, str] = Field(
        default_factory=lambda: {
            "en": "You have been resubscribed. Reply STOP to unsubscribe, HELP for help."
        }
    )


class Window(_Spec):
    """Quiet from ``start`` to ``end`` local time (crossing midnight when ``end`` < ``start``)."""

    start: str = Field(pattern=_HHMM)
    end: str = Field(pattern=_HHMM)


def _windows() -> dict[Purpose, Window]:
    return {
        "marketing": Window(start="21:00", end="09:00"),
        "service": Window(start="22:00", end="08:00"),
    }


class QuietHoursSpec(_Spec):
    """Quiet windows per purpose, in the recipient's time zone, and holidays."""

    default_timezone: str = "UTC"
    windows: dict[Purpose, Window] = Field(default_factory=_windows)
    holidays: tuple[date, ...] = ()
    holiday_purposes: tuple[Purpose, ...] = ("marketing",)
    reply_window: Duration = Field(
        timedelta(minutes=15),
        description="a reply this soon after the customer's own message is not held back",
    )
    reply_purposes: tuple[Literal["transactional", "service"], ...] = Field(
        ("service", "transactional"),
        description="the purposes whose replies quiet hours do not hold (never marketing)",
    )

    _r = field_validator("reply_window", mode="before")(_duration)


class CapSpec(_Spec):
    """At most ``limit`` messages of ``purpose`` per customer within a rolling ``window``.

    ``channel: each`` counts per channel; ``all`` counts across channels.
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    purpose: Purpose | Literal["any"] = "marketing"
    channel: Literal["each", "all"] = "all"
    limit: int = Field(ge=0)
    window: Duration
    action: Literal["drop", "defer"] = "drop"

    _w = field_validator("window", mode="before")(_duration)


class DedupeSpec(_Spec):
    """Suppress repeats: the same template within a period, and runaway identical texts."""

    same_template_within: Duration = timedelta(minutes=10)
    identical_texts: int = Field(5, ge=1, description="K: more identical texts than this ...")
    identical_within: Duration = timedelta(minutes=5)

    _d = field_validator("same_template_within", "identical_within", mode="before")(_duration)


class WhatsAppSpec(_Spec):
    """The customer-service window: free-form only within it, else a template or a fallback."""

    enforce: bool = Field(True, description="apply the window (Meta's rule) to WhatsApp sends")
    session_window: Duration = timedelta(hours=24)
    approved_templates: dict[str, str] = Field(
        default_factory=dict, description="`flow-id.step-id` -> approved template name"
    )
    fallback_channels: tuple[Channel, ...] = ("sms", "email")

    _s = field_validator("session_window", mode="before")(_duration)


class SupportQuietSpec(_Spec):
    """No ``purposes`` messages within ``within`` of a support conversation (a run of a flow
    whose stage is ``support``, other than the one sending)."""

    within: Duration = Field(
        timedelta(hours=4), description="how long after a support conversation to stay quiet"
    )
    purposes: tuple[Literal["marketing"], ...] = Field(
        ("marketing",), description="what is held back (`[]` switches the rule off)"
    )

    _w = field_validator("within", mode="before")(_duration)


class Policy(_Spec):
    """The whole contact policy."""

    policy_version: Literal[1] = 1
    id: str = "default"
    owner: str = "compliance"
    description: str = ""
    consent: ConsentSpec = ConsentSpec()
    keywords: KeywordSpec = KeywordSpec()
    quiet_hours: QuietHoursSpec = QuietHoursSpec()
    caps: tuple[CapSpec, ...] = (
        CapSpec(id="marketing-weekly", purpose="marketing", limit=3, window=timedelta(days=7)),
        CapSpec(
            id="marketing-daily",
            purpose="marketing",
            limit=1,
            window=timedelta(days=1),
            action="defer",
        ),
    )
    dedupe: DedupeSpec = DedupeSpec()
    whatsapp: WhatsAppSpec = WhatsAppSpec()
    support_quiet: SupportQuietSpec = SupportQuietSpec()

    @field_validator("quiet_hours")
    @classmethod
    def _zone(cls, value: QuietHoursSpec) -> QuietHoursSpec:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value.default_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value.default_timezone!r}") from None
        return value

    def words(self, kind: Literal["opt_out", "opt_in"], language: str | None) -> set[str]:
        """The keywords of ``kind`` for a language (its own plus ``default``)."""
        table = self.keywords.opt_out if kind == "opt_out" else self.keywords.opt_in
        words = set(table.get("default", ()))
        if language:
            words |= set(table.get(language, ())) | set(table.get(language.split("-")[0], ()))
        return words if self.keywords.case_sensitive else {w.casefold() for w in words}

    def keyword_of(self, text: str) -> str:
        """The part of a message compared with keywords (case folded unless configured)."""
        body = text.strip()
        if self.keywords.match == "first_word":
            body = re.split(r"\s+", body, maxsplit=1)[0] if body else ""
        body = body.strip(" .!?,;:")
        return body if self.keywords.case_sensitive else body.casefold()


def json_schema() -> dict[str, Any]:
    """The JSON Schema of ``policy.yaml`` (``docs/policy.schema.json`` is this, checked by a
    test, which prints the command that regenerates it)."""
    doc = Policy.model_json_schema()
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    doc["title"] = "Continuum contact policy"
    return doc
