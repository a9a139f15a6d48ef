"""The routing scenario: the contact-centre simulation (:mod:`orchestrator.bench.routing_sim`)
at the bench's size, off the event loop. It measures the routing decisions themselves, on the
pure board: a Redis commit per event comes on top in a running router."""

from __future__ import annotations

import asyncio

from orchestrator.bench.options import BenchOptions
from orchestrator.bench.progress import Progress
from orchestrator.bench.report import Result
from orchestrator.bench.routing_sim import SimConfig, simulate


async def run(options: BenchOptions, bar: Progress) -> Result:
    """One seeded run of ``routing_conversations`` on ``routing_agents`` agents, with
    ``routing_online_agents`` more online but full."""
    config = SimConfig(
        conversations=options.routing_conversations,
        agents=options.routing_agents,
        online_agents=options.routing_online_agents,
    )
    bar.reset("routing", options.routing_conversations)
    report = await asyncio.to_thread(simulate, config)
    bar.add(options.routing_conversations)
    fields = {
        **report.summary(),
        "agents": options.routing_agents,
        "online_agents": options.routing_online_agents,
    }
    ok = fields["double_assignments"] == 0 and fields["over_capacity"] == 0
    return Result(
        "routing",
        count=report.conversations,
        status="ok" if ok else "failed",
        note="" if ok else "an invariant broke: see double_assignments and over_capacity",
        fields=fields,
    )
