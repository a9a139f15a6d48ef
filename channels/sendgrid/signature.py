"""SendGrid's Event Webhook signature: ECDSA P-256 / SHA-256 over timestamp + raw body.

``X-Twilio-Email-Event-Webhook-Signature`` is the base64 of a DER-encoded ECDSA signature over
the bytes of ``X-Twilio-Email-Event-Webhook-Timestamp`` followed by the raw body; the key is the
base64 DER SubjectPublicKeyInfo SendGrid shows in its Mail Settings. ECDSA signatures are
randomised, so they are verified with the public key (``cryptography``), never recomputed and
compared. Pure functions, shared by the webhooks and the sandbox fake.
"""

from __future__ import annotations

import base64
import binascii
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from channels.webhooks import within_window

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
REPLAY_WINDOW_S = 300
"""An event batch whose signed timestamp is further than this from now is refused (replay)."""


def public_key(spki_b64: str) -> ec.EllipticCurvePublicKey:
    """The verification key from SendGrid's base64 DER SubjectPublicKeyInfo."""
    key = serialization.load_der_public_key(base64.b64decode(spki_b64))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("the SendGrid event webhook key is not an EC public key")
    return key


def sign(private_pem: str, timestamp: str, body: bytes) -> str:
    """The signature header's value for ``body`` at ``timestamp`` (the sandbox signs with it)."""
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("not an EC private key")
    der = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(der).decode()


def verify(key: ec.EllipticCurvePublicKey | str, timestamp: str, body: bytes, sig: str) -> bool:
    """Whether ``sig`` (base64 DER) signs ``timestamp + body`` under ``key``."""
    if isinstance(key, str):
        key = public_key(key)
    try:
        der = base64.b64decode(sig, validate=True)
        key.verify(der, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def fresh(timestamp: str, now: float | None = None) -> bool:
    """Whether the signed timestamp (Unix seconds) is within ``REPLAY_WINDOW_S`` of ``now``."""
    return within_window(timestamp, REPLAY_WINDOW_S, time.time() if now is None else now)
