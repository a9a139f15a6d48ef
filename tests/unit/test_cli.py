"""The ``continuum`` command line: help, ``flows validate``, and usage errors (exit 2)."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from orchestrator.cli import build_parser, main
from orchestrator.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("restore_logging")


def _exit_code(argv: list[str]) -> int | str | None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code


@pytest.mark.parametrize(
    ("argv", "mentions"),
    [
        pytest.param(
            [], ["up", "worker", "sandbox", "topics", "send", "ledger", "flows"], id="top"
        ),
        pytest.param(["up"], ["usage: continuum up"], id="up"),
        pytest.param(["worker"], ["--only", "--api"], id="worker"),
        pytest.param(["sandbox"], ["usage: continuum sandbox"], id="sandbox"),
        pytest.param(["topics"], ["usage: continuum topics"], id="topics"),
        pytest.param(
            ["send"],
            ["--from", "--to", "--id", "{sms,whatsapp,email,webchat,webhook}", "text"],
            id="send",
        ),
        pytest.param(["ledger"], ["query"], id="ledger"),
        pytest.param(
            ["ledger", "query"],
            ["--customer", "--address", "--since", "--until", "--format", "--limit"],
            id="ledger-query",
        ),
        pytest.param(["flows"], ["validate"], id="flows"),
        pytest.param(["flows", "validate"], ["folder", "CONTINUUM_FLOWS_DIR"], id="flows-validate"),
    ],
)
def test_help(argv: list[str], mentions: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code([*argv, "--help"]) == 0
    out = capsys.readouterr().out
    for word in mentions:
        assert word in out


def test_flows_validate_lists_the_flows(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", "validate", str(ROOT / "flows")]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = {line.split()[1] for line in lines}
    files = (ROOT / "flows").glob("*.yaml")
    shipped = {p.stem.replace("_", "-") for p in files} - {"policy", "vars", "routing"}
    assert listed == shipped | {"routing.yaml"}
    assert all(line.startswith("ok  ") for line in lines)
    assert lines[-1].startswith("ok  routing.yaml  (5 queues, 1 schedules")


def test_flows_validate_defaults_to_the_flows_dir_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONTINUUM_FLOWS_DIR", str(tmp_path / "missing"))
    assert main(["flows", "validate"]) == 2
    assert capsys.readouterr().err == f"{tmp_path / 'missing'}: flows folder does not exist\n"


def test_flows_validate_reports_a_broken_flow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.yaml").write_text(
        "spec_version: 1\nid: broken\nversion: 1\nstage: support\nowner: qa\n"
        "trigger: {type: message, match: keyword, words: [X]}\n"
        "steps:\n  - {id: s, type: send, template: 'hi {{ oops'}\n",
        encoding="utf-8",
    )
    assert main(["flows", "validate", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert re.match(rf"^{re.escape(str(tmp_path / 'broken.yaml'))}:8: ", captured.err)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["frobnicate"], id="unknown-subcommand"),
        pytest.param([], id="no-subcommand"),
        pytest.param(["ledger", "query"], id="no-customer-address-or-since"),
        pytest.param(["ledger", "query", "--customer", "c1", "--limit", "-1"], id="limit-negative"),
        pytest.param(["ledger", "query", "--customer", "c1", "--limit", "x"], id="limit-not-int"),
        pytest.param(
            ["ledger", "query", "--since", "2026-02-01", "--until", "2026-01-01"],
            id="since-after-until",
        ),
        pytest.param(
            [
                "ledger",
                "query",
                "--address",
                "+1",
                "--since",
                "2026-01-01",
                "--until",
                "2026-01-01",
            ],
            id="empty-range",
        ),
        pytest.param(
            ["flows", "replay", "--since", "2026-02-01", "--until", "2026-01-01", "--flows", "f"],
            id="replay-since-after-until",
        ),
        pytest.param(
            ["flows", "replay", "--since", "2026-01-01", "--flows", "f", "--limit", "0"],
            id="replay-limit-zero",
        ),
        pytest.param(["policy", "explain", "--purpose", "service", "--channel", "sms"], id="who"),
        pytest.param(["ledger", "query", "--customer", "c1", "--address", "+1"], id="both"),
        pytest.param(["ledger", "query", "--customer", "c1", "--since", "notatime"], id="since"),
        pytest.param(["ledger", "query", "--customer", "c1", "--format", "xml"], id="format"),
        pytest.param(["send", "pigeon", "hi", "--from", "+1"], id="unknown-channel"),
        pytest.param(["send", "sms", "hi"], id="send-without-from"),
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("continuum")
    assert "error: " in err
    assert len(err.splitlines()) == 1, err


def test_since_error_names_the_bad_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["ledger", "query", "--address", "+1", "--until", "yesterday"]) == 2
    assert "not an ISO 8601 time: 'yesterday'" in capsys.readouterr().err


def _subcommands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield (*path, name), child
                yield from _subcommands(child, (*path, name))


def test_every_subcommand_help_has_a_description_and_an_example() -> None:
    found = list(_subcommands(build_parser()))
    assert len(found) >= 19  # every command and subcommand, walked
    for path, parser in found:
        text = parser.format_help()
        name = " ".join(path)
        description = parser.description or ""
        assert description.strip(), name
        assert "\n" not in description.strip(), f"{name}: description is not one line"
        assert description in text, name
        example = text.split("example:\n", 1)
        assert len(example) == 2, f"{name}: no example in --help"
        assert f"continuum {name}" in example[1], f"{name}: the example does not use it"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["--version"]) == 0
    assert capsys.readouterr().out == f"continuum {metadata.version('continuum')}\n"


def test_flows_test_names_a_missing_path_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    missing = ROOT / "no-such-tests"
    assert main(["flows", "test", str(missing), "--flows", str(ROOT / "flows")]) == 2
    assert capsys.readouterr().err == f"continuum: {missing}: no such test file or folder\n"


def test_send_with_the_broker_down_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTINUUM_")}
    env["CONTINUUM_KAFKA__BOOTSTRAP_SERVERS"] = f"127.0.0.1:{free_port()}"  # nobody listens
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "send", "sms", "--from", "+15551230001", "hi"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        f"continuum: cannot reach the broker at {env['CONTINUUM_KAFKA__BOOTSTRAP_SERVERS']}"
    )
    assert done.stdout == ""
