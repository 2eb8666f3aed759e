"""The first faulty step of a result: the earliest step a reasoning check flags as wrong.

Each check that points at a step says which (``CheckResult.first_faulty_step``); the item's
first faulty step is the earliest of those whose check flagged the result, so a weak signal
that did not flag never names a step. Checks about something other than the reasoning (a
personal-data leak) name where they found it, but not a faulty step.
"""

from __future__ import annotations

from collections.abc import Sequence

from vigil_client.contracts import CheckResult

__all__ = ["NOT_REASONING", "first_faulty_step"]

NOT_REASONING = frozenset({"pii_leakage", "novelty"})


def first_faulty_step(checks: Sequence[CheckResult]) -> int | None:
    steps = [
        c.first_faulty_step
        for c in checks
        if c.flagged and c.first_faulty_step is not None and c.check not in NOT_REASONING
    ]
    return min(steps) if steps else None
