"""``answer_plausibility``: what the question asks for against what was answered.

Evidence, not alone a verdict (each finding adds to the risk; the check flags only when two
agree or one is strong):

* a count ("how many people / eggs / trips") answered with a fraction (12.5 people): 0.5;
* a negative answer to a question that asks for an amount, a count or a price: 0.6;
* money (the question or answer in $, €, £, or "dollars", "cents") with more than two
  decimals: 0.3;
* the answer is a number of the question passed through unchanged: 0.2 (sometimes right:
  "how many did she have at first?").
"""

from __future__ import annotations

import functools
import re

from vigil.streams.checks.base import BaseCheck, CheckInput
from vigil.streams.checks.findings import fmt
from vigil.streams.checks.numbers import numbers_in
from vigil.streams.checks.solution import ParsedSolution
from vigil_client.contracts import CheckResult, Evidence

__all__ = ["CHECK_NAME", "PlausibilityCheck", "check_plausibility"]

CHECK_NAME = "answer_plausibility"
FLAG_AT = 0.5
W_FRACTIONAL_COUNT = 0.5
W_NEGATIVE = 0.6
W_MONEY_DECIMALS = 0.3
W_PASSED_THROUGH = 0.2
_COUNT_RE = re.compile(
    r"\bhow\s+many\b(?!\s+(?:more\s+)?(?:hours|minutes|days|weeks|months|years|miles|km|kilometers|meters|feet|inches|pounds|kg|kilograms|grams|ounces|liters|gallons|cups|dollars|cents|percent|times|seconds)\b)",
    re.I,
)
_AMOUNT_RE = re.compile(
    r"\bhow\s+(?:many|much|long|far|old)\b|\bwhat\s+(?:is|was)\s+the\s+(?:total|cost|price|number)\b",
    re.I,
)
_MONEY_RE = re.compile(r"[$€£]|\b(?:dollars?|cents?|euros?|pounds sterling)\b", re.I)
_DECIMALS_RE = re.compile(r"\.(\d{3,})\b")
PROMPT_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=PROMPT_CACHE_SIZE)
def _question(prompt: str) -> tuple[bool, bool, bool, frozenset[float]]:
    last = prompt.strip().rsplit(".", 1)[-1] if "?" not in prompt else prompt
    asks = last[last.rfind(".") + 1 :] if "?" in last else last
    return (
        bool(_COUNT_RE.search(asks)),
        bool(_AMOUNT_RE.search(asks)),
        bool(_MONEY_RE.search(prompt)),
        frozenset(v for v, _ in numbers_in(prompt)),
    )


def check_plausibility(prompt: str, parsed: ParsedSolution) -> CheckResult:
    stated = parsed.answer
    value = parsed.final_value
    if stated is None or value is None:
        return CheckResult(check=CHECK_NAME, score=0.0, flagged=False)
    counts, amount, money, given = _question(prompt)
    where = stated.step_index
    found: list[tuple[float, str]] = []
    if counts and not float(value).is_integer():
        found.append(
            (
                W_FRACTIONAL_COUNT,
                f"the question asks how many; the answer {fmt(value)} is not a whole number",
            )
        )
    if amount and value < 0:
        found.append(
            (W_NEGATIVE, f"the question asks for an amount; the answer {fmt(value)} is negative")
        )
    if (money or _MONEY_RE.search(stated.text)) and _DECIMALS_RE.search(stated.text):
        found.append(
            (W_MONEY_DECIMALS, f"a money answer with more than two decimals ({stated.text[:30]})")
        )
    if value in given and value != 0:
        found.append(
            (W_PASSED_THROUGH, f"the answer {fmt(value)} is a number of the question, unchanged")
        )
    if not found:
        return CheckResult(check=CHECK_NAME, score=0.0, flagged=False)
    safe = 1.0
    for weight, _ in found:
        safe *= 1.0 - weight
    score = round(1.0 - safe, 6)
    return CheckResult(
        check=CHECK_NAME,
        score=score,
        flagged=score >= FLAG_AT,
        evidence=[Evidence(message=m, step_index=where, span=stated.span) for _, m in found],
    )


class PlausibilityCheck(BaseCheck):
    name = CHECK_NAME

    def check(self, item: CheckInput) -> CheckResult:
        return check_plausibility(item.result.prompt, item.parsed)
