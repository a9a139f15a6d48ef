"""``CONTINUUM_CHANNELS__<MEDIUM>``: each medium's providers in order, checked by the registry."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orchestrator.cli import main
from orchestrator.media import MEDIA
from orchestrator.settings import Settings, describe_error


def test_each_medium_defaults_to_its_sandbox_backed_provider_and_webhook_to_none() -> None:
    defaults = {
        "sms": ("twilio",),
        "whatsapp": ("meta",),
        "email": ("sendgrid",),
        "webchat": ("webchat",),
    }
    assert Settings().channels == {m: defaults.get(m, ()) for m in MEDIA}


def test_a_list_is_comma_separated_and_keeps_its_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTINUUM_CHANNELS__SMS", " twilio , ")
    assert Settings().channels["sms"] == ("twilio",)


def test_an_empty_list_disables_the_medium(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTINUUM_CHANNELS__SMS", "")
    assert Settings().channels["sms"] == ()


def test_setting_one_medium_keeps_the_others_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTINUUM_CHANNELS__EMAIL", "")
    assert Settings().channels["sms"] == ("twilio",)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        pytest.param(
            "CONTINUUM_CHANNELS__SMS",
            "twilio,nope",
            "CHANNELS__SMS: unknown sms provider 'nope' (known: twilio, vonage)",
            id="unknown",
        ),
        pytest.param(
            "CONTINUUM_CHANNELS__EMAIL",
            "twilio",
            "CHANNELS__EMAIL: unknown email provider 'twilio' (known: sendgrid, smtp)",
            id="wrong-medium",
        ),
        pytest.param(
            "CONTINUUM_CHANNELS__SMS",
            "twilio,twilio",
            "CHANNELS__SMS lists a provider twice",
            id="twice",
        ),
        pytest.param("CONTINUUM_CHANNELS__FAX", "twilio", "CONTINUUM_CHANNELS__FAX", id="medium"),
    ],
)
def test_a_bad_list_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    assert message in describe_error(info.value)


def test_continuum_exits_2_naming_the_known_providers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONTINUUM_CHANNELS__SMS", "nope")
    assert main(["flows", "validate"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith("continuum: invalid setting CONTINUUM_CHANNELS: ")
    assert "unknown sms provider 'nope' (known: twilio, vonage)" in line
