"""The media Continuum speaks on, declared once: every other module imports them from here.

A medium is how a message travels (``sms``, ``email`` ...); a provider (``channels/``) carries
it. Each medium has its own inbound and outbound topic, ``continuum.inbound.<medium>`` and
``continuum.outbound.<medium>``. Pure: this module imports nothing of Continuum, so the engine,
the policy and the settings can all sit on top of it.

Example::

    from orchestrator.media import MEDIA, Medium

    def topic(medium: Medium) -> str:
        return f"continuum.inbound.{medium}"

    assert [topic(m) for m in MEDIA][0] == "continuum.inbound.sms"
"""

from __future__ import annotations

from typing import Literal, get_args

Medium = Literal["sms", "whatsapp", "email", "webchat", "webhook"]
"""One medium, as flows, policy, events and settings spell it."""

MEDIA: tuple[Medium, ...] = get_args(Medium)
"""Every medium, in the order topics, metrics and the CLI list them."""
