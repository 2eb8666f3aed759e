"""``question_coverage``: quantities the question gives that the reasoning never uses.

A solution that leaves out a number stated in the problem has often misread it (skipped a
step, answered a different question). Word problems also state numbers that do not matter,
so this is a weak signal: it adds to the risk score and is flagged only when at least half
of the question's numbers (and at least two) go unused; the default routing does not send
an item to review for it alone.
"""

from __future__ import annotations

import functools
import re

from vigil.streams.checks.base import BaseCheck, CheckInput
from vigil.streams.checks.numbers import numbers_in
from vigil.streams.checks.solution import ParsedSolution, parse_solution
from vigil_client.contracts import CheckResult, Evidence

__all__ = ["CHECK_NAME", "CoverageCheck", "check_coverage"]

CHECK_NAME = "question_coverage"
FLAG_SHARE = 0.5
# A number: digits (thousands separators in groups of three), decimals; not the tail of a
# word or of another number (``x2``, ``3.5``'s ``5``): no word character or ``.`` before it.
_NUMBER_RE = re.compile(r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_NOT_BEFORE_RE = re.compile(r"[\w.]")
PROMPT_CACHE_SIZE = 4096


def _numbers(text: str) -> dict[float, str]:
    """Every number in ``text`` (first spelling of each value), as the scan that puts the
    "no word character or ``.`` before" test first would find them. That scan tries every
    position of the text; this one lets the pattern find each candidate (it starts with a
    digit, so the search skips ahead fast) and tests the character before it, going on
    from the next position when that fails, which is where the other scan would be."""
    found: dict[float, str] = {}
    pos = 0
    search = _NUMBER_RE.search
    while (m := search(text, pos)) is not None:
        start = m.start()
        if start and _NOT_BEFORE_RE.match(text, start - 1):
            pos = start + 1
            continue
        found.setdefault(float(m.group(0).replace(",", "")), m.group(0))
        pos = m.end()
    return found


# The question's numbers: questions are asked again and again, outputs hardly ever repeat.
_prompt_numbers = functools.lru_cache(maxsize=PROMPT_CACHE_SIZE)(_numbers)


def check_coverage(prompt: str, output: str | ParsedSolution) -> CheckResult:
    """``output``: the text, or its parse (whose steps' numbers the other checks have read
    already: ``numbers_in`` is cached per step)."""
    given = _prompt_numbers(prompt)
    if not given:
        return CheckResult(check=CHECK_NAME, score=0.0, flagged=False)
    parsed = parse_solution(output) if isinstance(output, str) else output
    used = {v for step in parsed.steps for v, _ in numbers_in(step.text)}
    if parsed.final_value is not None:
        used.add(parsed.final_value)
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
        return check_coverage(item.result.prompt, item.parsed)
