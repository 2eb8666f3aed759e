"""Frozen settings, read once at the entry point and passed down (never read at import)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GSM8K = REPO_ROOT.parent / "shared" / "data" / "gsm8k" / "model_solutions.jsonl"

VARIANTS = ("175b_verification", "175b_finetuning", "6b_verification", "6b_finetuning")


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

    # Kafka layout.
    topic_partitions: int = Field(default=4, ge=1, le=256)

    # Gateway behaviour.
    max_prompt_chars: int = Field(default=8000, ge=1)
    gateway_max_in_flight: int = Field(default=32, ge=1)
    gateway_batch_size: int = Field(default=64, ge=1)
    triton_timeout_s: float = Field(default=30.0, gt=0)

    # Local files: logs, Kafka/Redis data, readiness markers.
    run_dir: Path = REPO_ROOT / ".run"
    kafka_libs_dir: Path = REPO_ROOT / ".cache" / "kafka" / "libs"
    users_file: Path = REPO_ROOT / "dashboard" / "users.toml"

    def as_env(self) -> dict[str, str]:
        """The settings as ``VIGIL_*`` env vars, so child processes see exactly these values."""
        out = {}
        for name, value in self.model_dump().items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
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
