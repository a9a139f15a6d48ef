"""What ``send`` and ``ask`` share: the message a step sends, with its buttons, menu, email parts
and WhatsApp template (rendered per channel by :mod:`orchestrator.engine.parts`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, model_validator

from orchestrator.engine.spec_base import (
    Spec,
    StepBase,
    Text,
)
from orchestrator.engine.steps.markers import Advice, Evaluated
from orchestrator.media import Medium as Channel
from orchestrator.vocabulary import Purpose

if TYPE_CHECKING:
    from orchestrator.engine.spec import Flow

CHOICE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$"

# WhatsApp's limits on interactive messages (Cloud API reference, "Interactive messages").
MAX_BUTTONS = 3
BUTTON_TITLE_CHARS = 20
MENU_BUTTON_CHARS = 20
MENU_ROWS = 10
ROW_TITLE_CHARS = 24
ROW_DESCRIPTION_CHARS = 72
SECTION_TITLE_CHARS = 24

MARKETING_STAGES = frozenset({"awareness", "consideration", "win-back", "renewal"})
"""Stages whose messages are presumed promotional unless a step says otherwise."""

Template = Annotated[Text, Evaluated(localized=True)]
"""A template, or per-language templates (one for the flow's default language)."""
OptionalTemplate = Annotated[Text | None, Evaluated(localized=True)]


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
    title: Template

    @model_validator(mode="after")
    def _short(self) -> Button:
        _check_length(self.title, BUTTON_TITLE_CHARS, "button title")
        return self


class MenuRow(Spec):
    """One choice of a menu."""

    id: str = Field(pattern=CHOICE_ID)
    title: Template
    description: OptionalTemplate = None

    @model_validator(mode="after")
    def _short(self) -> MenuRow:
        _check_length(self.title, ROW_TITLE_CHARS, "menu row title")
        _check_length(self.description, ROW_DESCRIPTION_CHARS, "menu row description")
        return self


class MenuSection(Spec):
    """A group of menu rows, with an optional heading."""

    title: OptionalTemplate = None
    rows: tuple[MenuRow, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _short(self) -> MenuSection:
        _check_length(self.title, SECTION_TITLE_CHARS, "menu section title")
        return self


class Menu(Spec):
    """A list of choices behind a button (WhatsApp's list message)."""

    button: Template
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
    params: Annotated[tuple[str, ...], Evaluated()] = Field(
        (), description="body parameters {{1}}, {{2}}, ... (templates)"
    )


class MessageParts(Spec):
    """What a message may carry besides its text (``template``), where the channel has it."""

    subject: OptionalTemplate = Field(None, description="email subject (a template)")
    html: OptionalTemplate = Field(
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


class MessageStep(MessageParts, StepBase):
    """A step that sends a message: ``send`` and ``ask``."""

    template: Template
    channel: Literal["reply", "preferred"] | tuple[Channel, ...] = "reply"
    purpose: Purpose | None = None

    def advice(self, flow: Flow) -> Iterator[Advice]:
        """A message without a ``purpose`` (an error in a marketing stage)."""
        if self.purpose is not None:
            return
        if flow.stage in MARKETING_STAGES:
            yield Advice(
                "missing_purpose",
                f"no `purpose` in a {flow.stage} flow: say `marketing` (needs consent) "
                "or why it is `service`/`transactional`",
                "error",
            )
        else:
            yield Advice("missing_purpose", "no `purpose`: defaults to service")
