"""Errors a channel adapter raises from ``send()``.

Every adapter translates its transport's and provider's failures into this family once, at the edge,
so the dispatcher decides on retries from ``retryable`` alone::

    ContinuumError (orchestrator.errors mirrors this base; adapters never import orchestrator)
    └── SendError
        ├── ChannelConfigInvalid     our configuration is wrong (loggable)
        ├── ConnectionFailed         the request never reached the provider, or 5xx (retryable)
        ├── OutcomeUnknown           the request may have reached the provider, no answer came
        ├── Throttled                provider 429 (retryable, carries retry_after)
        ├── ResponseStatus           provider 4xx (permanent)
        ├── ResponseUnparseable      provider answered garbage (loggable)
        ├── ContactStopped           provider says the recipient opted out
        └── RejectedWithReason       provider refused, with its own error code
"""

from __future__ import annotations

from typing import ClassVar


class SendError(Exception):
    """Base for every failure an adapter may raise from ``send()``."""

    code: ClassVar[str] = "send_failed"
    retryable: ClassVar[bool] = False
    loggable: ClassVar[bool] = False

    def __init__(self, detail: str = "", *, status_code: int | None = None) -> None:
        super().__init__(detail or self.code)
        self.detail = detail
        self.status_code = status_code


class ChannelConfigInvalid(SendError):
    """Raised when the adapter's configuration is missing or wrong, before any I/O."""

    code = "channel_config"
    loggable = True


class ConnectionFailed(SendError):
    """Raised when the provider could not be reached or answered 5xx."""

    code = "connection_failed"
    retryable = True


class OutcomeUnknown(SendError):
    """Raised when the request may have been delivered but no answer came (a read timeout).

    Not retryable: sending again could give the customer the message twice. The dispatcher
    records the send as ``unknown`` for a person (or a later status callback) to settle.
    """

    code = "outcome_unknown"


class Throttled(SendError):
    """Raised when the provider answered 429; ``retry_after`` is in seconds when it said."""

    code = "connection_throttled"
    retryable = True

    def __init__(
        self, detail: str = "", *, status_code: int | None = 429, retry_after: float | None = None
    ) -> None:
        super().__init__(detail, status_code=status_code)
        self.retry_after = retry_after


class ResponseStatus(SendError):
    """Raised when the provider answered with a 4xx status it gave no reason for."""

    code = "response_status"


class ResponseUnparseable(SendError):
    """Raised when the provider's answer could not be parsed."""

    code = "response_unparseable"
    loggable = True


class ContactStopped(SendError):
    """Raised when the provider says the recipient has opted out of messages; ``purpose`` is
    the one purpose they stopped (``marketing``), or None for every message."""

    code = "contact_stopped"
    purpose: str | None = None


class MarketingStopped(ContactStopped):
    """Raised when the recipient stopped only marketing messages (WhatsApp's 131050)."""

    purpose = "marketing"


class RejectedWithReason(SendError):
    """Raised when the provider refused the message and said why; ``ext_code`` is its error code."""

    code = "rejected_with_reason"

    def __init__(self, ext_code: str, detail: str, *, status_code: int | None = None) -> None:
        super().__init__(detail, status_code=status_code)
        self.ext_code = ext_code
