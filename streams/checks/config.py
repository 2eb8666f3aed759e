"""The check engine's configuration file: checks, risk weights, routing rules, sampling.

TOML, read once when the worker (or ``vigil eval``) starts; the built-in defaults are
``default_checks.toml`` next to this module. A file given by ``VIGIL_CHECKS_CONFIG`` overrides
what it states: tables merge key by key (``[risk.weights] novelty = 0.5`` changes one weight),
anything else (a list such as ``enabled``, or the ``[[routes]]``) replaces the default.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vigil.streams.checks.exceptions import ChecksConfigError

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "ChecksConfig",
    "ChecksSection",
    "RiskSection",
    "RouteRule",
    "SamplingSection",
    "VerifierSection",
    "load_config",
]

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default_checks.toml")


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChecksSection(_Section):
    enabled: list[str] = Field(default_factory=list)
    disabled: list[str] = Field(default_factory=list)
    # name -> "package.module:factory"
    plugins: dict[str, str] = Field(default_factory=dict)
    # name -> options handed to that check's factory
    options: dict[str, dict[str, Any]] = Field(default_factory=dict)


class RiskSection(_Section):
    default_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    weights: dict[str, float] = Field(default_factory=dict)

    def weight(self, check: str) -> float:
        return self.weights.get(check, self.default_weight)


class RouteRule(_Section):
    name: str = Field(min_length=1)
    flagged: list[str] | None = None
    min_risk: float | None = Field(default=None, ge=0.0, le=1.0)
    hold_for_review: bool | None = None
    products: list[str] | None = None
    priority: float = Field(default=0.0, ge=0.0, le=1.0)
    sla_minutes: float | None = Field(default=None, gt=0)
    reviews_required: int = Field(default=1, ge=1, le=10)


class SamplingSection(_Section):
    # On by default: without it nobody ever learns what the checks miss.
    clean_rate: float = Field(default=0.02, ge=0.0, le=1.0)
    sla_minutes: float | None = Field(default=None, gt=0)


class VerifierSection(_Section):
    """The ``verifier`` check: a model on Triton judges a result step by step, asynchronously
    (``streams/verification/``). Which results, which model, and its budget."""

    enabled: bool = False
    # The verifier model on Triton and the contract it speaks (inference/adapters.py).
    model: str = "vigil-verifier"
    adapter: str = "trtllm-pytriton"
    # critic: the model names the earliest wrong step; prm: a score per step.
    mode: Literal["critic", "prm"] = "critic"
    # The prompt template (a file; {question} and {steps}); empty: the built-in critic prompt.
    prompt_template: str = ""
    max_tokens: int = Field(default=256, ge=1, le=8192)
    # PRM mode: the first step scored under this is the wrong one.
    prm_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    # Which results (every condition must hold; a held request is verified whatever its risk
    # when ``verify_held``): results whose cheap risk lies in [min_risk, max_risk], of these
    # products (None: any), a share of them chosen by a hash of the request id.
    min_risk: float = Field(default=0.0, ge=0.0, le=1.0)
    max_risk: float = Field(default=1.0, ge=0.0, le=1.0)
    products: list[str] | None = None
    share: float = Field(default=1.0, ge=0.0, le=1.0)
    verify_held: bool = True
    # Budget: judgements per second (the verifier answers "over budget" past it), results
    # waiting for a judgement at once (past it, screened on the cheap checks alone).
    max_per_s: float = Field(default=2.0, gt=0.0)
    max_pending: int = Field(default=500, ge=1)
    # One model call's timeout; how long a result waits for its judgement before it is
    # settled without one ("not verified: timeout").
    timeout_s: float = Field(default=20.0, gt=0.0)
    max_wait_s: float = Field(default=60.0, gt=0.0)
    # The circuit: this many failed calls in a row open it for ``open_s`` (doubling).
    breaker_failures: int = Field(default=3, ge=1)
    breaker_open_s: float = Field(default=10.0, gt=0.0)


class ChecksConfig(_Section):
    checks: ChecksSection = Field(default_factory=ChecksSection)
    risk: RiskSection = Field(default_factory=RiskSection)
    routes: list[RouteRule] = Field(default_factory=list)
    sampling: SamplingSection = Field(default_factory=SamplingSection)
    verifier: VerifierSection = Field(default_factory=VerifierSection)

    def check_options(self, name: str) -> dict[str, Any]:
        return dict(self.checks.options.get(name, {}))


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ChecksConfigError(f"checks config not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ChecksConfigError(f"{path}: not valid TOML: {exc}") from None


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(path: Path | None = None) -> ChecksConfig:
    """The defaults, overridden by what ``path`` (when given) states."""
    raw = _read(DEFAULT_CONFIG_PATH)
    source = DEFAULT_CONFIG_PATH
    if path is not None:
        raw = _merge(raw, _read(path))
        source = path
    try:
        config = ChecksConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()
        )
        raise ChecksConfigError(f"{source}: {problems}") from None
    names = [r.name for r in config.routes]
    if len(names) != len(set(names)):
        raise ChecksConfigError(f"{source}: route names must be unique, got {names}")
    return config
