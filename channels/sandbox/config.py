"""Settings of the sandbox provider; defaults suit tests and ``continuum up``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class SandboxConfig(BaseModel):
    """The sandbox's one fake Twilio account and its callback timing."""

    model_config = ConfigDict(frozen=True)

    twilio_account_sid: str = Field(
        default="AC00000000000000000000000000000000",
        description="Account SID the sandbox accepts as basic-auth user and in API paths.",
    )
    twilio_auth_token: SecretStr = Field(
        default=SecretStr("sandbox-auth-token"),
        description="Auth token: basic-auth password and the key that signs webhooks.",
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
