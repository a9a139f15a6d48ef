"""One settings tree, read from ``CONTINUUM_*`` environment variables and validated at start.

Build it once in the composition root (:mod:`orchestrator.cli`) and pass it down; nothing reads
the environment anywhere else. Nested fields use ``__``: ``CONTINUUM_KAFKA__BOOTSTRAP_SERVERS``.
The same variables may also sit in a ``.env`` file in the working folder (:data:`ENV_FILE`); the
environment wins over the file.

A server setting left unset (``kafka.bootstrap_servers``, ``redis_url``, ``database_url``) means
"the embedded one": ``continuum up`` starts it; the client commands find it through the
addresses file ``up`` writes (:mod:`orchestrator.commands.addresses`), else on its default address.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from dotenv import dotenv_values
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from channels import PROVIDERS, find
from channels.generic import GenericSettings
from channels.meta import MetaSettings
from channels.provider import UnknownProvider
from channels.sendgrid import SendGridSettings
from channels.smtp import SmtpSettings
from channels.twilio.settings import TwilioSettings
from channels.vonage import VonageSettings
from channels.webchat import WebchatSettings
from orchestrator.media import MEDIA, Medium

ENV_FILE = ".env"
"""Settings are also read from this file in the working folder, when it exists."""

DEFAULT_CHANNELS: Mapping[Medium, tuple[str, ...]] = {
    "sms": ("twilio",),
    "whatsapp": ("meta",),
    "email": ("sendgrid",),
    "webchat": ("webchat",),
}
"""The providers of each medium unless ``CONTINUUM_CHANNELS__<MEDIUM>`` says otherwise."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(_Section):
    """Where the Kafka-protocol broker is and how Continuum names its topics and groups."""

    bootstrap_servers: str | None = Field(
        None, description="host:port[,host:port]; unset means the embedded broker"
    )
    topic_prefix: str = Field("continuum.", description="prefix of every topic name")
    group_prefix: str = Field("continuum", description="prefix of every consumer group id")
    partitions: int = Field(4, ge=1, le=1024, description="partitions of topics Continuum creates")
    replication_factor: int = Field(1, ge=1, le=16, description="replication of created topics")
    max_batch: int = Field(500, ge=1, le=100_000, description="records a worker takes per batch")
    batch_timeout_ms: int = Field(
        20, ge=1, le=10_000, description="how long a worker waits to fill a batch"
    )
    fetch_max_wait_ms: int = Field(
        20, ge=0, le=10_000, description="longest the broker holds an empty fetch (latency)"
    )
    idle_fetch_max_wait_ms: int = Field(
        1500,
        ge=0,
        le=10_000,
        description="the same while the process has seen no records for idle_after_s (idle cost)",
    )
    idle_batch_timeout_ms: int = Field(
        5000,
        ge=1,
        le=60_000,
        description="batch_timeout_ms while idle (records still end the wait at once)",
    )
    idle_after_s: float = Field(
        10.0, gt=0, le=3600, description="seconds without records before consumers wait long"
    )
    sleep_after_s: float = Field(
        20.0,
        ge=0,
        le=3600,
        description="seconds more, once idle, before the consumers of topics only Continuum "
        "writes to stop fetching until a producer rings for them over Redis (0: never sleep)",
    )
    sleep_probe_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="how often a sleeping consumer fetches anyway (in case a ring was lost)",
    )
    session_timeout_ms: int = Field(
        20_000,
        ge=1_000,
        le=300_000,
        description="consumer group session timeout: a dead consumer's partitions move after "
        "it; heartbeats every third of it",
    )


class EmbeddedSettings(_Section):
    """Where ``continuum up`` starts the servers the settings leave unset.

    Redis and PostgreSQL use uncommon ports so that they never collide with a system-wide server.
    """

    host: str = Field("127.0.0.1", description="address the embedded servers listen on")
    kafka_port: int = Field(9092, ge=1, le=65535, description="embedded Tansu broker port")
    redis_port: int = Field(16379, ge=1, le=65535, description="embedded Redis port")
    postgres_port: int = Field(15432, ge=1, le=65535, description="embedded PostgreSQL port")
    kafka_storage: Literal["disk", "memory"] = Field(
        "disk",
        description="where the embedded broker keeps records: disk (kept across restarts, in "
        "DATA_DIR/kafka) or memory (faster; a restart loses them, for tests and benchmarks)",
    )


