"""Frozen settings, read once at the entry point and passed down (never read at import)."""

from __future__ import annotations

from pathlib import Path

import orjson
from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GSM8K = REPO_ROOT.parent / "shared" / "data" / "gsm8k" / "model_solutions.jsonl"

VARIANTS = ("175b_verification", "175b_finetuning", "6b_verification", "6b_finetuning")


class SampleRule(BaseModel):
    """A routing rule for self-consistency: requests matching ``match`` get at least ``samples``.

    ``match`` keys are ``product``, ``tenant``, ``model`` or ``metadata.<key>``; all must equal.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    match: dict[str, str] = Field(default_factory=dict)
    samples: int = Field(ge=1, le=8)


class VigilSettings(BaseSettings):
    """Every knob Vigil has; each is an env var ``VIGIL_<NAME>`` (see README)."""

    model_config = SettingsConfigDict(env_prefix="VIGIL_", frozen=True, extra="ignore")

    # Where the external systems are. The defaults are the embedded local stack.
    kafka_bootstrap: str = "127.0.0.1:19092"
    kafka_controller_port: int = 19093
    redis_url: str = "redis://127.0.0.1:16379/0"
    triton_http_port: int = 18000
    triton_grpc_port: int = 18001
    triton_grpc_url: str = "127.0.0.1:18001"
    console_address: str = "127.0.0.1"
    console_port: int = 8501

    # Which embedded parts `vigil up` starts; turn one off to point at an existing instance.
    embedded_kafka: bool = True
    embedded_redis: bool = True
    embedded_triton: bool = True

    # The served model.
    model_name: str = "replay-reasoner"
    replay_variant: str = Field(
        default="175b_verification", pattern="^(175b|6b)_(verification|finetuning)$"
    )
    gsm8k_path: Path = DEFAULT_GSM8K
    # The contract adapter the gateway uses for ``model_name`` (vllm, trtllm, or a dotted path).
    model_adapter: str = "vllm"
    # The embedded Triton also serves the replay book in the TensorRT-LLM ensemble's shape.
    trtllm_model_name: str = "replay-trtllm"
    # Further models the gateway routes to, by request ``model``: name -> adapter.
    gateway_models: dict[str, str] = Field(default_factory=dict)
    # Simulated generation time of the replay models, per call (tests and benchmarks).
    replay_delay_ms: float = Field(default=0.0, ge=0)
    # When set, also serve the TensorRT-LLM-shaped model without dynamic batching (benchmarks).
    replay_unbatched_model: str = ""
    # The variant that answers counterfactual probes (a recorded question with names or
    # pronouns swapped); empty: the served variant, i.e. a model insensitive to the swap.
    replay_counterfactual_variant: str = Field(
        default="", pattern="^$|^(175b|6b)_(verification|finetuning)$"
    )

    # Kafka layout.
    topic_partitions: int = Field(default=4, ge=1, le=256)

    # Gateway behaviour.
    max_prompt_chars: int = Field(default=8000, ge=1)
    gateway_max_in_flight: int = Field(default=32, ge=1)
    gateway_batch_size: int = Field(default=64, ge=1)
    triton_timeout_s: float = Field(default=30.0, gt=0)
    # Consumed records not yet finished (in flight or waiting); above it consumption pauses.
    gateway_max_pending: int = Field(default=256, ge=1)
    # How often the gateway commits a Kafka transaction (its results, dead letters and the
    # consumed offsets, atomically); results become visible to read_committed consumers then.
    gateway_commit_interval_s: float = Field(default=0.1, gt=0)
    # Names this gateway's transactional producer (``vigil-gateway-<instance>``): stable across
    # restarts so a restarted gateway fences its predecessor; distinct per running replica.
    gateway_instance: str = Field(default="0", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # Retries, for transport errors only (jittered exponential backoff), per generation.
    gateway_retry_attempts: int = Field(default=5, ge=1)
    gateway_retry_base_s: float = Field(default=0.2, ge=0)
    gateway_retry_cap_s: float = Field(default=5.0, ge=0)
    # Longest a request waits for an unavailable model (circuit open) before its dead letter.
    gateway_max_wait_s: float = Field(default=300.0, gt=0)
    # Circuit breaker: consecutive failures that open it; first and longest open period.
    gateway_breaker_failures: int = Field(default=5, ge=1)
    gateway_breaker_open_s: float = Field(default=1.0, gt=0)
    gateway_breaker_max_open_s: float = Field(default=15.0, gt=0)
    # Self-consistency budget: the share of requests that may get extra samples (decided
    # from the request id, so a re-delivery gets the same k), and extra generations per
    # second (over it extras wait; 0: no extras at all).
    gateway_extra_samples_per_s: float = Field(default=50.0, ge=0)
    gateway_sample_share: float = Field(default=1.0, ge=0, le=1)
    gateway_sample_rules: list[SampleRule] = Field(default_factory=list)

    # Review domain (reviewers/): claims, SLAs, hold-and-release, retention, privacy.
    # ``always``: every acknowledged write is on disk before the reply (no acknowledged
    # decision lost even on power loss); ``everysec`` is faster (see README).
    redis_appendfsync: str = Field(default="always", pattern="^(always|everysec)$")
    review_lease_s: float = Field(default=300.0, gt=0)
    review_sla_s: float = Field(default=4 * 3600.0, gt=0)
    # Risk moves an item ahead in the queue as if its deadline were this much earlier per 1.0.
    review_risk_weight_s: float = Field(default=3600.0, ge=0)
    review_retention_days: float = Field(default=30.0, gt=0)
    review_subject_key: str = "user_id"
    review_segment_keys: list[str] = Field(default_factory=lambda: ["locale", "plan", "segment"])
    review_hold_fallback: str = Field(
        default="block", pattern="^(release_as_is|release_fallback|block)$"
    )
    review_fallback_answer: str = "This answer is still being checked. Please try again soon."
    review_rules_file: str = ""
    review_tick_s: float = Field(default=0.25, gt=0)
    # The outbox relay reads as this consumer of the outbox's group. The same name after a
    # restart, whatever the host, is what makes a relay find the batch it read but had not
    # acked. Entries another consumer name has held unacked this long are claimed and
    # published; it must exceed the time a live relay holds a batch (streams/outbox_relay.py).
    relay_consumer: str = Field(default="relay", min_length=1)
    relay_claim_idle_s: float = Field(default=60.0, gt=0)

    # Check engine (streams/checks/): its config file (empty: the built-in defaults, see
    # streams/checks/default_checks.toml) and the novelty check's reference prompts.
    checks_config: str = ""
    novelty_reference: Path = DEFAULT_GSM8K.with_name("train.jsonl")
    # Screening worker: results per batch (and how long to wait to fill one), the consumer
    # group session timeout (how soon a killed worker's partitions move), and how long a
    # result waits for an unreachable review queue before its dead letter.
    worker_batch_size: int = Field(default=256, ge=1)
    worker_batch_window_s: float = Field(default=0.05, gt=0)
    worker_session_timeout_s: float = Field(default=10.0, gt=0)
    worker_queue_retry_s: float = Field(default=300.0, ge=0)
    # How long the worker remembers the outcome each request id was settled with (Redis,
    # ~1 KB per result): a result delivered again within it gets that same outcome.
    worker_settled_ttl_s: float = Field(default=24 * 3600.0, gt=0)

    # Drift and bias monitor (`vigil monitor`, streams/monitoring/). A window closes after
    # ``monitor_window_size`` results or ``monitor_window_s`` seconds, whichever comes first
    # (0 turns one off); a window under ``monitor_min_window_rows`` is stored, not judged.
    monitor_app_id: str = "vigil-monitor"
    monitor_source_topic: str = "llm.results"
    monitor_window_size: int = Field(default=500, ge=0)
    monitor_window_s: float = Field(default=300.0, ge=0)
    monitor_min_window_rows: int = Field(default=100, ge=2)
    # The reference, built once and stored: ``baseline`` (the first product results),
    # ``gsm8k-train`` (the human solutions of train.jsonl) or a JSONL file of InferenceResults.
    monitor_reference: str = "baseline"
    monitor_reference_rows: int = Field(default=2500, ge=4)
    gsm8k_train_path: Path = DEFAULT_GSM8K.with_name("train.jsonl")
    # Thresholds: margin x the largest score of no-change windows resampled from the
    # reference. A window drifts when this many columns do; an alert is raised after this
    # many drifted windows in a row and resolved after this many normal ones.
    monitor_calibration_resamples: int = Field(default=40, ge=5)
    monitor_threshold_margin: float = Field(default=1.25, ge=1.0)
    monitor_drift_min_columns: int = Field(default=2, ge=1)
    monitor_raise_after: int = Field(default=2, ge=1)
    monitor_clear_after: int = Field(default=3, ge=1)
    monitor_text_drift: bool = True
    # Rows of a drifted window sent to the review queue with its alert, and webhooks
    # (Slack-compatible JSON, HMAC-SHA256 signed with the secret when one is set).
    monitor_alert_samples: int = Field(default=5, ge=0, le=100)
    monitor_webhook_urls: list[str] = Field(default_factory=list)
    monitor_webhook_secret: str = ""
    # Bias: segment attributes (empty: every metadata key with at most 20 values), windows
    # pooled per test, significance level (Bonferroni-corrected), smallest segment judged,
    # and the disparity ratio under which a segment fails (the four-fifths rule).
    monitor_bias_attributes: list[str] = Field(default_factory=list)
    monitor_bias_windows: int = Field(default=5, ge=1)
    monitor_bias_alpha: float = Field(default=0.001, gt=0, lt=1)
    monitor_bias_min_rows: int = Field(default=50, ge=2)
    monitor_bias_ratio: float = Field(default=0.8, gt=0, le=1)
    # Counterfactual probes: share of product prompts sent again as shadow variants, and how
    # long a probe waits for its shadow result.
    monitor_probe_share: float = Field(default=0.02, ge=0, le=1)
    monitor_probe_timeout_s: float = Field(default=600.0, gt=0)
    # Stored per window for the console: how many windows, and rows kept for the HTML report.
    monitor_keep_windows: int = Field(default=500, ge=1)
    monitor_html_rows: int = Field(default=2000, ge=10)

    # Local files: logs, Kafka/Redis data, readiness markers.
    run_dir: Path = REPO_ROOT / ".run"
    kafka_libs_dir: Path = REPO_ROOT / ".cache" / "kafka" / "libs"
    users_file: Path = REPO_ROOT / "dashboard" / "users.toml"

    # Reviewer console (dashboard/). Sign-in: ``auto`` uses OIDC (st.login) when the console's
    # .streamlit/secrets.toml has an [auth] section, else the users file's passwords. An OIDC
    # identity maps to a user by its e-mail; one the file does not list gets
    # ``console_oidc_default_role`` (empty: refused). Roles in ``console_pii_roles`` see
    # prompts and outputs unmasked; live pages refresh every ``console_refresh_s``.
    console_auth: str = Field(default="auto", pattern="^(auto|password|oidc)$")
    console_oidc_provider: str = ""
    console_oidc_default_role: str = Field(default="", pattern="^(|viewer|reviewer|lead|admin)$")
    console_pii_roles: list[str] = Field(default_factory=lambda: ["lead", "admin"])
    console_refresh_s: float = Field(default=2.0, ge=0.5)
    console_page_size: int = Field(default=50, ge=5, le=200)
    # Check precision measured on labelled data (written by `vigil eval --reliability-file`).
    console_check_reliability: Path = REPO_ROOT / "dashboard" / "check_reliability.json"

    def as_env(self) -> dict[str, str]:
        """The settings as ``VIGIL_*`` env vars, so child processes see exactly these values."""
        out = {}
        for name, value in self.model_dump().items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            if isinstance(value, dict | list):
                # Complex settings travel as JSON, which is how pydantic-settings reads them.
                text = orjson.dumps(value).decode()
            out[f"VIGIL_{name.upper()}"] = text
        return out

    @property
    def logs_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def ready_dir(self) -> Path:
        return self.run_dir / "ready"


def load_settings(**overrides: object) -> VigilSettings:
    """Read the settings once; ``overrides`` win over the environment (used by tests)."""
    return VigilSettings(**overrides)  # type: ignore[arg-type]
