"""Twilio Programmable Messaging (SMS): send, webhooks, signature, status map and sandbox fake.

- :mod:`~channels.twilio.settings`: ``TwilioConfig`` and the ``CONTINUUM_TWILIO__*`` section;
- :mod:`~channels.twilio.adapter`: ``send`` (Messages API), the status and error-code maps;
- :mod:`~channels.twilio.webhooks`: ``/webhooks/twilio/inbound`` and ``/webhooks/twilio/status``;
- :mod:`~channels.twilio.signature`: ``X-Twilio-Signature``;
- :mod:`~channels.twilio.sandbox`: the fake Messages API and inbound simulator.
"""

from __future__ import annotations

from channels.provider import Provider
from channels.twilio.adapter import ERROR_CODES, STATUS_MAP, TwilioSms
from channels.twilio.sandbox import twilio_sandbox
from channels.twilio.settings import TwilioSettings
from channels.twilio.signature import validate_signature
from channels.twilio.webhooks import STATUS_PATH, twilio_webhooks

TWILIO = Provider(
    name="twilio",
    medium=TwilioSms.channel,
    adapter=TwilioSms,
    settings=TwilioSettings,
    settings_key="twilio",
    webhooks=twilio_webhooks,
    sandbox=twilio_sandbox,
    verify=validate_signature,
    status_map=STATUS_MAP,
    error_codes=ERROR_CODES,
    status_path=STATUS_PATH,
)