class ApiSettings(_Section):
    """The HTTP API: health, metrics, provider webhooks."""

    host: str = Field("127.0.0.1", description="address the API listens on")
    port: int = Field(8080, ge=0, le=65535, description="port the API listens on (0: any free)")
    operator_token: SecretStr | None = Field(
        None,
        description="bearer token for operator endpoints (POST /v1/flows/reload); unset "
        "disables them",
    )
    agent_tokens: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="agent id to its bearer token for the agent API (JSON: "
        '{"ana": "TOKEN"}); empty disables it',
    )
    public_url: str | None = Field(
        None,
        description="the URL providers reach the API at; webhook signatures are checked against "
        "it (default http://HOST:PORT)",
    )
    publish_timeout_s: float = Field(
        5.0,
        gt=0,
        le=60,
        description="longest a webhook waits for the broker to store its event before it "
        "answers 503 with Retry-After (Twilio gives up at 15 s)",
    )


class MetricsSettings(_Section):
    """The /metrics endpoint of a process that runs no API (``continuum worker`` alone)."""

    host: str = Field("127.0.0.1", description="address the metrics endpoint listens on")
    port: int = Field(
        9464, ge=0, le=65535, description="port of /metrics in a process without the API"
    )
    first_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="with `continuum up`: the first of consecutive ports for the worker "
        "processes' /metrics, in the order `up` prints them (0: any free ports)",
    )


class SandboxSettings(_Section):
    """The local provider that speaks the providers' HTTP APIs."""

    enabled: bool = Field(True, description="start the sandbox with `continuum up`")
    host: str = Field("127.0.0.1", description="address the sandbox listens on")
    port: int = Field(8090, ge=0, le=65535, description="port the sandbox listens on")
    smtp_port: int = Field(
        8025, ge=0, le=65535, description="port of the sandbox's SMTP server (0: a free port)"
    )
    fault_seed: int | None = Field(
        None, description="seed of the sandbox's fault draws (docs/sandbox.md); unset: random"
    )


class IdentitySettings(_Section):
    """How addresses on different media resolve to customers."""

    share_phone_across_media: bool = Field(
        True,
        description="one E.164 number on sms and on whatsapp is one customer (identity "
        "namespace `phone`); false keeps a customer per medium (identities written before "
        "either way are still read)",
    )


class InboundSettings(_Section):
    """The inbound worker: how it recognises a record it has seen before."""

    dedupe_ttl_s: int = Field(
        48 * 3600,
        ge=60,
        description="how long inbound ids are remembered (also read from the older "
        "CONTINUUM_DEDUPE_TTL_S)",
    )


class SchedulerSettings(_Section):
    """The timer and schedule loop that runs beside the decision worker."""

    tick_s: float = Field(1.0, gt=0, le=60, description="how often due timers are looked for")
    limit: int = Field(500, ge=1, le=100_000, description="timers taken per tick")
    lease_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="how long a replica holds timers it took before "
        "another replica may take them again (a dead replica's timers wait this long)",
    )
    grace_s: float = Field(
        120.0, ge=0, le=86_400, description="how late a cron schedule may still fire"
    )


class StatusSettings(_Section):
    """The status worker: receipts that come before their send is recorded."""

    park_ttl_s: int = Field(
        24 * 3600,
        ge=60,
        le=30 * 86_400,
        description="how long a receipt that matches no sent message is kept, in case its "
        "send is recorded late",
    )
    overdue_s: float = Field(
        600.0,
        ge=0,
        le=30 * 86_400,
        description="a sent message with no delivery receipt this long after its send is "
        "flagged delivery_overdue (a ledger row, a metric, a status event to its flows); 0: off",
    )


