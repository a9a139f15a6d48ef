"""Settings: defaults, ``CONTINUUM_*`` parsing, and one clear line for a bad value."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestrator.cli import main
from orchestrator.commands import addresses
from orchestrator.errors import ConfigError
from orchestrator.settings import ENV_FILE, Settings, describe_error, unknown_variables


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


# ------------------------------------------------------------------ .env and a running `up`


@pytest.fixture
def dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder whose ``.env`` is read, as outside the tests (conftest turns it off)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(Settings.model_config, "env_file", ENV_FILE)
    return tmp_path


def test_a_dotenv_file_in_the_working_folder_is_read_and_the_environment_wins(
    dotenv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path = dotenv
    (tmp_path / ".env").write_text(
        "CONTINUUM_REDIS_URL=redis://from-file:6379/0\nCONTINUUM_API__PORT=18080\n"
        "CONTINUUM_LOG_FORMAT=json\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("CONTINUUM_API__PORT", "19090")
    s = Settings()
    assert s.redis == "redis://from-file:6379/0"
    assert s.log_format == "json"
    assert s.api.port == 19090


def test_a_typo_in_the_dotenv_file_is_reported(
    dotenv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tmp_path = dotenv
    (tmp_path / ".env").write_text("CONTINUUM_REDISURL=redis://x:1/0\n", encoding="utf-8")
    assert main(["flows", "validate"]) == 2
    assert capsys.readouterr().err == (
        "continuum: unknown setting: CONTINUUM_REDISURL is not a setting "
        "(did you mean CONTINUUM_REDIS_URL?)\n"
    )


def _running_up(settings: Settings, **urls: str | None) -> None:
    """Write the addresses file as a running ``continuum up`` (this very process) would."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    addresses.write(
        settings.model_copy(
            update={
                "kafka": settings.kafka.model_copy(update={"bootstrap_servers": "127.0.0.1:19092"}),
                "redis_url": "redis://127.0.0.1:26379/0",
                "database_url": "postgresql://postgres@127.0.0.1:25432/continuum",
            }
        ),
        urls.get("api", "http://127.0.0.1:18080"),
        urls.get("sandbox", "http://127.0.0.1:18090"),
    )


def test_commands_find_the_service_up_started_in_this_folder(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / ".continuum")
    _running_up(s)
    found = addresses.located(s)
    assert found.kafka_bootstrap == "127.0.0.1:19092"
    assert found.redis == "redis://127.0.0.1:26379/0"
    assert found.database == "postgresql://postgres@127.0.0.1:25432/continuum"
    assert addresses.api_url(found) == "http://127.0.0.1:18080"
    assert (tmp_path / ".continuum" / "addresses.json").stat().st_mode & 0o077 == 0


def test_servers_named_in_the_environment_win_over_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTINUUM_REDIS_URL", "redis://mine:6379/1")
    monkeypatch.setenv("CONTINUUM_API__PORT", "9999")
    s = Settings(data_dir=tmp_path)
    _running_up(s)
    found = addresses.located(s)
    assert found.redis == "redis://mine:6379/1"
    assert addresses.api_url(found) == "http://127.0.0.1:9999"
    assert found.kafka_bootstrap == "127.0.0.1:19092"  # not named: from the file


def test_without_a_running_up_the_defaults_stand(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    assert addresses.located(s) == s  # no file
    (tmp_path / "addresses.json").write_text("{not json", encoding="utf-8")
    assert addresses.located(s) == s  # unreadable
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    doc = {
        "pid": int(dead.stdout),
        "kafka": "x:1",
        "redis": "redis://x:2/0",
        "database": "postgresql://x:3/db",
        "api": None,
        "sandbox": None,
    }
    (tmp_path / "addresses.json").write_text(json.dumps(doc), encoding="utf-8")
    assert addresses.located(s) == s  # its process is gone (up was killed)


def test_a_clean_stop_removes_only_its_own_file(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    _running_up(s)
    addresses.refuse_if_running(s)  # our own file: no conflict
    addresses.remove(addresses.path_of(s))
    assert not addresses.path_of(s).exists()


def test_a_second_up_in_the_same_folder_is_refused(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    _running_up(s)
    target = addresses.path_of(s)
    doc = json.loads(target.read_text(encoding="utf-8"))
    target.write_text(json.dumps({**doc, "pid": os.getppid()}), encoding="utf-8")  # alive
    with pytest.raises(ConfigError, match=r"already running .*pid \d+; API http://127.0.0.1:18080"):
        addresses.refuse_if_running(s)
    addresses.remove(target)
    assert target.exists()  # not ours: left alone


def test_phone_identity_is_shared_by_default_and_switchable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().identity.share_phone_across_media is True
    monkeypatch.setenv("CONTINUUM_IDENTITY__SHARE_PHONE_ACROSS_MEDIA", "false")
    assert Settings().identity.share_phone_across_media is False


def test_each_worker_has_its_own_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTINUUM_INBOUND__DEDUPE_TTL_S", "3600")
    monkeypatch.setenv("CONTINUUM_STATUS__PARK_TTL_S", "600")
    monkeypatch.setenv("CONTINUUM_SCHEDULER__TICK_S", "0.5")
    s = Settings()
    assert s.inbound.dedupe_ttl_s == 3600
    assert s.status.park_ttl_s == 600
    assert s.scheduler.tick_s == 0.5
    assert (s.scheduler.limit, s.scheduler.grace_s) == (500, 120.0)


def test_a_setting_that_moved_into_a_section_is_still_read_under_its_older_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONTINUUM_DEDUPE_TTL_S", "7200")
    assert Settings().inbound.dedupe_ttl_s == 7200
    assert unknown_variables({"CONTINUUM_DEDUPE_TTL_S": "7200"}) == []
    monkeypatch.setenv("CONTINUUM_INBOUND__DEDUPE_TTL_S", "3600")
    assert Settings().inbound.dedupe_ttl_s == 3600  # the section's own name wins


def test_a_worker_section_is_checked_like_any_other(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTINUUM_DEDUPE_TTL_S", "5")
    with pytest.raises(ValidationError) as err:
        Settings()
    assert "CONTINUUM_INBOUND__DEDUPE_TTL_S" in describe_error(err.value)
