"""``--processes`` parsing, the restart backoff, and how ``continuum up`` rejects bad values."""

from __future__ import annotations

import pytest

from orchestrator import supervisor
from orchestrator.cli import EXIT_USAGE, build_parser
from orchestrator.supervisor import backoff, parse_processes
from orchestrator.workers import WORKERS


def test_processes_are_repeatable_and_comma_separated() -> None:
    got = parse_processes(["decision=2", "dispatcher=3, ledger=1"], WORKERS)
    assert got == {"decision": 2, "dispatcher": 3, "ledger": 1}


def test_up_merges_every_processes_option() -> None:
    args = build_parser().parse_args(
        ["up", "--processes", "decision=2", "--processes", "inbound=4"]
    )
    assert args.processes == [{"decision": 2}, {"inbound": 4}]
    assert build_parser().parse_args(["up"]).processes == []


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param("planner=2", "unknown role 'planner'", id="unknown-role"),
        pytest.param("decision=0", "N must be from 1 to 64", id="zero"),
        pytest.param("decision=-1", "N must be from 1 to 64", id="negative"),
        pytest.param("decision=65", "N must be from 1 to 64", id="too-many"),
        pytest.param("decision=two", "N is not a whole number", id="not-a-number"),
        pytest.param("decision", "is not ROLE=N", id="no-equals"),
        pytest.param("=2", "is not ROLE=N", id="no-role"),
        pytest.param("decision=2,", "is not ROLE=N", id="trailing-comma"),
    ],
)
def test_bad_processes_values_exit_2_with_one_line(
    value: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["up", "--processes", value])
    assert exited.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert reason in err
    assert len(err.strip().splitlines()) == 1


def test_restarts_back_off_doubling_up_to_a_ceiling() -> None:
    waits = [backoff(n) for n in range(1, 10)]
    assert waits[:4] == [0.5, 1.0, 2.0, 4.0]
    assert waits == sorted(waits)
    assert max(waits) == supervisor.MAX_BACKOFF_S


def test_child_env_sets_settings_and_keeps_the_rest() -> None:
    env = supervisor.child_env({"PATH": "/bin"}, api__port=8081, redis_url="redis://r:1/0")
    assert env["PATH"] == "/bin"
    assert env["CONTINUUM_API__PORT"] == "8081"
    assert env["CONTINUUM_REDIS_URL"] == "redis://r:1/0"
