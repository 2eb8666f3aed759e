"""What the risk model sees of a screened result: its checks' results, whatever checks ran.

Features are built from ``CheckResult`` alone (name, score, flag, evidence, first faulty
step), never from a list of known check names: the checks change (new ones, plugins, new
weights) and the model must follow them. A ``FeatureSpec`` is the checks seen when a model was
fitted, in a fixed order; at prediction a check the spec does not know is ignored and a check
that did not run contributes zeros (as a check that found nothing would).

Per check: its score, whether it flagged, log(1 + evidence items) and whether it named a
faulty step. First of all, the hand-weighted risk (the noisy-OR of ``streams/checks/risk.py``)
as log-odds: the prior, so that a fit can start from what the hand weights knew.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vigil_client.contracts import CheckResult

__all__ = ["PER_CHECK", "PRIOR", "FeatureSpec", "logit", "spec_for"]

PRIOR = "prior_logit"
PER_CHECK = ("score", "flagged", "evidence", "faulty_step")
_CLIP = 1e-4


def logit(p: float) -> float:
    q = min(1.0 - _CLIP, max(_CLIP, p))
    return math.log(q / (1.0 - q))


def _check_features(c: CheckResult) -> tuple[float, float, float, float]:
    return (
        float(c.score),
        1.0 if c.flagged else 0.0,
        math.log1p(len(c.evidence)),
        0.0 if c.first_faulty_step is None else 1.0,
    )


@dataclass(frozen=True)
class FeatureSpec:
    """The checks a model knows, in order; its feature names follow from them."""

    checks: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        return [PRIOR, *(f"{c}:{part}" for c in self.checks for part in PER_CHECK)]

    def vector(self, checks: Sequence[CheckResult], prior: float) -> list[float]:
        out = [0.0] * (1 + len(PER_CHECK) * len(self.checks))
        out[0] = logit(prior)
        index = {name: i for i, name in enumerate(self.checks)}
        for c in checks:
            i = index.get(c.check)
            if i is None:
                continue
            at = 1 + i * len(PER_CHECK)
            out[at : at + len(PER_CHECK)] = _check_features(c)
        return out


def spec_for(check_lists: Iterable[Sequence[CheckResult]]) -> FeatureSpec:
    """The spec of every check that ran on any of the results, sorted by name."""
    return FeatureSpec(tuple(sorted({c.check for checks in check_lists for c in checks})))