class DispatchSettings(_Section):
    """How the dispatcher retries providers."""

    attempts: int = Field(3, ge=1, le=20, description="tries of a retryable send before failing")
    backoff_s: float = Field(
        0.2, ge=0, le=60, description="first retry's longest delay, doubled each try"
    )
    backoff_max_s: float = Field(
        30.0, ge=0, le=3600, description="the longest delay between two tries (before jitter)"
    )
    jitter: bool = Field(
        True,
        description="each delay is drawn between 0 and its longest (full jitter), so "
        "dispatchers that failed together do not retry together; false: the longest",
    )
    retry_after_max_s: float = Field(
        30.0,
        ge=0,
        le=3600,
        description="a provider's Retry-After is honoured as the least delay, up to this",
    )
    timeout_s: float = Field(10.0, gt=0, le=120, description="HTTP timeout of one provider call")
    concurrency: int = Field(
        32, ge=1, le=1024, description="provider calls in flight at once; also the HTTP pool size"
    )
    status_callbacks: bool = Field(
        True,
        description="each send asks its provider for status callbacks at the API's public URL; "
        "false: none asked (receipts configured at the provider, e.g. a Twilio Messaging "
        "Service's callback URL, or not wanted)",
    )


class BreakerSettings(_Section):
    """When a provider's circuit breaker opens, and how it recovers
    (:mod:`orchestrator.delivery.breaker`)."""

    window_s: float = Field(
        60.0, gt=0, le=3600, description="the window over which the error rate is counted"
    )
    min_calls: int = Field(
        20, ge=1, le=100_000, description="calls in the window before its error rate counts"
    )
    error_rate: float = Field(
        0.5, gt=0, le=1, description="the share of failed calls in the window that opens it"
    )
    consecutive_failures: int = Field(
        5, ge=1, le=10_000, description="connection failures in a row that open it"
    )
    cool_down_s: float = Field(
        30.0, gt=0, le=3600, description="how long it stays open before probes may go"
    )
    probes: int = Field(
        1, ge=1, le=100, description="sends let through while half-open, before one answers"
    )


class RateLimitSettings(_Section):
    """Provider rate limits, shared by every dispatcher (:mod:`orchestrator.state.rate_limits`).

    Rates are per second; 0 is no limit. The defaults are the providers' published limits:
    Twilio sends 1 segment a second per long code, 3 per US/Canada toll-free number and "over
    100" per short code, and its account, short codes and messaging services share the
    account's limit (twilio.com/docs/api/errors/30001; help: "How quickly can I send SMS
    messages?"); WhatsApp Cloud API 80 messages a second per business phone number (Meta,
    developers.facebook.com/documentation/business-messaging/whatsapp/throughput); Vonage 30
    API requests a second per API key, 1 SMS a second from a US long virtual number (Vonage
    support, "What is the Throughput Limit for Outbound SMS?"); SendGrid publishes no mail-send
    rate, only 1,000 personalizations (recipients) per request, and Continuum sends one
    recipient per request, so its rate is 0 unless set.
    """

    enabled: bool = Field(
        True, description="false: no rate limits at all (each provider then queues or answers 429)"
    )
    twilio_account_mps: float = Field(
        100.0, ge=0, description="Twilio segments/s per account (short codes, messaging services)"
    )
    twilio_long_code_mps: float = Field(
        1.0, ge=0, description="Twilio segments/s per long code sender (E.164 number)"
    )
    twilio_toll_free_mps: float = Field(
        3.0, ge=0, description="Twilio segments/s per US/Canada toll-free sender"
    )
    meta_number_mps: float = Field(
        80.0, ge=0, description="WhatsApp Cloud API messages/s per business phone number"
    )
    vonage_account_mps: float = Field(30.0, ge=0, description="Vonage requests/s per API key")
    vonage_long_code_mps: float = Field(
        0.0, ge=0, description="Vonage SMS/s per long code sender (US long virtual numbers: 1)"
    )
    sendgrid_account_mps: float = Field(0.0, ge=0, description="SendGrid messages/s per account")
    burst_s: float = Field(
        1.0, gt=0, le=60, description="a bucket holds this many seconds of its rate"
    )
    bulk_share: float = Field(
        0.8,
        gt=0,
        le=1,
        description="share of a bucket marketing (bulk) may use; the rest is kept for replies",
    )
    throttle_s: float = Field(
        1.0,
        ge=0,
        le=3600,
        description="a provider's 429 without Retry-After empties the bucket for this long",
    )
    throttle_max_s: float = Field(
        60.0, ge=0, le=3600, description="a provider's Retry-After empties the bucket, up to this"
    )


