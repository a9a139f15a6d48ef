"""Twilio's settings: the adapter's config, and the ``CONTINUUM_TWILIO__*`` section built on it.

:class:`TwilioConfig` is what :class:`~channels.twilio.adapter.TwilioSms` needs and nothing
more (tests build it by hand). :class:`TwilioSettings` gives every field a default pointing at
the local sandbox, so that ``continuum up`` works with no settings and each can be set alone.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

SANDBOX_ACCOUNT_SID = "AC00000000000000000000000000000000"
SANDBOX_AUTH_TOKEN = "sandbox-auth-token"  # noqa: S105 - the local sandbox's well-known token


class TwilioConfig(BaseModel):
    """Credentials and defaults for one Twilio account."""

    model_config = ConfigDict(frozen=True)

    account_sid: str = Field(description="Twilio Account SID (AC...), also the basic-auth user.")
    auth_token: SecretStr = Field(
        description="Twilio Auth Token: basic-auth password and webhook key."
    )
    base_url: str = Field(
        default="https://api.twilio.com", description="Twilio REST API root, or the sandbox's."
    )
    from_number: str | None = Field(
        default=None, description="Default sender (E.164 or alphanumeric) when a message has none."
    )


class TwilioSettings(TwilioConfig):
    """Twilio credentials; the defaults point at the local sandbox, so each can be set alone."""

    account_sid: str = Field(SANDBOX_ACCOUNT_SID, description="Twilio Account SID (AC...)")
    auth_token: SecretStr = Field(
        SecretStr(SANDBOX_AUTH_TOKEN), description="Twilio auth token; also checks webhooks"
    )
    base_url: str = Field(
        "http://127.0.0.1:8090",
        description="Twilio API base URL; defaults to the local sandbox's address",
    )
    from_number: str | None = Field("+15559990000", description="default sender number")
