"""``continuum sandbox fault``: options become the rule, bad ones and an absent sandbox exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.cli import build_parser, main
from orchestrator.commands.sandbox_faults import describe_rule, rule_body
from orchestrator.servers import free_port


def parse(*argv: str) -> object:
    return build_parser().parse_args(["sandbox", "fault", "add", *argv])


def test_only_the_options_given_go_in_the_rule() -> None:
    args = parse(
        "--provider", "twilio", "--kind", "throttle", "--retry-after", "2", "--count", "3",
        "--to", "+15550001",
    )  # fmt: skip
    assert rule_body(args) == {  # type: ignore[arg-type]
        "provider": "twilio",
        "kind": "throttle",
        "retry_after": 2,
        "count": 3,
        "match": {"to": "+15550001"},
    }


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        pytest.param(
            ["--provider", "twilio", "--kind", "latency", "--code", "21211"],
            "code does not apply to kind latency",
            id="other-kind-option",
        ),
        pytest.param(
            ["--provider", "acme", "--kind", "down"], "invalid choice: 'acme'", id="provider"
        ),
        pytest.param(
            ["--provider", "meta", "--kind", "down", "--probability", "2"],
            "must be between 0 and 1",
            id="probability",
        ),
        pytest.param(
            ["--provider", "meta", "--kind", "error", "--status", "200"],
            "status: Input should be greater than or equal to 400",
            id="status",
        ),
    ],
)
def test_bad_options_exit_2_with_the_reason(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["sandbox", "fault", "add", *argv])
    assert exited.value.code == 2
    assert says in capsys.readouterr().err


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize(
    "argv",
    [
        ["list"],
        ["clear"],
        ["add", "--provider", "twilio", "--kind", "down"],
    ],
)
def test_a_sandbox_that_does_not_answer_exits_2(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()  # nothing listens there
    monkeypatch.setenv("CONTINUUM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CONTINUUM_SANDBOX__PORT", str(port))
    assert main(["sandbox", "fault", *argv]) == 2
    err = capsys.readouterr().err
    assert f"the sandbox at http://127.0.0.1:{port}/_sandbox/faults does not answer" in err


def test_a_listed_rule_reads_on_one_line() -> None:
    line = describe_rule(
        {
            "id": "t1",
            "provider": "twilio",
            "kind": "throttle",
            "match": {"to": "+1"},
            "probability": 1.0,
            "count": 3,
            "retry_after": 2,
            "fired": 3,
            "expired": True,
        }
    )
    assert line == "t1  twilio  throttle  to='+1'  p=1.0  fired 3/3  retry_after=2  expired"
