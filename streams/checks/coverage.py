"""``question_coverage``: quantities the question gives that the reasoning never uses.

A solution that leaves out a number stated in the problem has often misread it (skipped a
step, answered a different question). Word problems also state numbers that do not matter,
so this is a weak signal: it adds to the risk score and is flagged only when at least half
of the question's numbers (and at least two) go unused; the default routing does not send
an item to review for it alone.
"""

from __future__ import annotations

import re

from streams.checks.base import BaseCheck, CheckInput
from vigil.contracts import CheckResult, Evidence

__all__ = ["CHECK_NAME", "CoverageCheck", "check_coverage"]

CHECK_NAME = "question_coverage"
FLAG_SHARE = 0.5
_NUMBER_RE = re.compile(r"(?<![\w.])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")


def _numbers(text: str) -> dict[float, str]:
    found: dict[float, str] = {}
    for m in _NUMBER_RE.finditer(text):
        found.setdefault(float(m.group(0).replace(",", "")), m.group(0))
    return found


def check_coverage(prompt: str, output: str) -> CheckResult:
    given = _numbers(prompt)
    if not given:
        return CheckResult(check=CHECK_NAME, score=0.0, flagged=False)
    used = _numbers(output)
    # ``25%`` may be used as 0.25 and ``0.5`` as 50.
    unused = [
        text
        for value, text in given.items()
        if value not in used and value / 100 not in used and value * 100 not in used
    ]
    share = len(unused) / len(given)
    evidence = []
    if unused:
        shown = ", ".join(unused[:6])
        evidence.append(
            Evidence(
                message=(
                    f"{len(unused)} of {len(given)} numbers in the question are never used: {shown}"
                )
            )
        )
    return CheckResult(
        check=CHECK_NAME,
        score=round(share, 6),
        flagged=share >= FLAG_SHARE and len(unused) >= 2,
        evidence=evidence,
    )


class CoverageCheck(BaseCheck):
    name = CHECK_NAME

    def check(self, item: CheckInput) -> CheckResult:
        return check_coverage(item.result.prompt, item.result.output)
