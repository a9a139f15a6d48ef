"""``CONTINUUM_META__*``: the Cloud API credentials, the webhook secrets, the sending number."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from channels.meta.sandbox import (
    SANDBOX_ACCESS_TOKEN,
    SANDBOX_APP_SECRET,
    SANDBOX_PHONE_NUMBER_ID,
    SANDBOX_VERIFY_TOKEN,
)


class MetaSettings(BaseModel):
    """``CONTINUUM_META__*``; the defaults point at the local sandbox."""

    model_config = ConfigDict(frozen=True)

    access_token: SecretStr = Field(
        SecretStr(SANDBOX_ACCESS_TOKEN),
        description="Cloud API access token (a system user's), sent as `Authorization: Bearer`",
    )
    app_secret: SecretStr = Field(
        SecretStr(SANDBOX_APP_SECRET),
        description="the Meta app's secret: checks X-Hub-Signature-256 of each webhook",
    )
    verify_token: SecretStr = Field(
        SecretStr(SANDBOX_VERIFY_TOKEN),
        description="the token set with the webhook's callback URL: answers hub.challenge",
    )
    phone_number_id: str = Field(
        SANDBOX_PHONE_NUMBER_ID, description="the business phone number's id (sends from it)"
    )
    api_version: str = Field("v21.0", description="Graph API version in each request's path")
    base_url: str = Field(
        "http://127.0.0.1:8090",
        description="Graph API root, https://graph.facebook.com (follows the sandbox)",
    )
