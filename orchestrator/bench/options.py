"""What one bench run measures and how big each scenario is."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

SCENARIOS: tuple[str, ...] = ("limits", "pipeline", "e2e", "latency", "dispatch", "routing")
"""Every scenario, in run order (`--scenario`); cost and correctness come with each."""


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """Sizes and limits of a run; :func:`quick` gives the small ones for development and CI."""

    scenarios: tuple[str, ...] = SCENARIOS
    limit_records: int = 200_000
    messages: int = 200_000
    customers: int = 100_000
    e2e_messages: int = 20_000
    rate: int = 2_000
    seconds: float = 60.0
    dispatch_messages: int = 50_000
    """The dispatch scenario's burst: ``message.send`` commands produced at once."""
    dispatch_rate: int = 500
    """The dispatch scenario's paced phases (clean, then faulted): commands per second."""
    routing_conversations: int = 10_000
    """The routing scenario's simulated conversations (on ``routing_agents`` agents)."""
    routing_agents: int = 200
    routing_online_agents: int = 5_000
    """Agents online but full beside them: what each decision searches through."""
    routing_commit_rounds: int = 1_000
    """The routing scenario's rounds on the board in Redis (arrive, close, refill, accept)."""
    timeout_s: float = 1_800.0
    out_dir: Path = Path(".")
    work: Path = Path(".continuum/bench")
    """Where the child processes' logs go (kept after the run, for a look when one fails)."""
    use_servers: bool = False
    progress: bool = True

    def quick(self) -> BenchOptions:
        """The same run at development sizes (about a minute on today's code)."""
        return replace(
            self,
            limit_records=20_000,
            messages=2_000,
            customers=1_000,
            e2e_messages=300,
            rate=20,  # under today's end-to-end rate, so the latency is not a growing queue
            seconds=10.0,
            dispatch_messages=3_000,
            dispatch_rate=100,
            routing_conversations=1_000,
            routing_agents=40,
            routing_online_agents=500,
            routing_commit_rounds=200,
            timeout_s=min(self.timeout_s, 180.0),
        )
