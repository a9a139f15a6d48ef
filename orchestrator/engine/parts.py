"""What a message carries besides its text, rendered for the channel it goes on. PURE.

A ``send`` or ``ask`` step may say (see :class:`orchestrator.engine.spec.MessageParts`):

- ``subject`` and ``html``: an email's subject and HTML body; other channels ignore them;
- ``buttons`` or a ``menu``: WhatsApp reply buttons or a list message; on every other channel
  the choices are written under the text, one per line, so the customer can type one;
- ``whatsapp_template``: the template (and its parameters) to send on WhatsApp when the policy
  says the customer-service window is closed.

Example::

    rendered = render_parts(step, "Pick one", "whatsapp", "en", "en", variables, None)
    rendered.content  # {"kind": "buttons", "buttons": [{"id": "yes", "title": "Yes"}, ...]}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.engine import spec
from orchestrator.engine.expressions import render

CHOICE_CHANNELS = frozenset({"whatsapp"})
"""Channels whose messages carry buttons and menus; elsewhere the choices become text."""

_AUTOESCAPE = "{%% autoescape true %%}%s{%% endautoescape %%}"


@dataclass(frozen=True, slots=True)
class Rendered:
    """The message as it goes: its text, its provider content, its email parts.

    ``degraded`` says why buttons or a menu went as text on a channel that has them (a
    rendered title over WhatsApp's limit), or is None.
    """

    text: str
    content: Mapping[str, Any] | None = None
    subject: str | None = None
    html: str | None = None
    degraded: str | None = None


def pick(text: spec.Text, language: str, default: str) -> str:
    """The template for ``language`` (or its base language), else the default language's."""
    if isinstance(text, str):
        return text
    for candidate in (language, language.split("-")[0]):
        if candidate in text:
            return text[candidate]
    return text[default]  # validation requires a text for the default language


def render_parts(
    parts: spec.MessageParts,
    text: str,
    channel: str,
    language: str,
    default: str,
    variables: dict[str, Any],
    template_name: str | None,
) -> Rendered:
    """Render ``parts`` for ``channel``; ``text`` is the rendered body, ``template_name`` the
    approved template the policy chose (None when the message may be free-form).

    Raises :class:`~orchestrator.engine.expressions.ExpressionError` when a part fails to
    render, as the text would.
    """

    def one(source: spec.Text | None) -> str | None:
        return None if source is None else render(pick(source, language, default), variables)

    subject = one(parts.subject)
    html = None
    if parts.html is not None:
        html = render(_AUTOESCAPE % pick(parts.html, language, default), variables)
    if template_name:
        return Rendered(text, _template(parts, template_name, language, one), subject, html)
    choices = _choices(parts, one)
    if choices is None:
        return Rendered(text, None, subject, html)
    titles, content, too_long = choices
    if channel in CHOICE_CHANNELS and too_long is None:
        return Rendered(text, content, subject, html)
    listed = "\n".join([text, "", *(f"- {t}" for t in titles)])
    return Rendered(listed, None, subject, html, too_long if channel in CHOICE_CHANNELS else None)


def _template(parts: spec.MessageParts, name: str, language: str, one: Any) -> Mapping[str, Any]:
    """WhatsApp template content: the step's own template with its parameters, or the
    policy's approved template (which takes none)."""
    own = parts.whatsapp_template
    if own is not None and own.name == name:
        params = [one(p) or "" for p in own.params]
        return {
            "kind": "template",
            "name": name,
            "language": own.language or language,
            "params": params,
        }
    return {"kind": "template", "name": name, "language": language}


def _choices(
    parts: spec.MessageParts, one: Any
) -> tuple[list[str], Mapping[str, Any], str | None] | None:
    """The choices' titles, their WhatsApp content, and why they overrun its limits (or None)."""
    if parts.buttons:
        buttons = [{"id": b.id, "title": one(b.title)} for b in parts.buttons]
        over = [b["title"] for b in buttons if len(b["title"]) > spec.BUTTON_TITLE_CHARS]
        why = _overrun(over, "button title", spec.BUTTON_TITLE_CHARS)
        return [b["title"] for b in buttons], {"kind": "buttons", "buttons": buttons}, why
    menu = parts.menu
    if menu is None:
        return None
    sections: list[dict[str, Any]] = []
    titles: list[str] = []
    long: list[str] = []
    for section in menu.sections:
        rows = []
        for row in section.rows:
            title, description = one(row.title), one(row.description)
            titles.append(title)
            if len(title) > spec.ROW_TITLE_CHARS:
                long.append(title)
            rows.append(
                {
                    "id": row.id,
                    "title": title,
                    **({"description": description} if description else {}),
                }
            )
        heading = one(section.title)
        sections.append({**({"title": heading} if heading else {}), "rows": rows})
    button = one(menu.button) or ""
    why = _overrun(long, "menu row title", spec.ROW_TITLE_CHARS) or _overrun(
        [button] if len(button) > spec.MENU_BUTTON_CHARS else [],
        "menu button",
        spec.MENU_BUTTON_CHARS,
    )
    return titles, {"kind": "list", "button": button, "sections": sections}, why


def _overrun(texts: list[str], what: str, limit: int) -> str | None:
    if not texts:
        return None
    return f"{what} {texts[0]!r} is over WhatsApp's {limit} characters: the choices went as text"
