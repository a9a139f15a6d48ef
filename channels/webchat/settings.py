"""``CONTINUUM_WEBCHAT__*``, and the Origin check the session route and the socket share."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from channels.webchat.sandbox import SANDBOX_SECRET


class WebchatSettings(BaseModel):
    """``CONTINUUM_WEBCHAT__*``; ``secret``'s default is the sandbox's: production sets its own."""

    model_config = ConfigDict(frozen=True)

    secret: SecretStr = Field(
        SecretStr(SANDBOX_SECRET),
        description="signs session tokens (HMAC-SHA256); the default is public: set it",
    )
    token_ttl_s: int = Field(86_400, gt=0, description="how long a session token is valid")
    allowed_origins: tuple[str, ...] = Field(
        ("http://127.0.0.1:8080", "http://localhost:8080"),
        description="origins allowed by CORS and the socket's Origin check (the API's own "
        "origin is always allowed)",
    )
    max_message_chars: int = Field(2000, gt=0, description="longest text a browser may send")
    pending_ttl_s: int = Field(
        86_400, gt=0, description="how long an undelivered reply waits in the mailbox"
    )
    mailbox_maxlen: int = Field(200, gt=0, description="replies a mailbox keeps at most")


def origin_allowed(origin: str | None, config: WebchatSettings, public_url: str) -> bool:
    """A socket without Origin is not a browser; one with must be allowed."""
    if origin is None:
        return True
    return origin.rstrip("/") in {public_url.rstrip("/"), *config.allowed_origins}
