"""Channel adapters and their registry, keyed by ``channel_type`` (``"<medium>.<provider>"``)."""

from __future__ import annotations

from collections.abc import Mapping

from channels.base import ChannelAdapter
from channels.twilio.adapter import TwilioSms

ADAPTERS: Mapping[str, type[ChannelAdapter]] = {
    TwilioSms.channel_type: TwilioSms,
}