class ReconcileSettings(_Section):
    """The reconciler beside the dispatcher: asks providers about sends whose outcome is
    unknown (docs/delivery.md, "Unknown outcomes")."""

    enabled: bool = Field(True, description="run the reconciler beside the dispatcher")
    delay_s: float = Field(
        30.0,
        ge=0,
        le=86_400,
        description="how long after an unknown outcome the provider is first asked (its list "
        "API may lag behind its send API)",
    )
    interval_s: float = Field(
        60.0, gt=0, le=86_400, description="how long between two looks at one unknown send"
    )
    keep_s: float = Field(
        6 * 3600.0,
        gt=0,
        le=30 * 86_400,
        description="how long after the outcome the provider is still asked; then the send "
        "stays unknown, for the operator (`continuum dispatch resend --unknown`)",
    )
    batch: int = Field(100, ge=1, le=10_000, description="unknown sends taken per look")
    tick_s: float = Field(5.0, gt=0, le=3600, description="how often due sends are looked for")
    lease_s: float = Field(
        120.0,
        gt=0,
        le=3600,
        description="how long a reconciler holds the sends it took before another may take them",
    )


class Settings(BaseSettings):
    """Every setting of a Continuum process."""

    model_config = SettingsConfigDict(
        env_prefix="CONTINUUM_",
        env_nested_delimiter="__",
        frozen=True,
        extra="ignore",
        env_file=ENV_FILE,
        env_file_encoding="utf-8",
    )

    kafka: KafkaSettings = KafkaSettings()
    redis_url: str | None = Field(None, description="redis://...; unset means embedded")
    database_url: str | None = Field(None, description="postgresql://...; unset means embedded")
    flows_dir: Path = Field(Path("flows"), description="folder of flow YAML files")
    policy_file: Path | None = Field(
        None,
        description="the contact policy's YAML file (default: policy.yaml in the flows folder; "
        "elsewhere, every *.yaml of the folder but vars.yaml is a flow)",
    )
    flows_allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        ("127.0.0.1:8090", "localhost:8090"),
        description="host[:port] values that flow `call` steps may reach, comma-separated "
        "(default: where the sandbox listens, which the shipped flows call)",
    )
    flows_vars: dict[str, str] = Field(
        default_factory=dict,
        description="values of the flow variables flows/vars.yaml declares, as JSON "
        '(\'{"order_api": "https://orders.example.com/api"}\')',
    )
    data_dir: Path = Field(
        Path(".continuum"),
        description="where embedded servers keep their data and logs, and `continuum up` its "
        "addresses.json; nothing is written there unless a server is embedded",
    )
    embedded: EmbeddedSettings = EmbeddedSettings()
    api: ApiSettings = ApiSettings()
    metrics: MetricsSettings = MetricsSettings()
    sandbox: SandboxSettings = SandboxSettings()
    inbound: InboundSettings = InboundSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    status: StatusSettings = StatusSettings()
    dispatch: DispatchSettings = DispatchSettings()
    breaker: BreakerSettings = BreakerSettings()
    rate_limits: RateLimitSettings = RateLimitSettings()
    reconcile: ReconcileSettings = ReconcileSettings()
    identity: IdentitySettings = IdentitySettings()
    channels: dict[Medium, tuple[str, ...]] = Field(
        default_factory=lambda: {m: DEFAULT_CHANNELS.get(m, ()) for m in MEDIA},
        description="each medium's providers in order, comma-separated: "
        "CONTINUUM_CHANNELS__SMS=twilio,vonage (defaults: sms twilio, whatsapp meta, email "
        "sendgrid, webchat webchat, webhook none). "
        "The first sends; the rest wait for failover",
    )
    twilio: TwilioSettings = TwilioSettings()
    generic: GenericSettings = GenericSettings()
    vonage: VonageSettings = VonageSettings()
    meta: MetaSettings = MetaSettings()
    webchat: WebchatSettings = WebchatSettings()
    sendgrid: SendGridSettings = SendGridSettings()
    smtp: SmtpSettings = SmtpSettings()
    dedupe_ttl_s: int = Field(
        48 * 3600, ge=60, description="older name of INBOUND__DEDUPE_TTL_S (read; it wins)"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO")
    log_format: Literal["text", "json"] = Field(
        "text", description="`text` for people, `json` for one JSON object a line (log shippers)"
    )

    @field_validator("flows_allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(h.strip().lower() for h in value.split(",") if h.strip())
        return value

    @field_validator("channels", mode="before")
    @classmethod
    def _channel_lists(cls, value: Any) -> Any:
        """Comma-separated names; a medium left out keeps its default (``sms``: twilio)."""
        if not isinstance(value, dict):
            return value
        given = {
            str(k).lower(): tuple(n.strip() for n in v.split(",") if n.strip())
            if isinstance(v, str)
            else v
            for k, v in value.items()
        }
        return {**{m: DEFAULT_CHANNELS.get(m, ()) for m in MEDIA}, **given}

    @field_validator("channels")
    @classmethod
    def _known_providers(
        cls, value: dict[Medium, tuple[str, ...]]
    ) -> dict[Medium, tuple[str, ...]]:
        """Every listed provider is in the registry, and listed once."""
        for medium, names in value.items():
            for name in names:
                try:
                    find(medium, name, PROVIDERS)
                except UnknownProvider as exc:
                    raise ValueError(f"CHANNELS__{medium.upper()}: {exc}") from None
            if len(set(names)) != len(names):
                raise ValueError(f"CHANNELS__{medium.upper()} lists a provider twice: {names}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _older_names(cls, data: Any) -> Any:
        """Settings that moved into a section are still read under their older names
        (:data:`MOVED`), and the older name reads the value in force; the section's own name
        wins."""
        if not isinstance(data, dict):
            return data
        for old, (section, name) in MOVED.items():
            inner = data.get(section)
            if old in data:
                inner = _with_default(inner, name, data[old])
            if isinstance(inner, dict) and name in inner:
                data = {**data, section: inner, old: inner[name]}
        return data

    @model_validator(mode="before")
    @classmethod
    def _providers_default_to_the_sandbox(cls, data: Any) -> Any:
        """Unless a provider's base URL is given, it follows wherever the sandbox listens."""
        if not isinstance(data, dict):
            return data
        sandbox = data.get("sandbox")
        sandbox = sandbox if isinstance(sandbox, dict) else {}
        host = str(sandbox.get("host", "127.0.0.1"))
        host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - not a bind
        url = f"http://{host}:{sandbox.get('port', 8090)}"
        for provider in PROVIDERS.values():
            key = provider.settings_key
            section = data.get(key)
            if section is not None and not isinstance(section, dict):
                continue
            given = section or {}
            moved = {
                name: url + default[len(_SANDBOX_DEFAULT) :]
                for name, default in _sandbox_url_defaults(provider.settings).items()
                if name not in given
            }
            if "base_url" in provider.settings.model_fields and "base_url" not in given:
                moved["base_url"] = url
            if moved:
                data = {**data, key: {**given, **moved}}
        smtp = data.get("smtp")
        if smtp is None or isinstance(smtp, dict):  # SMTP has a host and port, not a base URL
            given = smtp or {}
            port = int(sandbox.get("smtp_port", 8025))
            follow: dict[str, Any] = {"host": host, **({"port": port} if port else {})}
            data = {**data, "smtp": {**follow, **given}}
        return data

    @model_validator(mode="before")
    @classmethod
    def _allowed_hosts_follow_the_sandbox(cls, data: Any) -> Any:
        """Unless the allow-list is given, it is the sandbox's address (the shipped flows call
        the sandbox's order API by default)."""
        if not isinstance(data, dict) or "flows_allowed_hosts" in data:
            return data
        host, port = _sandbox_address(data.get("sandbox"))
        local = host == "127.0.0.1"
        hosts = (f"{host}:{port}", f"localhost:{port}") if local else (f"{host}:{port}",)
        return {**data, "flows_allowed_hosts": hosts}

    @property
    def flow_variables(self) -> dict[str, str]:
        """What flows/vars.yaml's values come from: ``flows_vars`` and the built-in
        ``sandbox_url`` (where the sandbox listens)."""
        host, port = _sandbox_address(self.sandbox)
        return {"sandbox_url": f"http://{host}:{port}", **self.flows_vars}

    @property
    def sandbox_smtp_port(self) -> int:
        """Where the sandbox's SMTP server listens: ``sandbox.smtp_port`` when email goes
        through SMTP, else a free port (0), so a sandbox nobody sends mail to takes no fixed
        port."""
        return self.sandbox.smtp_port if "smtp" in self.channels.get("email", ()) else 0

    @property
    def kafka_bootstrap(self) -> str:
        """The broker address in use: the configured one, or the embedded default."""
        e = self.embedded
        return self.kafka.bootstrap_servers or f"{e.host}:{e.kafka_port}"

    @property
    def redis(self) -> str:
        """The Redis URL in use."""
        e = self.embedded
        return self.redis_url or f"redis://{e.host}:{e.redis_port}/0"

    @property
    def database(self) -> str:
        """The PostgreSQL URL in use."""
        e = self.embedded
        return self.database_url or f"postgresql://postgres@{e.host}:{e.postgres_port}/continuum"

    @property
    def api_public_url(self) -> str:
        """Where providers reach the API, without a trailing slash."""
        return (self.api.public_url or f"http://{self.api.host}:{self.api.port}").rstrip("/")


def variables(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of the ``.env`` file :class:`Settings` reads (if any), overlaid by ``environ``.

    This is what :class:`Settings` sees, so typos in the file are caught as well.
    """
    env_file = Settings.model_config.get("env_file")
    found: dict[str, str] = {}
    if isinstance(env_file, str | Path) and Path(env_file).is_file():
        found = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    return {**found, **environ}


MOVED: Mapping[str, tuple[str, str]] = {"dedupe_ttl_s": ("inbound", "dedupe_ttl_s")}
"""Top-level settings that moved into a worker's section: old field -> (section, field)."""


def _with_default(section: Any, name: str, value: Any) -> Any:
    """``section`` (raw) with ``name`` set to ``value`` unless it already has one."""
    if section is None:
        return {name: value}
    if isinstance(section, dict):
        return {name: value, **section}
    return section


_SANDBOX_DEFAULT = "http://127.0.0.1:8090"
"""Where the sandbox listens by default: a provider URL default under it follows the sandbox."""


def _sandbox_url_defaults(section: type[BaseModel]) -> dict[str, str]:
    """The fields of a provider's settings whose default is a URL on the default sandbox (the
    generic webhook's ``url``, say): each moves with ``CONTINUUM_SANDBOX__HOST``/``__PORT``."""
    found = {}
    for name, info in section.model_fields.items():
        default = info.default
        if isinstance(default, str) and (
            default == _SANDBOX_DEFAULT or default.startswith(_SANDBOX_DEFAULT + "/")
        ):
            found[name] = default
    return found


def _sandbox_address(sandbox: Any) -> tuple[str, int]:
    """The sandbox's host (a wildcard bind reads as 127.0.0.1) and port, from settings or raw."""
    if isinstance(sandbox, SandboxSettings):
        host, port = sandbox.host, sandbox.port
    else:
        raw = sandbox if isinstance(sandbox, dict) else {}
        host, port = str(raw.get("host", "127.0.0.1")), int(raw.get("port", 8090))
    return ("127.0.0.1" if host in ("0.0.0.0", "::", "") else host), port  # noqa: S104


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """``CONTINUUM_*`` variables that name no setting, each with a suggestion when one is close.

    pydantic-settings rejects unknown names inside a section but ignores unknown top-level ones,
    so a typo such as ``CONTINUUM_REDISURL`` would otherwise be silently ignored.
    """
    known = {f"CONTINUUM_{name.upper()}" for name in Settings.model_fields}
    problems = []
    for var in sorted(environ):
        if not var.startswith("CONTINUUM_") or var.startswith("CONTINUUM_TEST_"):
            continue
        top = var.split("__", 1)[0]
        if top not in known:
            close = difflib.get_close_matches(top, sorted(known), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"{var} is not a setting{hint}")
    return problems


def describe_error(err: ValidationError) -> str:
    """One line naming the offending ``CONTINUUM_*`` variable(s) and what is wrong."""
    parts = []
    for item in err.errors():
        loc = [str(p) for p in item["loc"]]
        var = "CONTINUUM_" + "__".join(p.upper() for p in loc)
        value = item.get("input")
        secret = any(word in var for word in ("TOKEN", "PASSWORD", "SECRET", "URL", "KEY"))
        shown = f" (got {value!r})" if isinstance(value, str | int | float) and not secret else ""
        parts.append(f"{var}: {item['msg']}{shown}")
    return "invalid setting " + "; ".join(parts)
