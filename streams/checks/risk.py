"""The risk score: every check's score combined into one number in [0, 1].

A weighted noisy-OR, ``1 - prod(1 - w_c * s_c)``: any one strong signal makes a result risky
(a wrong calculation is enough), weaker signals add up without ever exceeding 1, and checks
that did not flag still contribute their partial score, so results are ordered finely (what
a reviewer working down the queue, and AUROC, need). Weights come from the config.
"""

from __future__ import annotations

from collections.abc import Sequence

from vigil.streams.checks.config import RiskSection
from vigil_client.contracts import CheckResult

__all__ = ["risk_score"]


def risk_score(checks: Sequence[CheckResult], risk: RiskSection) -> float:
    safe = 1.0
    for c in checks:
        safe *= 1.0 - min(1.0, max(0.0, risk.weight(c.check) * c.score))
    return round(min(1.0, max(0.0, 1.0 - safe)), 6)
