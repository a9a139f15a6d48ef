"""``continuum bench``'s arguments and the pure parts of its report (no servers)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from orchestrator.bench.latency import percentile
from orchestrator.bench.load import Outbound, address, inbound_plan
from orchestrator.bench.options import SCENARIOS
from orchestrator.bench.report import (
    CORRECTNESS,
    COST,
    FIELDS,
    NO_SERVERS,
    Result,
    table,
    write_json,
)
from orchestrator.cli import build_parser, main
from orchestrator.commands.bench import options_from


def _exit_code(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return int(exc.value.code or 0)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["bench", "--scenario", "speed"], id="unknown-scenario"),
        pytest.param(["bench", "--scenario", ","], id="no-scenario"),
        pytest.param(["bench", "--messages", "0"], id="zero-messages"),
        pytest.param(["bench", "--messages", "lots"], id="not-a-number"),
        pytest.param(["bench", "--customers", "1000000"], id="too-many-customers"),
        pytest.param(["bench", "--seconds", "-1"], id="negative-seconds"),
        pytest.param(["bench", "--frobnicate"], id="unknown-flag"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("continuum"), err
    assert "error: " in err, err
    assert len(err.splitlines()) == 1, err


def test_help_shows_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["bench", "--help"]) == 0
    assert "continuum bench --quick" in capsys.readouterr().out


def test_quick_sizes_yield_to_explicit_ones() -> None:
    args = build_parser().parse_args(["bench", "--quick", "--messages", "500", "--out", "o"])
    options = options_from(args)
    assert (options.messages, options.customers) == (500, 1_000)
    assert options.scenarios == SCENARIOS
    assert options.work == Path("o") / "bench-logs"
    defaults = options_from(build_parser().parse_args(["bench", "--scenario", "e2e,limits"]))
    assert (defaults.messages, defaults.customers, defaults.rate) == (200_000, 100_000, 2_000)
    assert defaults.scenarios == ("limits", "e2e")  # run order, whatever the order given


def test_plan_spreads_customers_over_channels_and_repeats_them() -> None:
    plan = inbound_plan("r", 8, 4, 1)
    assert [m.channel for m in plan[:4]] == ["sms", "whatsapp", "email", "webchat"]
    assert [m.sender for m in plan[4:]] == [m.sender for m in plan[:4]]
    assert len({m.event_id for m in plan}) == 8
    assert address("sms", 42, 3) == "+14153000042"


def _send(in_reply_to: str, message_id: str) -> bytes:
    return orjson.dumps({"data": {"in_reply_to": in_reply_to, "message_id": message_id}})


def _decision(event_id: str, outcome: str, reason: str | None = None) -> bytes:
    data = {"step": "decision", "event_id": event_id, "outcome": outcome, "reason": reason}
    return orjson.dumps({"data": data})


def test_outbound_accounts_for_sends_and_policy_drops_only() -> None:
    out = Outbound("r")
    out.add(_send("sms:bench-r-1-0", "m0"), 1_000)
    out.add(_send("sms:bench-r-1-0", "m0"), 1_500)  # the same send twice: a duplicate
    out.add(_send("sms:bench-other-1-0", "x"), 1_600)  # another run's
    out.add(
        _decision("sms:bench-r-1-1", "policy_blocked", "dedupe.template: again"), 2_000, audit=True
    )
    out.add(_decision("sms:bench-r-1-2", "flow_ended"), 2_500, audit=True)  # explains nothing
    expected = ["bench-r-1-0", "bench-r-1-1", "bench-r-1-2"]
    assert out.accounted(expected) == 2
    assert out.duplicates() == 1
    assert out.unanswered() == {"policy_blocked dedupe.template": 1}
    assert out.last_ts == 2.0
    assert out.other == 1


def test_percentiles_count_missing_samples_as_slowest() -> None:
    samples = [float(n) for n in range(1, 101)]
    assert percentile(samples, 100, 0.50) == 50.0
    assert percentile(samples, 100, 0.99) == 99.0
    assert percentile(samples[:95], 100, 0.95) == 95.0
    assert percentile(samples[:95], 100, 0.99) is None  # that message never arrived


def test_bench_json_has_every_field_of_every_scenario(tmp_path: Path) -> None:
    results = [Result(name) for name in FIELDS]
    results[1].fields.update(lost=0, duplicate_sends=0)
    write_json(tmp_path / "bench.json", results, {"messages": 1})
    report = orjson.loads((tmp_path / "bench.json").read_bytes())
    for name, fields in FIELDS.items():
        promised = fields if name in NO_SERVERS else (*fields, *CORRECTNESS, *COST)
        assert set(promised) <= set(report["scenarios"][name]), name
    assert report["correctness"]["ok"] is True


def test_table_says_how_far_a_timed_out_scenario_got() -> None:
    late = Result("e2e", status="timed_out", note="timed out after 60s: 7 of 10 delivered")
    late.fields.update(lost=3, duplicate_sends=0)
    text = table([late])
    assert "| e2e | **timed_out** | timed out after 60s: 7 of 10 delivered |" in text
    assert "| correctness | lost or unfinished / duplicate sends | 3 / 0 (NOT OK) |" in text


def test_a_scenario_that_failed_or_timed_out_fails_the_run() -> None:
    from orchestrator.bench.report import Result
    from orchestrator.commands.bench import passed

    sent = {"lost": 0, "duplicate_sends": 0}
    assert passed([Result("limits"), Result("pipeline", fields=sent)])
    # a worker that could not start: no message was lost, but nothing was checked either
    assert not passed([Result("limits"), Result("pipeline", status="failed", note="exited")])
    assert not passed([Result("e2e", status="timed_out", fields=sent)])


def test_a_missing_flows_folder_exits_2_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONTINUUM_FLOWS_DIR", str(tmp_path / "nowhere"))
    assert main(["bench", "--quick"]) == 2
    assert "flows folder does not exist" in capsys.readouterr().err


def test_redis_memory_per_customer_is_unknown_when_redis_shrank() -> None:
    from orchestrator.bench.cost import _per_customer

    assert _per_customer(8_850, 10) == 885
    assert _per_customer(-2_307_000, 1_000) is None  # keys expired meanwhile: not a cost
