"""Settings of the sandbox provider; defaults suit tests and ``continuum up``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

SANDBOX_API_KEY_SID = "SK00000000000000000000000000000000"
"""The Twilio API key the sandbox accepts (with :data:`SANDBOX_API_KEY_SECRET`) besides the
account's auth token."""
SANDBOX_API_KEY_SECRET = "sandbox-api-key-secret"  # noqa: S105 - the sandbox's, public
SANDBOX_MESSAGING_SERVICE_SID = "MG00000000000000000000000000000000"
"""The Twilio messaging service the sandbox knows; it sends from :data:`SANDBOX_SERVICE_SENDER`."""
SANDBOX_SERVICE_SENDER = "+15559990001"


class SandboxConfig(BaseModel):
    """The sandbox's one fake Twilio account (its token, API key and messaging service) and its
    callback timing."""

    model_config = ConfigDict(frozen=True)

    twilio_account_sid: str = Field(
        default="AC00000000000000000000000000000000",
        description="Account SID the sandbox accepts as basic-auth user and in API paths.",
    )
    twilio_auth_token: SecretStr = Field(
        default=SecretStr("sandbox-auth-token"),
        description="Auth token: basic-auth password and the key that signs webhooks.",
    )
    twilio_api_key_sid: str = Field(
        default=SANDBOX_API_KEY_SID,
        description="API key SID the sandbox also accepts as basic-auth user (for the account).",
    )
    twilio_api_key_secret: SecretStr = Field(
        default=SecretStr(SANDBOX_API_KEY_SECRET),
        description="That API key's secret (basic-auth password); webhooks stay signed with "
        "the auth token, as Twilio signs them.",
    )
    twilio_messaging_service_sid: str = Field(
        default=SANDBOX_MESSAGING_SERVICE_SID,
        description="The Messaging Service the sandbox knows (MessagingServiceSid of a send).",
    )
    twilio_service_sender: str = Field(
        default=SANDBOX_SERVICE_SENDER,
        description="The number that messaging service sends from when a send has no From.",
    )
    console_webhooks: dict[str, str] = Field(
        default_factory=dict,
        description="Webhook URLs set once in a provider's console, by provider name (Meta's "
        "app callback URL, SendGrid's Event Webhook); the fakes post there until told otherwise.",
    )
    smtp_host: str = Field(default="127.0.0.1", description="Address the SMTP server binds.")
    smtp_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Port of the SMTP server (0: a free port; the settings give 8025).",
    )
    status_delay_s: float = Field(
        default=0.05, ge=0, description="Pause between successive status callbacks of a message."
    )
    callback_attempts: int = Field(
        default=3, ge=1, description="Tries per callback post on connection errors or 5xx."
    )
    callback_backoff_s: float = Field(
        default=0.05, ge=0, description="First retry pause of a callback post; doubles each try."
    )
    callback_senders: int = Field(
        default=8,
        ge=1,
        description="Tasks posting status callbacks, and the size of their connection pool "
        "(httpcore checks each idle pooled connection on every request: more only costs).",
    )
    callback_backlog: int = Field(
        default=10_000,
        ge=1,
        description="Messages whose callbacks may be pending at once; past it the Messages API "
        "waits for room (back-pressure) rather than queueing without bound.",
    )
    fault_seed: int | None = Field(
        default=None,
        description="Seed of the random draws of fault rules with a probability (None: "
        "unseeded); POST /_sandbox/faults/seed reseeds a running sandbox.",
    )
