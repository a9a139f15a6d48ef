"""What a run found: one :class:`Result` per scenario, printed as a table and kept as JSON.

``bench.json`` holds every scenario's fields (the integration test checks that each is there);
``latency.png`` is the histogram of the latency scenario, drawn with matplotlib when it is
installed (the dev extra); without it the PNG is skipped with a note and nothing else changes.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

FIELDS: dict[str, tuple[str, ...]] = {
    "limits": ("raw_aiokafka_msg_s", "faststream_batch_msg_s"),
    "pipeline": (
        "messages",
        "customers",
        "sends",
        "msg_s",
        "ratio_to_raw_aiokafka",
        "ratio_to_faststream_batch",
        "produce_msg_s",
    ),
    "e2e": ("messages", "provider_requests", "delivered", "msg_s", "ledger_rows_s"),
    "latency": (
        "offered_msg_s",
        "seconds",
        "messages",
        "arrived",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "max_ms",
    ),
    "dispatch": (
        "processes",
        "messages",
        "sends_s",
        "sends_s_per_process",
        "dispatcher_cpu_ms_per_send",
        "sends_s_per_dispatcher_core",
        "machine_cpu_ms_per_send",
        "machine_cores",
        "machine_ceiling_sends_s",
        "clean_p99_ms",
        "faulted_ok_p99_ms",
        "retry_added_p99_ms",
        "retried",
    ),
    "routing": (
        "conversations",
        "agents",
        "online_agents",
        "service_level_pct",
        "abandonment_pct",
        "offers",
        "offer_timeouts",
        "rejections",
        "offer_to_assignment_p99_ms",
        "arrival_to_offer_p99_ms",
        "capacity_to_offer_p99_ms",
        "missed_refills",
        "double_assignments",
        "over_capacity",
        "events",
        "wall_s",
        "commit_rounds",
        "commit_arrival_p50_ms",
        "commit_arrival_p99_ms",
        "commit_accept_p50_ms",
        "commit_accept_p99_ms",
        "commit_refill_p50_ms",
        "commit_refill_p99_ms",
        "commit_reload_ms",
        "commit_problems",
    ),
}
"""The fields each scenario reports (``bench.json`` has every one, ``null`` when unmeasured)."""

NO_SERVERS = frozenset({"limits", "routing"})
"""Scenarios that send no messages through the service: no correctness or cost columns."""
CORRECTNESS = ("accounted", "lost", "duplicate_sends")
"""Every scenario that sends messages reports these too."""
COST = (
    "redis_commands_per_msg",
    "kafka_records_per_inbound",
    "ledger_rows_s",
    "cpu_s_per_1000_msgs",
    "rss_mb",
    "redis_bytes_per_customer",
)
"""And these, from the servers' counters and each worker process's /proc."""


def timed_out(after: float, what: str) -> str:
    """The note of a scenario that ran out of time."""
    return f"timed out after {after:.0f}s: {what}"


@dataclass
class Result:
    """One scenario's outcome: ``ok``, ``timed_out`` (with how far it got) or ``failed``."""

    scenario: str
    count: int = 0
    status: str = "ok"
    note: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    samples_ms: list[float] = field(default_factory=list)
    """Latency samples (the latency scenario), for the histogram; not in bench.json."""

    def as_json(self) -> dict[str, Any]:
        """Every field the scenario promises, measured or ``None``."""
        names = FIELDS.get(self.scenario, ())
        if self.scenario not in NO_SERVERS:
            names = (*names, *CORRECTNESS, *COST)
        values = {name: self.fields.get(name) for name in names}
        extra = {k: v for k, v in self.fields.items() if k not in values}
        return {"status": self.status, "note": self.note, **values, **extra}


def write_json(path: Path, results: Sequence[Result], options: dict[str, Any]) -> None:
    """``bench.json``: the machine, the options and every scenario's fields."""
    body = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": _cpus(),
            "python": platform.python_version(),
            # Other work on the machine skews every figure: say how busy it was at the end.
            "load_average": os.getloadavg(),
        },
        "options": options,
        "scenarios": {r.scenario: r.as_json() for r in results},
        "correctness": correctness(results),
    }
    path.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2, default=str))


def correctness(results: Sequence[Result]) -> dict[str, Any]:
    """0 lost and 0 duplicate sends in every scenario that sends, or the counts that say not."""
    checked = [r for r in results if "lost" in r.fields]
    lost = sum(int(r.fields.get("lost") or 0) for r in checked)
    dupes = sum(int(r.fields.get("duplicate_sends") or 0) for r in checked)
    return {
        "scenarios": [r.scenario for r in checked],
        "lost": lost,
        "duplicate_sends": dupes,
        "ok": lost == 0 and dupes == 0 and all(r.status == "ok" for r in checked),
    }


def table(results: Sequence[Result]) -> str:
    """The figures as a Markdown table (it reads in a terminal and pastes into docs)."""
    rows = ["| scenario | measure | value |", "|---|---|---|"]
    for r in results:
        if r.status != "ok":
            rows.append(f"| {r.scenario} | **{r.status}** | {r.note} |")
        for name, value in r.as_json().items():
            if name in ("status", "note") or value is None:
                continue
            rows.append(f"| {r.scenario} | {name} | {_show(value)} |")
    c = correctness(results)
    verdict = ("ok" if c["ok"] else "NOT OK") if c["scenarios"] else "not checked"
    found = f"{c['lost']} / {c['duplicate_sends']} ({verdict})"
    rows.append(f"| correctness | lost or unfinished / duplicate sends | {found} |")
    return "\n".join(rows)


def histogram(path: Path, latencies_ms: Sequence[float], title: str) -> str | None:
    """Draw the latency histogram; return why not when it cannot be drawn."""
    if not latencies_ms:
        return "no latency samples"
    try:
        import matplotlib

        logging.getLogger("matplotlib").setLevel(logging.WARNING)  # no font-cache chatter
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[dev]'): PNG skipped"
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.hist(latencies_ms, bins=100, color="#3465a4")
    ax.set_xlabel("inbound record -> provider request (ms)")
    ax.set_ylabel("messages")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_show(v)}" for k, v in value.items())
    return str(value)


def _cpus() -> int:
    return len(os.sched_getaffinity(0))
