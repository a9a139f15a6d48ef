"""``continuum bench`` with small sizes, as a correctness test only (no speed is asserted).

It runs as an operator would run it, in its own process, against the integration servers
(``--servers``): every scenario, every inbound message accounted for, no duplicate sends, and a
``bench.json`` with every scenario and every field.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from orchestrator.bench.report import CORRECTNESS, COST, FIELDS, NO_SERVERS

REPO = Path(__file__).resolve().parents[2]
SMALL = [
    "--limit-records", "2000",
    "--messages", "300",
    "--customers", "150",
    "--e2e-messages", "100",
    "--rate", "40",
    "--seconds", "3",
    "--dispatch-messages", "300",
    "--dispatch-rate", "40",
    "--routing-conversations", "300",
    "--routing-agents", "20",
    "--routing-online-agents", "100",
    "--routing-rounds", "50",
    "--timeout", "150",
]  # fmt: skip


@pytest.mark.timeout(600)
def test_bench_accounts_for_every_message(
    kafka_bootstrap: str, redis_url: str, database_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTINUUM_")}
    env.update(
        CONTINUUM_KAFKA__BOOTSTRAP_SERVERS=kafka_bootstrap,
        CONTINUUM_REDIS_URL=redis_url,
        CONTINUUM_DATABASE_URL=database_url,
        CONTINUUM_FLOWS_DIR=str(REPO / "flows"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "bench", "--servers", "--no-progress", *SMALL,
         "--out", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=580, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| correctness | lost or unfinished / duplicate sends | 0 / 0 (ok) |" in done.stdout

    report = orjson.loads((tmp_path / "bench.json").read_bytes())
    scenarios = report["scenarios"]
    assert set(scenarios) == set(FIELDS)
    for name, fields in FIELDS.items():
        found = scenarios[name]
        assert found["status"] == "ok", (name, found["note"])
        promised = fields if name in NO_SERVERS else (*fields, *CORRECTNESS, *COST)
        assert set(promised) <= set(found), (name, set(promised) - set(found))
        # Redis memory per customer is None when used_memory shrank meanwhile: with a few
        # hundred customers the allocator's own swings can outweigh what they add.
        missing = [f for f in promised if found[f] is None and f != "redis_bytes_per_customer"]
        assert not missing, (name, missing)
    pipeline = scenarios["pipeline"]
    assert pipeline["accounted"] == pipeline["messages"] == 300
    assert pipeline["lost"] == 0
    assert pipeline["duplicate_sends"] == 0
    # One HELP answered per customer; the second within 10 minutes is dropped by the policy.
    assert pipeline["answered"] == 150
    assert pipeline["unanswered"] == {"policy_blocked dedupe.template": 150}
    e2e = scenarios["e2e"]
    assert e2e["delivered"] == e2e["provider_requests"] == 100
    assert (e2e["lost"], e2e["duplicate_sends"]) == (0, 0)
    latency = scenarios["latency"]
    assert latency["arrived"] == latency["messages"] == 120
    assert latency["p50_ms"] <= latency["p99_ms"] <= latency["max_ms"]
    assert report["correctness"] == {
        "scenarios": ["pipeline", "e2e", "latency", "dispatch"],
        "lost": 0,
        "duplicate_sends": 0,
        "ok": True,
    }
    dispatch = scenarios["dispatch"]
    assert dispatch["accounted"] == 300 + 2 * 120  # the burst and both paced phases
    assert (dispatch["lost"], dispatch["duplicate_sends"]) == (0, 0)
    assert dispatch["sends_s_per_process"] > 0
    assert (tmp_path / "latency.png").read_bytes().startswith(b"\x89PNG")
    routing = scenarios["routing"]
    assert (routing["conversations"], routing["commit_rounds"]) == (300, 50)
    assert (routing["double_assignments"], routing["commit_problems"]) == (0, 0)
