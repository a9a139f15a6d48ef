"""A worker killed after doing its work but before committing sends nothing twice."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from orchestrator.service import Service
from orchestrator.settings import Settings
from tests.integration.crash_before_commit import CRASH_EXIT_CODE
from tests.integration.helpers import Pipeline, eventually, sms_event
from tests.integration.processes import env_for, spawn

CUSTOMER = "+15551239999"


async def _wait_exit(proc: subprocess.Popen[bytes], timeout: float) -> int:
    code = await eventually(lambda: asyncio.sleep(0, proc.poll()), lambda c: c is not None, timeout)
    assert code is not None
    return code


@pytest.mark.timeout(120)
async def test_dispatcher_killed_before_commit_sends_its_reply_exactly_once(
    settings: Settings, tmp_path: Path
) -> None:
    # Everything but the dispatcher runs here; the dispatcher runs as its own process.
    service = Service(settings, workers=["inbound", "decision", "status", "ledger"], sandbox=True)
    await service.start()
    log = tmp_path / "dispatcher.log"
    first = spawn(
        ["worker", "--only", "dispatcher"], env_for(settings), log, crash_before_commit="dispatcher"
    )
    try:
        await service.wait_consuming()
        async with Pipeline.open(service) as pipe:
            topic = service.topics.inbound("sms")
            await pipe.produce(topic, sms_event("SMcrash", CUSTOMER, "where is my order"), CUSTOMER)

            # The first dispatcher sends, then dies before committing its offsets.
            assert await _wait_exit(first, 60) == CRASH_EXIT_CODE, log.read_text()
            assert len(await pipe.sandbox_messages()) == 1

            # Its replacement is handed the same record again, and refuses to send it twice.
            second = spawn(["worker", "--only", "dispatcher"], env_for(settings), log)
            try:
                steps = await eventually(
                    lambda: pipe.ledger_steps(CUSTOMER),
                    lambda s: ("duplicate_send_refused", "accepted") in s,
                    timeout=60,
                )
            finally:
                second.terminate()
                await _wait_exit(second, 15)
            assert steps.count(("provider_accepted", "queued")) == 1
            assert len(await pipe.sandbox_messages()) == 1
    finally:
        if first.poll() is None:
            first.kill()
        await service.stop()
