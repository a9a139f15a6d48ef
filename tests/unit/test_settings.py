"""Settings: defaults, ``CONTINUUM_*`` parsing, and one clear line for a bad value."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestrator.cli import main
from orchestrator.settings import Settings, describe_error


def _error(**kwargs: object) -> str:
    with pytest.raises(ValidationError) as info:
        Settings(**kwargs)  # type: ignore[arg-type]
    return describe_error(info.value)


def test_defaults() -> None:
    s = Settings()
    assert s.kafka.bootstrap_servers is None
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert s.redis_url is None
    assert s.redis == "redis://127.0.0.1:16379/0"
    assert s.database.startswith("postgresql://")
    assert (s.kafka.topic_prefix, s.kafka.partitions) == ("continuum.", 4)
    assert (s.api.host, s.api.port) == ("127.0.0.1", 8080)
    assert s.api_public_url == "http://127.0.0.1:8080"
    assert s.flows_dir == Path("flows")
    assert s.log_level == "INFO"
    assert s.dedupe_ttl_s == 48 * 3600


def test_environment_with_nested_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTINUUM_KAFKA__BOOTSTRAP_SERVERS", "k1:9093,k2:9093")
    monkeypatch.setenv("CONTINUUM_KAFKA__PARTITIONS", "12")
    monkeypatch.setenv("CONTINUUM_API__PORT", "9000")
    monkeypatch.setenv("CONTINUUM_API__PUBLIC_URL", "https://hooks.example.com/")
    monkeypatch.setenv("CONTINUUM_REDIS_URL", "redis://cache:6379/2")
    monkeypatch.setenv("CONTINUUM_FLOWS_DIR", "/srv/flows")
    monkeypatch.setenv("CONTINUUM_DISPATCH__BACKOFF_S", "0.5")
    monkeypatch.setenv("CONTINUUM_TWILIO__ACCOUNT_SID", "AC123")
    monkeypatch.setenv("CONTINUUM_TWILIO__AUTH_TOKEN", "tok-123")
    s = Settings()
    assert s.kafka_bootstrap == "k1:9093,k2:9093"
    assert s.kafka.partitions == 12
    assert s.kafka.group_prefix == "continuum"  # untouched sibling keeps its default
    assert s.api.port == 9000
    assert s.api_public_url == "https://hooks.example.com"
    assert s.redis == "redis://cache:6379/2"
    assert s.flows_dir == Path("/srv/flows")
    assert s.dispatch.backoff_s == 0.5
    assert s.twilio.account_sid == "AC123"
    assert s.twilio.auth_token.get_secret_value() == "tok-123"
    assert "tok-123" not in repr(s)


def test_settings_are_frozen() -> None:
    with pytest.raises(ValidationError):
        Settings().flows_dir = Path("x")  # type: ignore[misc]


def test_bad_values_give_one_line_naming_each_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTINUUM_API__PORT", "notaport")
    monkeypatch.setenv("CONTINUUM_KAFKA__PARTITIONS", "0")
    message = _error()
    assert "\n" not in message
    assert message.startswith("invalid setting ")
    assert "CONTINUUM_API__PORT: " in message
    assert "(got 'notaport')" in message
    assert "CONTINUUM_KAFKA__PARTITIONS: Input should be greater than or equal to 1" in message


@pytest.mark.parametrize(
    ("env", "failing"),
    [
        pytest.param(
            {"CONTINUUM_TWILIO__AUTH_TOKEN": "supersecret-1", "CONTINUUM_API__PORT": "x"},
            "CONTINUUM_API__PORT",
            id="other-section",
        ),
        pytest.param(
            {"CONTINUUM_TWILIO": '{"account_sid": 5, "auth_token": "supersecret-2"}'},
            "CONTINUUM_TWILIO__ACCOUNT_SID",
            id="same-section",
        ),
    ],
)
def test_token_is_not_echoed_when_a_neighbouring_field_fails(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], failing: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    message = _error()
    assert message.startswith(f"invalid setting {failing}: ")
    assert "supersecret" not in message


@pytest.mark.parametrize(
    ("kwargs", "variable", "secret"),
    [
        pytest.param(
            {"twilio": {"account_sid": "AC1", "auth_token": 987654321}},
            "CONTINUUM_TWILIO__AUTH_TOKEN",
            "987654321",
            id="token",
        ),
        pytest.param({"redis_url": 424242}, "CONTINUUM_REDIS_URL", "424242", id="url"),
    ],
)
def test_a_failing_secret_or_url_is_named_but_not_shown(
    kwargs: dict[str, object], variable: str, secret: str
) -> None:
    message = _error(**kwargs)
    assert f"{variable}: " in message
    assert secret not in message


def test_cli_reports_a_bad_setting_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONTINUUM_API__PORT", "notaport")
    assert main(["flows", "validate"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("continuum: invalid setting CONTINUUM_API__PORT: ")


def test_cli_reports_unparseable_section_json_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONTINUUM_KAFKA", "not json")
    assert main(["flows", "validate"]) == 2
    assert capsys.readouterr().err.startswith("continuum: invalid setting CONTINUUM_KAFKA")
