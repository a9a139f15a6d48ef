"""Twilio's settings: the adapter's config, and the ``CONTINUUM_TWILIO__*`` section built on it.

:class:`TwilioConfig` is what :class:`~channels.twilio.adapter.TwilioSms` needs and nothing
more (tests build it by hand). :class:`TwilioSettings` gives every field a default pointing at
the local sandbox, so that ``continuum up`` works with no settings and each can be set alone.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

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
    messaging_service_sid: str | None = Field(
        default=None,
        description="Messaging Service SID (MG...): when set, a message without its own sender "
        "carries MessagingServiceSid instead of From (the service picks the sender).",
    )
    api_key_sid: str | None = Field(
        default=None,
        description="API key SID (SK...): when set with api_key_secret, the basic-auth user "
        "instead of the account SID (the URL still names the account).",
    )
    api_key_secret: SecretStr | None = Field(
        default=None, description="The API key's secret: then the basic-auth password."
    )

    @field_validator("messaging_service_sid", "api_key_sid", "api_key_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        """An empty variable (``CONTINUUM_TWILIO__API_KEY_SID=``) means unset."""
        if isinstance(value, SecretStr) and not value.get_secret_value():
            return None
        return None if value == "" else value

    @field_validator("messaging_service_sid")
    @classmethod
    def _messaging_service_sid(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("MG"):
            raise ValueError("a Twilio Messaging Service SID starts with MG")
        return value

    @field_validator("api_key_sid")
    @classmethod
    def _api_key_sid(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("SK"):
            raise ValueError("a Twilio API key SID starts with SK (not AC: that is the account)")
        return value

    @model_validator(mode="after")
    def _api_key_pair(self) -> Self:
        """An API key is its SID and its secret: both or neither."""
        if (self.api_key_sid is None) != (self.api_key_secret is None):
            given, missing = (
                ("API_KEY_SID", "API_KEY_SECRET")
                if self.api_key_secret is None
                else ("API_KEY_SECRET", "API_KEY_SID")
            )
            raise ValueError(f"twilio {given} is set but {missing} is not: set both or neither")
        return self


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
