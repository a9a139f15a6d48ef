"""The routing scenario: the contact-centre simulation (:mod:`orchestrator.bench.routing_sim`)
at the bench's size, off the event loop, which measures the routing decisions themselves on the
pure board; then the same floor on the bench's Redis, each decision committed as a router
commits it (:mod:`orchestrator.bench.routing_commit`, the ``commit_*`` figures)."""

from __future__ import annotations

import asyncio

from orchestrator.bench.options import BenchOptions
from orchestrator.bench.progress import Progress
from orchestrator.bench.report import Result
from orchestrator.bench.routing_commit import CommitConfig, measure
from orchestrator.bench.routing_sim import SimConfig, simulate


async def run(options: BenchOptions, bar: Progress, redis_url: str) -> Result:
    """One seeded run of ``routing_conversations`` on ``routing_agents`` agents, with
    ``routing_online_agents`` more online but full; then ``routing_commit_rounds`` on the board
    in ``redis_url``."""
    config = SimConfig(
        conversations=options.routing_conversations,
        agents=options.routing_agents,
        online_agents=options.routing_online_agents,
    )
    bar.reset("routing", options.routing_conversations)
    report = await asyncio.to_thread(simulate, config)
    bar.add(options.routing_conversations)
    committed = await measure(
        redis_url,
        CommitConfig(
            agents=options.routing_agents,
            online_agents=options.routing_online_agents,
            rounds=options.routing_commit_rounds,
        ),
    )
    fields = {
        **report.summary(),
        "agents": options.routing_agents,
        "online_agents": options.routing_online_agents,
        **committed,
    }
    ok = (
        fields["double_assignments"] == 0
        and fields["over_capacity"] == 0
        and fields["commit_problems"] == 0
    )
    return Result(
        "routing",
        count=report.conversations,
        status="ok" if ok else "failed",
        note="" if ok else "an invariant broke: double_assignments, over_capacity, commit_problems",
        fields=fields,
    )
