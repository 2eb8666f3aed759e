"""``number_provenance``: a quantity a computation uses that comes from nowhere.

Every number a written computation uses (its left side, ``computations.py``) should be in
the question (as digits or words: "three", "a dozen", "twice"; a percent as written or as a
share), computed or written in an earlier step or earlier in the same step, a common
constant (60 minutes, 24 hours, 7 days, 12 months, 52 weeks, 100 %, 1,000), or one
operation away from two of those (a model often does a small step in its head). A number
that is none of these was most likely misread or invented: together with the question's
numbers never used (``question_coverage``), the model-free signal that the reasoning
misread the problem. It points at the step.

Weak on its own (a model may know a fact the question leaves out: 16 ounces in a pound), so
it adds to the risk and flags only when at least ``FLAG_COUNT`` numbers come from nowhere.
"""

from __future__ import annotations

import functools

from vigil.streams.checks.base import BaseCheck, CheckInput
from vigil.streams.checks.computations import claims_in, operand_values
from vigil.streams.checks.numbers import numbers_in, words_in
from vigil.streams.checks.solution import ParsedSolution
from vigil_client.contracts import CheckResult, Evidence

__all__ = ["CHECK_NAME", "ProvenanceCheck", "check_provenance"]

CHECK_NAME = "number_provenance"
FLAG_COUNT = 2
SCORE_ONE = 0.4
SCORE_MORE = 0.7
# Counting, time, calendar, percent and metric constants a solution may use unstated.
CONSTANTS = frozenset(
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 16, 20, 24, 25, 28, 29, 30, 31, 36, 48, 50}
    | {52, 60, 100, 144, 360, 365, 366, 1000, 3600, 5280, 1_000_000, 0.5, 0.25, 0.75, 0.1}
)
# Derivations tried per unknown operand are pairs of the most recent known values.
_MAX_PAIRS_FROM = 30
PROMPT_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=PROMPT_CACHE_SIZE)
def _question_values(prompt: str) -> frozenset[float]:
    known: set[float] = set()
    for value, _ in numbers_in(prompt):
        known.update((value, value / 100, value * 100))
    for value in words_in(prompt):
        known.add(value)
        if value:
            known.add(1 / value)
    return frozenset(known)


def _key(x: float) -> float:
    """Values compared up to float noise: ``0.1 * 3`` is ``0.3``."""
    return round(x, 6)


def _known(x: float, known: set[float], recent: list[float]) -> bool:
    """Known, a constant, or ``a + b``, ``a - b``, ``a * b``, ``a / b`` of two known values,
    ``a`` among the latest ones: a set lookup per ``a`` finds the ``b`` it would need."""
    if x in CONSTANTS or _key(x) in known:
        return True
    for a in recent[-_MAX_PAIRS_FROM:]:
        if _key(x - a) in known or _key(a - x) in known or _key(x + a) in known:
            return True  # x = a + b, x = a - b, x = b - a
        if a and (_key(x / a) in known or _key(x * a) in known):
            return True  # x = a * b, x = b / a
        if x and _key(a / x) in known:
            return True  # x = a / b
    return False


def check_provenance(prompt: str, parsed: ParsedSolution) -> CheckResult:
    known = {_key(v) for v in _question_values(prompt)}
    recent = sorted(_question_values(prompt))
    evidence: list[Evidence] = []
    for step in parsed.steps:
        if step.annotations:
            continue  # GSM8K's calculator format: its own checks read those steps
        for claim in claims_in(step.text):
            for x in operand_values(claim.lhs):
                if not _known(x, known, recent):
                    evidence.append(
                        Evidence(
                            message=(
                                f"step {step.index + 1}: {x:g} in {claim.lhs[:60]!r} is not in "
                                "the question and not computed before"
                            ),
                            step_index=step.index,
                            span=claim.span,
                        )
                    )
                known.add(_key(x))
                recent.append(x)
            for value in (claim.lhs_value, claim.rhs_value):
                known.add(_key(value))
                recent.append(value)
        for value, _ in numbers_in(step.text):
            if _key(value) not in known:
                known.add(_key(value))
                recent.append(value)
    if not evidence:
        return CheckResult(check=CHECK_NAME, score=0.0, flagged=False)
    flagged = len(evidence) >= FLAG_COUNT
    return CheckResult(
        check=CHECK_NAME,
        score=SCORE_MORE if flagged else SCORE_ONE,
        flagged=flagged,
        evidence=evidence[:10],
        first_faulty_step=evidence[0].step_index,
    )


class ProvenanceCheck(BaseCheck):
    name = CHECK_NAME

    def check(self, item: CheckInput) -> CheckResult:
        return check_provenance(item.result.prompt, item.parsed)
