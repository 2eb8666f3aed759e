"""Prediction-powered inference of a share (Angelopoulos et al., Science 2023), from sums.

The question: of the ``N`` results screened in a period, what share was wrong? Reviewers
labelled ``n`` of them, a simple random sample; the risk model gives every result a
prediction ``f`` (its P(wrong)). The estimate is the labelled results' own labels plus, for
the unlabelled ones, the predictions corrected by the rectifier measured on the sample::

    theta = (n * mean_n(Y) + (N - n) * [lam * mean_u(f) + mean_n(Y - lam * f)]) / N

``lam = 1`` is PPI's mean estimator; power tuning (PPI++, Angelopoulos, Duchi & Zrnic 2023)
picks ``lam = Cov(Y, f) / Var(f)`` on the sample (clipped to [0, 1]), so a useless model
(``lam`` ~ 0) costs nothing against the sample alone, and ``lam = 0`` *is* the sample alone.
The estimand is the share among these ``N`` results (not a mean over a larger population),
so the prediction term has no sampling error and the variance is the rectifier's, with the
finite-population correction: ``S^2(Y - lam f) / n * (1 - n / N)``; the interval is the CLT's
with Student's t quantile (``n - 1`` degrees of freedom; Welch-Satterthwaite across strata),
which matters at the few dozen labels a small segment has. The interval holds
whatever the model's quality (only the sample's randomness enters), and is narrower the better
``f`` tracks ``Y``. Strata (clean results sampled at one rate, queued ones at another) are
estimated apart and combined by their sizes (``combine``).

Everything works on sums (``LabelSums``, ``Pool``), so counts kept per window and per segment
in Redis add up across windows without keeping a row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

from scipy.stats import t as student_t

__all__ = ["Z95", "Estimate", "LabelSums", "Pool", "classical", "combine", "ppi"]

Z95 = NormalDist().inv_cdf(0.975)


@dataclass(frozen=True)
class LabelSums:
    """The labelled results: count, and sums of Y, f, Y^2, f^2 and Y f."""

    n: int = 0
    y: float = 0.0
    f: float = 0.0
    yy: float = 0.0
    ff: float = 0.0
    yf: float = 0.0

    @classmethod
    def of(cls, labels: Iterable[tuple[float, float]]) -> LabelSums:
        """From ``(y, f)`` pairs."""
        n, y, f, yy, ff, yf = 0, 0.0, 0.0, 0.0, 0.0, 0.0
        for yi, fi in labels:
            n += 1
            y += yi
            f += fi
            yy += yi * yi
            ff += fi * fi
            yf += yi * fi
        return cls(n, y, f, yy, ff, yf)

    def __add__(self, other: LabelSums) -> LabelSums:
        return LabelSums(
            self.n + other.n,
            self.y + other.y,
            self.f + other.f,
            self.yy + other.yy,
            self.ff + other.ff,
            self.yf + other.yf,
        )

    def to_list(self) -> list[float]:
        return [self.n, self.y, self.f, self.yy, self.ff, self.yf]

    @classmethod
    def from_list(cls, raw: Sequence[float]) -> LabelSums:
        return cls(int(raw[0]), *(float(x) for x in raw[1:6]))


@dataclass(frozen=True)
class Pool:
    """Every result of the stratum, labelled or not: count and sum of the predictions."""

    n: int = 0
    f: float = 0.0

    @classmethod
    def of(cls, predictions: Iterable[float]) -> Pool:
        n, f = 0, 0.0
        for p in predictions:
            n += 1
            f += p
        return cls(n, f)

    def __add__(self, other: Pool) -> Pool:
        return Pool(self.n + other.n, self.f + other.f)


@dataclass(frozen=True)
class Estimate:
    """A share with its standard error and 95% interval (clipped to [0, 1])."""

    value: float
    se: float
    n_labelled: int
    n_total: int
    lam: float = 0.0
    df: float = math.inf  # degrees of freedom of the variance estimate

    @property
    def quantile(self) -> float:
        return Z95 if math.isinf(self.df) else float(student_t.ppf(0.975, max(1.0, self.df)))

    @property
    def low(self) -> float:
        return max(0.0, self.value - self.quantile * self.se)

    @property
    def high(self) -> float:
        return min(1.0, self.value + self.quantile * self.se)

    @property
    def width(self) -> float:
        return self.high - self.low

    def to_dict(self) -> dict[str, float | None]:
        return {
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "se": self.se,
            "n_labelled": self.n_labelled,
            "n_total": self.n_total,
            "lam": self.lam,
            "df": self.df if math.isfinite(self.df) else None,
        }


def _cov(a_sum: float, b_sum: float, ab_sum: float, n: int) -> float:
    """The sample covariance (ddof 1) from sums."""
    return (ab_sum - a_sum * b_sum / n) / (n - 1)


def _estimate(pool: Pool, labels: LabelSums, lam: float) -> Estimate | None:
    n = labels.n
    total = max(pool.n, n)  # a pool that missed some labelled results: they are its floor
    if n < 2 or total == 0:
        return None
    rest = total - n
    mean_y = labels.y / n
    # The unlabelled results' predictions: the pool less the labelled ones.
    mean_fu = (pool.f - labels.f) / rest if rest else 0.0
    rectifier = (labels.y - lam * labels.f) / n
    value = (n * mean_y + rest * (lam * mean_fu + rectifier)) / total
    var_r = (
        _cov(labels.y, labels.y, labels.yy, n)
        - 2 * lam * _cov(labels.y, labels.f, labels.yf, n)
        + lam * lam * _cov(labels.f, labels.f, labels.ff, n)
    )
    se = math.sqrt(max(0.0, var_r) / n * (1.0 - n / total))
    return Estimate(min(1.0, max(0.0, value)), se, n, total, lam, float(n - 1))


def tuned_lambda(labels: LabelSums) -> float:
    """PPI++'s power tuning: the variance-minimising weight of the predictions, in [0, 1]."""
    if labels.n < 2:
        return 0.0
    var_f = _cov(labels.f, labels.f, labels.ff, labels.n)
    if var_f <= 1e-12:
        return 0.0
    return min(1.0, max(0.0, _cov(labels.y, labels.f, labels.yf, labels.n) / var_f))


def ppi(pool: Pool, labels: LabelSums, *, lam: float | None = None) -> Estimate | None:
    """The prediction-powered estimate (power-tuned unless ``lam`` is given); None with
    fewer than two labels (no variance to go by)."""
    return _estimate(pool, labels, tuned_lambda(labels) if lam is None else lam)


def classical(pool: Pool, labels: LabelSums) -> Estimate | None:
    """The random sample alone (no predictions): the baseline PPI must beat."""
    return _estimate(pool, labels, 0.0)


def combine(parts: Sequence[Estimate]) -> Estimate | None:
    """Strata estimated apart, weighted by their sizes; None when there is no stratum."""
    total = sum(p.n_total for p in parts)
    if total == 0:
        return None
    value = sum(p.value * p.n_total for p in parts) / total
    shares = [(p.se * p.n_total / total) ** 2 for p in parts]
    var = sum(shares)
    lam = sum(p.lam * p.n_total for p in parts) / total
    # Welch-Satterthwaite: the strata whose variance counts decide the degrees of freedom.
    spread = sum(v * v / p.df for v, p in zip(shares, parts, strict=True) if v > 0)
    df = var * var / spread if spread > 0 else math.inf
    return Estimate(value, math.sqrt(var), sum(p.n_labelled for p in parts), total, lam, df)
