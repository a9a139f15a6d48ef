"""One bench run: servers up, each chosen scenario in order, the table, ``bench.json``."""

from __future__ import annotations

import dataclasses
import sys
import time
import uuid
from typing import Any

from orchestrator.bench import dispatch, e2e, latency, limits, pipeline, routing
from orchestrator.bench.harness import Endpoints, bench_servers
from orchestrator.bench.options import BenchOptions
from orchestrator.bench.progress import Progress
from orchestrator.bench.report import Result, correctness, table, write_json
from orchestrator.errors import ConfigError
from orchestrator.settings import Settings


async def run(settings: Settings, options: BenchOptions) -> list[Result]:
    """Run the scenarios of ``options``; print the table; write ``bench.json``.

    A scenario that fails (a worker that does not start) is reported as ``failed`` and the
    next one still runs; a scenario that runs out of time says how far it got.
    """
    options.out_dir.mkdir(parents=True, exist_ok=True)
    options.work.mkdir(parents=True, exist_ok=True)
    run_id = uuid.uuid4().hex[:6]
    results: list[Result] = []
    started = time.monotonic()
    _say(f"continuum bench {run_id}: {', '.join(options.scenarios)} (logs in {options.work})")
    async with bench_servers(settings, options, options.work.resolve()) as endpoints:
        with Progress("servers", 0, enabled=options.progress) as bar:
            for name in options.scenarios:
                results.append(await _scenario(name, endpoints, options, run_id, results, bar))
    _say(table(results))
    path = options.out_dir / "bench.json"
    write_json(path, results, _options_json(options))
    c = correctness(results)
    verdict = ("ok" if c["ok"] else "NOT OK") if c["scenarios"] else "not checked"
    _say(f"wrote {path}; correctness {verdict}; took {time.monotonic() - started:.0f}s")
    return results


async def _scenario(
    name: str,
    endpoints: Endpoints,
    options: BenchOptions,
    run_id: str,
    done: list[Result],
    bar: Progress,
) -> Result:
    try:
        match name:
            case "limits":
                bar.reset("limits", 2 * options.limit_records)
                return await limits.run(
                    endpoints.kafka, options.limit_records, options.timeout_s, bar.add
                )
            case "pipeline":
                found = next((r.fields for r in done if r.scenario == "limits"), {})
                return await pipeline.run(endpoints, options, run_id, found, bar)
            case "e2e":
                return await e2e.run(endpoints, options, run_id, bar)
            case "latency":
                return await latency.run(endpoints, options, run_id, bar)
            case "dispatch":
                return await dispatch.run(endpoints, options, run_id, bar)
            case "routing":
                return await routing.run(options, bar, endpoints.redis)
    except ConfigError as exc:
        return Result(name, status="failed", note=str(exc))
    raise AssertionError(f"unknown scenario {name}")  # pragma: no cover - options validated


def _options_json(options: BenchOptions) -> dict[str, Any]:
    return {
        k: str(v) if not isinstance(v, int | float | tuple) else v
        for k, v in dataclasses.asdict(options).items()
    }


def _say(text: str) -> None:
    print(text, file=sys.stdout, flush=True)
