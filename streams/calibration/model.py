"""A fitted risk model: logistic regression over ``features.FeatureSpec``, as a plain record.

Stored as JSON (never a pickle: Redis holds it and every worker loads it), evaluated in pure
Python (a dot product over a few dozen features costs microseconds, and the screening worker
does not load scikit-learn). ``PRIOR_VERSION`` names the hand weights, the model in use until
a fit is adopted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from vigil.streams.calibration.exceptions import CalibrationError
from vigil.streams.calibration.features import FeatureSpec
from vigil_client.contracts import CheckResult

__all__ = ["PRIOR_VERSION", "Metrics", "RiskModel"]

PRIOR_VERSION = "prior"


@dataclass(frozen=True)
class Metrics:
    """How a risk score fares on labelled results (weighted by the inverse chance of review):
    AUROC for "wrong", expected calibration error (10 bins), Brier score."""

    n: int
    wrong: int
    auroc: float
    ece: float
    brier: float

    def to_dict(self) -> dict[str, float]:
        return {
            "n": self.n,
            "wrong": self.wrong,
            "auroc": self.auroc,
            "ece": self.ece,
            "brier": self.brier,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Metrics:
        return cls(
            int(raw["n"]),
            int(raw["wrong"]),
            float(raw["auroc"]),
            float(raw["ece"]),
            float(raw["brier"]),
        )


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass(frozen=True)
class RiskModel:
    """P(wrong) = sigmoid(intercept + coef . features); with its provenance and the held-out
    measures it was adopted on (``heldout``: its own; ``baseline``: the model in use then)."""

    version: str
    spec: FeatureSpec
    coef: tuple[float, ...]
    intercept: float
    trained_at: str
    n_train: int
    heldout: Metrics
    baseline: Metrics | None = None
    baseline_version: str = PRIOR_VERSION
    source: str = "review store"
    notes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.coef) != len(self.spec.names):
            raise CalibrationError(
                f"risk model {self.version}: {len(self.coef)} coefficients for "
                f"{len(self.spec.names)} features"
            )

    def p_wrong(self, checks: Sequence[CheckResult], prior: float) -> float:
        x = self.spec.vector(checks, prior)
        z = self.intercept + sum(c * v for c, v in zip(self.coef, x, strict=True))
        return round(_sigmoid(z), 6)

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "version": self.version,
                "checks": list(self.spec.checks),
                "features": self.spec.names,
                "coef": list(self.coef),
                "intercept": self.intercept,
                "trained_at": self.trained_at,
                "n_train": self.n_train,
                "heldout": self.heldout.to_dict(),
                "baseline": None if self.baseline is None else self.baseline.to_dict(),
                "baseline_version": self.baseline_version,
                "source": self.source,
                "notes": self.notes,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> RiskModel:
        try:
            doc = orjson.loads(raw)
            base = doc.get("baseline")
            return cls(
                version=str(doc["version"]),
                spec=FeatureSpec(tuple(doc["checks"])),
                coef=tuple(float(c) for c in doc["coef"]),
                intercept=float(doc["intercept"]),
                trained_at=str(doc["trained_at"]),
                n_train=int(doc["n_train"]),
                heldout=Metrics.from_dict(doc["heldout"]),
                baseline=None if base is None else Metrics.from_dict(base),
                baseline_version=str(doc.get("baseline_version", PRIOR_VERSION)),
                source=str(doc.get("source", "")),
                notes=dict(doc.get("notes") or {}),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f"not a risk model record: {exc}") from exc
