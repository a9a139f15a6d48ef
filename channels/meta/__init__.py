"""Meta WhatsApp Cloud API (medium ``whatsapp``): send, the verified and signed webhook.

Sends go to ``POST /{api_version}/{phone_number_id}/messages`` with a bearer token
(:mod:`.send`); Meta posts messages and statuses to one webhook, ``/webhooks/meta/whatsapp``,
signed with the app secret (:mod:`.webhooks`, :mod:`.signature`). Meta has no per-message
status callback: the webhook is the app's configured callback URL, so ``status_path`` is None.
"""

from __future__ import annotations

from channels.meta.sandbox import meta_sandbox
from channels.meta.send import ERROR_CODES, MetaWhatsApp, payload
from channels.meta.settings import MetaSettings
from channels.meta.signature import HEADER, sign, verify
from channels.meta.webhooks import STATUS_MAP, WEBHOOK_PATH, meta_webhooks, parse
from channels.provider import Provider
from channels.webhooks import e164

__all__ = [
    "ERROR_CODES",
    "HEADER",
    "META",
    "STATUS_MAP",
    "WEBHOOK_PATH",
    "MetaSettings",
    "MetaWhatsApp",
    "e164",
    "meta_webhooks",
    "parse",
    "payload",
    "sign",
    "verify",
]

META = Provider(
    name="meta",
    medium="whatsapp",
    adapter=MetaWhatsApp,
    settings=MetaSettings,
    settings_key="meta",
    webhooks=meta_webhooks,
    sandbox=meta_sandbox,
    verify=verify,
    status_map=STATUS_MAP,
    error_codes=ERROR_CODES,
    status_path=None,
    console_webhook_path=WEBHOOK_PATH,
)
