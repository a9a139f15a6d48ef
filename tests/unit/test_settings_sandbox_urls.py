"""Provider URLs that default to the sandbox follow ``CONTINUUM_SANDBOX__HOST``/``__PORT``."""

from __future__ import annotations

import pytest

from channels.generic.sandbox import SEND_PATH
from orchestrator.settings import Settings


def test_the_generic_url_follows_the_sandbox_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTINUUM_SANDBOX__PORT", "18123")
    settings = Settings()
    assert settings.generic.url == f"http://127.0.0.1:18123{SEND_PATH}"
    assert settings.twilio.base_url == "http://127.0.0.1:18123"
    assert settings.vonage.base_url == "http://127.0.0.1:18123"


def test_the_generic_url_follows_the_sandbox_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTINUUM_SANDBOX__HOST", "sandbox.internal")
    monkeypatch.setenv("CONTINUUM_SANDBOX__PORT", "9000")
    assert Settings().generic.url == f"http://sandbox.internal:9000{SEND_PATH}"


def test_a_given_generic_url_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTINUUM_SANDBOX__PORT", "18123")
    monkeypatch.setenv("CONTINUUM_GENERIC__URL", "https://shop.example.com/continuum")
    monkeypatch.setenv("CONTINUUM_GENERIC__SECRET", "whsec_c2VjcmV0")
    settings = Settings()
    assert settings.generic.url == "https://shop.example.com/continuum"
    assert settings.generic.secret.get_secret_value() == "whsec_c2VjcmV0"


def test_setting_the_generic_secret_alone_keeps_the_url_following(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONTINUUM_SANDBOX__PORT", "18123")
    monkeypatch.setenv("CONTINUUM_GENERIC__SECRET", "whsec_c2VjcmV0")
    assert Settings().generic.url == f"http://127.0.0.1:18123{SEND_PATH}"


def test_by_default_the_generic_url_is_the_default_sandbox() -> None:
    assert Settings().generic.url == f"http://127.0.0.1:8090{SEND_PATH}"
