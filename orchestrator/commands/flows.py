"""``continuum flows ...``: validate, test and inspect flow files, with no server."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from orchestrator.commands import parse_time, positive_int
from orchestrator.commands.registry import Command
from orchestrator.errors import FlowError
from orchestrator.media import MEDIA
from orchestrator.settings import Settings

if TYPE_CHECKING:
    from orchestrator.engine.catalogue import Catalogue
    from orchestrator.engine.spec import Flow

EXIT_FAILED = 1
EXIT_USAGE = 2


def folder_of(settings: Settings, args: argparse.Namespace) -> Path:
    """The flows folder: ``--flows``/positional, else ``CONTINUUM_FLOWS_DIR``."""
    given = getattr(args, "folder", None) or getattr(args, "flows", None)
    return Path(given) if given else settings.flows_dir


def load(settings: Settings, folder: Path) -> Catalogue | None:
    """The catalogue, or ``None`` after printing every problem as ``file:line: reason``."""
    from orchestrator.flowfiles import load_flows

    try:
        return load_flows(
            folder, settings.flows_allowed_hosts, settings.flow_variables, settings.policy_file
        )
    except FlowError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def validate(settings: Settings, args: argparse.Namespace) -> int:
    """Schema, references, expressions; exit 2 on any problem."""
    from orchestrator.flowfiles import ROUTING_FILE, load_routing

    catalogue = load(settings, folder_of(settings, args))
    if catalogue is None:
        return EXIT_USAGE
    for flow in catalogue.flows:
        print(
            f"ok  {flow.id} v{flow.version}  ({flow.stage}, owner {flow.owner}, "
            f"trigger {flow.trigger.type}, {len(flow.steps)} steps)"
        )
    folder = folder_of(settings, args)
    if (folder / ROUTING_FILE).is_file():
        routing = load_routing(folder, [f.id for f in catalogue.flows])
        print(
            f"ok  {ROUTING_FILE}  ({len(routing.queues)} queues, {len(routing.schedules)} "
            f"schedules, {len(routing.agents)} agents on the roster)"
        )
    return 0


def test(settings: Settings, args: argparse.Namespace) -> int:
    """Run conversation tests; print failures and step coverage; exit 1 if any fails."""
    from orchestrator.flowtools.testing import TestFileError, coverage, run_file

    catalogue = load(settings, folder_of(settings, args))
    if catalogue is None:
        return EXIT_USAGE
    given = Path(args.tests)
    if not given.exists():
        print(f"continuum: {given}: no such test file or folder", file=sys.stderr)
        return EXIT_USAGE
    files = sorted(given.glob("*.yaml")) if given.is_dir() else [given]
    if not files:
        print(f"continuum: no test files in {args.tests}", file=sys.stderr)
        return EXIT_USAGE
    results = []
    try:
        for path in files:
            results.extend(run_file(path, catalogue))
    except TestFileError as exc:
        print(f"continuum: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (OSError, UnicodeDecodeError) as exc:
        print(f"continuum: cannot read a test file: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for r in results:
        print(f"{'PASS' if r.passed else 'FAIL'}  {r.flow}: {r.name}")
        for failure in r.failures:
            print(f"      {failure}")
    print()
    for flow_id, (seen, total, missing) in coverage(catalogue, results).items():
        gap = f"  not covered: {', '.join(missing)}" if missing else ""
        print(f"coverage  {flow_id}: {seen}/{total} steps ({100 * seen // total}%){gap}")
    failed = sum(not r.passed for r in results)
    print(f"\n{len(results) - failed} passed, {failed} failed")
    return EXIT_FAILED if failed else 0


def schema(settings: Settings, args: argparse.Namespace) -> int:
    """Print the flow file JSON Schema (for editors' autocompletion)."""
    from orchestrator.engine.spec import Flow

    doc = Flow.model_json_schema()
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    doc["title"] = "Continuum flow"
    sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


# ---------------------------------------------------------------- lint, graph, diff, simulate


def lint(settings: Settings, args: argparse.Namespace) -> int:
    """Print lint findings as ``FLOW[.STEP]: severity: rule: message``; exit 1 on an error."""
    from orchestrator.flowtools.lint import lint as lint_flows

    catalogue = load(settings, folder_of(settings, args))
    if catalogue is None:
        return EXIT_USAGE
    findings = lint_flows(catalogue)
    for finding in findings:
        print(finding)
    errors = sum(f.severity == "error" for f in findings)
    print(
        f"{len(catalogue.flows)} flows: {errors} errors, {len(findings) - errors} warnings",
        file=sys.stderr,
    )
    return EXIT_FAILED if errors else 0


def graph(settings: Settings, args: argparse.Namespace) -> int:
    """Draw one flow (an id in the flows folder, or a file) as Mermaid or SVG."""
    from orchestrator.flowtools.graph import mermaid, svg

    flow = _one_flow(settings, args)
    if flow is None:
        return EXIT_USAGE
    text = svg(flow) if args.format == "svg" else mermaid(flow)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _one_flow(settings: Settings, args: argparse.Namespace) -> Flow | None:
    from orchestrator.flowfiles import load_flow

    path = Path(args.flow)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        try:
            return load_flow(path, frozenset(h.lower() for h in settings.flows_allowed_hosts))
        except FlowError as exc:
            print(*exc.problems, sep="\n", file=sys.stderr)
            return None
        except OSError as exc:
            print(f"continuum: {exc}", file=sys.stderr)
            return None
    catalogue = load(settings, folder_of(settings, args))
    if catalogue is None:
        return None
    flow = catalogue.get(args.flow)
    if flow is None:
        known = ", ".join(f.id for f in catalogue.flows)
        print(f"continuum: no flow {args.flow!r} (flows: {known})", file=sys.stderr)
    return flow


def diff(settings: Settings, args: argparse.Namespace) -> int:
    """Print the semantic differences between two flow files or folders; exit 1 if any."""
    from orchestrator.flowtools.diff import diff_flows, load_side

    sides = []
    for given in (args.old, args.new):
        path = Path(given)
        if not path.exists():
            print(f"continuum: {path}: no such file or folder", file=sys.stderr)
            return EXIT_USAGE
        try:
            sides.append(load_side(path, settings.flows_allowed_hosts))
        except FlowError as exc:
            print(*exc.problems, sep="\n", file=sys.stderr)
            return EXIT_USAGE
    lines = diff_flows(sides[0], sides[1])
    for line in lines:
        print(line)
    return EXIT_FAILED if lines else 0


def simulate(settings: Settings, args: argparse.Namespace) -> int:
    """Talk to one flow on stdin/stdout; exit 2 if the flows or the state file are invalid."""
    from orchestrator.engine.flowfile import parse_yaml
    from orchestrator.flowtools.script import initial_state
    from orchestrator.flowtools.simulate import run

    catalogue = load(settings, folder_of(settings, args))
    if catalogue is None:
        return EXIT_USAGE
    if catalogue.get(args.flow) is None:
        known = ", ".join(f.id for f in catalogue.flows)
        print(f"continuum: no flow {args.flow!r} (flows: {known})", file=sys.stderr)
        return EXIT_USAGE
    doc: dict[str, object] = {"identities": {args.channel: args.sender}}
    if args.state:
        try:
            given = parse_yaml(Path(args.state).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"continuum: --state: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if not isinstance(given, dict):
            print(f"continuum: --state: {args.state} must hold a mapping", file=sys.stderr)
            return EXIT_USAGE
        doc = {**doc, **given}
    try:
        state = initial_state(doc)
    except (TypeError, ValueError) as exc:
        print(f"continuum: --state: {exc}", file=sys.stderr)
        return EXIT_USAGE
    interactive = sys.stdin.isatty()
    return run(
        sys.stdin,
        sys.stdout,
        catalogue,
        args.flow,
        channel=args.channel,
        sender=args.sender,
        state=state,
        echo=not interactive,
        prompt="you> " if interactive else "",
    )


async def replay(settings: Settings, args: argparse.Namespace) -> int:
    """Replay recorded inbound messages against the current and the candidate flows."""
    import asyncpg

    from orchestrator.errors import ConfigError
    from orchestrator.flowtools.replay import compare, inbound_since, matched_for

    current = load(settings, settings.flows_dir)
    candidate = load(settings, Path(args.flows))
    if current is None or candidate is None:
        return EXIT_USAGE
    try:
        pool = await asyncpg.create_pool(settings.database, min_size=1, max_size=1, timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        raise ConfigError(f"cannot reach the ledger database: {exc}") from None
    try:
        inbound = await inbound_since(pool, args.since, args.until, args.limit)
        ids = [f"{r.channel}:{r.event_id}" for r in inbound]
        matched = await matched_for(pool, ids)
    except asyncpg.UndefinedTableError:
        inbound, matched = [], []  # nothing was ever recorded in this database
    except (OSError, asyncpg.PostgresError) as exc:
        raise ConfigError(f"cannot read the ledger: {exc}") from None
    finally:
        await pool.close()
    report = compare(inbound, current, candidate, matched)
    for change in report.changes:
        print(change)
    print(report.summary())
    if report.drifted:
        print(
            f"({report.drifted} of the replayed messages did not start the flow the ledger "
            "recorded: replay starts each customer from an empty state)",
            file=sys.stderr,
        )
    return EXIT_FAILED if args.exit_code and report.changes else 0


async def reload(settings: Settings) -> int:
    """Ask the running service's API to load its flows again; exit 2 if it refuses or is away."""
    import httpx

    from orchestrator.commands.addresses import api_url
    from orchestrator.errors import ConfigError

    token = settings.api.operator_token
    if token is None:
        raise ConfigError(
            "flows reload needs CONTINUUM_API__OPERATOR_TOKEN, the operator token the service "
            "was started with (in the environment or .env); or send SIGHUP to continuum up"
        )
    url = f"{api_url(settings)}/v1/flows/reload"
    headers = {"Authorization": f"Bearer {token.get_secret_value()}"}
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            resp = await http.post(url, headers=headers)
    except httpx.HTTPError as exc:
        raise ConfigError(f"cannot reach the API at {url}: {exc}") from None
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if resp.status_code == 200:
        flows = ", ".join(f"{f['id']} v{f['version']}" for f in body.get("flows", []))
        print(f"flows reloaded: {flows}")
        return 0
    if resp.status_code == 422:
        print("continuum: the new flows are invalid; the running set stays:", file=sys.stderr)
        for problem in body.get("errors", []):
            print(f"  {problem}", file=sys.stderr)
        return EXIT_USAGE
    detail = body.get("detail") if isinstance(body, dict) else None
    raise ConfigError(f"{url} answered {resp.status_code}: {detail or resp.text[:200]}")


# ---------------------------------------------------------------- the subcommands

_FOLDER = "flows folder (default: CONTINUUM_FLOWS_DIR)"


def _folder_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", nargs="?", default=None, help="default: CONTINUUM_FLOWS_DIR")


def _test_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "tests",
        nargs="?",
        default="tests/flows",
        help="a test file or a folder of them (default: tests/flows)",
    )
    p.add_argument("--flows", default=None, help=_FOLDER)


def _graph_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("flow", help="a flow id in the flows folder, or a flow file")
    p.add_argument("--format", choices=("mermaid", "svg"), default="mermaid")
    p.add_argument("--output", default=None, help="write to this file instead of stdout")
    p.add_argument("--flows", default=None, help=_FOLDER)


def _diff_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("old", help="a flow file or a folder of flows")
    p.add_argument("new", help="a flow file or a folder of flows")


def _simulate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("flow", help="the flow id to try")
    p.add_argument("--channel", choices=MEDIA, default="sms")
    p.add_argument(
        "--from",
        dest="sender",
        default="+15551230001",
        help="the customer's address (default: +15551230001)",
    )
    p.add_argument("--state", default=None, help="a YAML file with the customer's state")
    p.add_argument("--flows", default=None, help=_FOLDER)


def _replay_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", type=parse_time, required=True, help="ISO 8601 time, inclusive")
    p.add_argument("--until", type=parse_time, help="ISO 8601 time, exclusive")
    p.add_argument("--flows", required=True, help="the candidate flows folder")
    p.add_argument(
        "--limit",
        type=positive_int,
        default=10_000,
        help="messages at most (default 10000)",
    )
    p.add_argument(
        "--exit-code",
        action="store_true",
        help="exit with status 1 when any decision would change (for CI)",
    )


async def _reload(settings: Settings, args: argparse.Namespace) -> int:
    return await reload(settings)


COMMANDS = (
    Command(
        "flows",
        "work with flow files",
        ("continuum flows validate", "continuum flows test"),
        order=80,
    ),
    Command(
        "flows validate",
        "validate every flow in a folder",
        ("continuum flows validate", "continuum flows validate ./my-flows"),
        order=1,
        run=validate,
        add_arguments=_folder_argument,
    ),
    Command(
        "flows test",
        "run scripted conversation tests and report step coverage",
        (
            "continuum flows test",
            "continuum flows test tests/flows/order_status.yaml --flows flows",
        ),
        order=2,
        run=test,
        add_arguments=_test_arguments,
    ),
    Command(
        "flows schema",
        "print the flow file JSON Schema",
        ("continuum flows schema > flow.schema.json",),
        order=3,
        run=schema,
    ),
    Command(
        "flows reload",
        "make the running service load its flows folder again (POST /v1/flows/reload)",
        ("CONTINUUM_API__OPERATOR_TOKEN=... continuum flows reload",),
        order=4,
        run=_reload,
        client=True,
    ),
    Command(
        "flows lint",
        "report flows that are valid but probably wrong",
        ("continuum flows lint",),
        order=5,
        run=lint,
        add_arguments=_folder_argument,
    ),
    Command(
        "flows graph",
        "draw a flow as Mermaid text or an SVG",
        (
            "continuum flows graph order-status",
            "continuum flows graph order-status --format svg --output order-status.svg",
        ),
        order=6,
        run=graph,
        add_arguments=_graph_arguments,
    ),
    Command(
        "flows diff",
        "semantic differences between two flow files or folders",
        ("continuum flows diff flows/ ../candidate/flows/",),
        order=7,
        run=diff,
        add_arguments=_diff_arguments,
    ),
    Command(
        "flows simulate",
        "talk to a flow on stdin/stdout (/help in it)",
        (
            "continuum flows simulate order-status",
            "echo 'where is my order' | continuum flows simulate order-status",
        ),
        order=8,
        run=simulate,
        add_arguments=_simulate_arguments,
    ),
    Command(
        "flows replay",
        "re-run recorded inbound messages against candidate flows and report which would be "
        "handled differently",
        (
            "continuum flows replay --since 2026-12-01 --flows ../candidate/flows",
            "continuum flows replay --since 2026-12-01 --flows ../candidate/flows --exit-code",
        ),
        order=9,
        run=replay,
        add_arguments=_replay_arguments,
        client=True,
    ),
)
