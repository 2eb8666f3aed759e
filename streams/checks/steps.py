"""``step_verification``: re-check the arithmetic a solution writes, step by step, and how
it ends.

Faults, each with the weight it contributes to the score (the score is the strongest one;
a result is flagged at ``FLAG_AT`` or above):

* 1.0: a written computation is wrong, in free form (``2 + 48 + 3150 + 1300 = 3500``,
  ``\\frac{12}{4} = 4``, "twice 8 is 18"; ``computations.py``) or in a calculator annotation
  (``annotations.py``, with its own lighter findings);
* 1.0: the output has as many tokens as the request allowed; 0.8: its text stops
  mid-expression, leaves a LaTeX block open, or stops mid-sentence stating no answer
  (``truncation.py``);
* 0.9: runaway repetition (``repetition.py``);
* 0.7: no final answer stated anywhere; 0.6: a final answer that holds no number;
* 0.8 (GSM8K ``A:`` line) / 0.6 (elsewhere): the final answer is none of the numbers the
  reasoning arrived at: it does not follow from the work;
* 0.3: a whole number written for a fractional result, or an answer that rounds one
  (``1.55 trips`` then ``2``): often what the question wants, so only noted.

Step indices count from 0 (as ``ReviewDecision.first_wrong_step``); messages count from 1,
as a reader does ("step 2" is ``step_index=1``). The first faulty step is the earliest step
with a flagging finding that says the step is wrong (a cut-off says only where it shows).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

from vigil.streams.checks.annotations import W_WRONG, agrees, check_annotation, number, rounded
from vigil.streams.checks.base import BaseCheck, CheckInput
from vigil.streams.checks.computations import Claim, agreement, claims_in, rounded_to_whole
from vigil.streams.checks.findings import Finding, fmt, short
from vigil.streams.checks.numbers import numbers_in
from vigil.streams.checks.repetition import check_repetition
from vigil.streams.checks.solution import ParsedSolution, Step, parse_solution
from vigil.streams.checks.truncation import cut_off
from vigil_client.contracts import CheckResult, Evidence

__all__ = ["CHECK_NAME", "FLAG_AT", "StepVerificationCheck", "check_parsed", "check_steps"]

CHECK_NAME = "step_verification"
FLAG_AT = 0.5
W_NO_ANSWER = 0.7
W_NOT_A_NUMBER = 0.6
W_ANSWER_UNSUPPORTED_LINE = 0.8
W_ANSWER_UNSUPPORTED = 0.6
W_ROUNDED_WHOLE = 0.3
W_ANSWER_ROUNDED = 0.3
# A runaway output can hold hundreds of findings; a reviewer needs the strongest few.
MAX_EVIDENCE = 20
# Bounds the cost of a hostile or runaway output (real solutions hold under 20).
MAX_ANNOTATIONS = 200
MAX_CLAIMS = 200
# How many of the reasoning's latest numbers an answer may be computed from in the head.
_DERIVE_FROM = 12
# What stands right before an answer that is the result of the computation written before it.
_RESULT_OF_RE = re.compile(
    r"(?:=|\\approx|≈)\s*(?:\\\(\s*)?(?:\\(?:boxed|fbox)\s*\{)?\s*(?:\\?\$)?\s*$"
)


def _check_claim(step: Step, claim: Claim) -> Finding | None:
    if agreement(claim.lhs_value, claim.rhs_value, claim.rhs, claim.approx):
        return None
    if not claim.rhs_plain:
        # ``32 * $0.25 = $8 + 95 * $0.10 = ...``: a chain that goes on computing on its right
        # side is read in too many ways to call a link wrong; its plain results are checked.
        return None
    where = f"step {step.index + 1}"
    lhs = short(claim.lhs, 60)
    if claim.rhs_plain and rounded_to_whole(claim.lhs_value, claim.rhs_value, claim.rhs):
        message = (
            f"{where}: {lhs} = {fmt(claim.lhs_value)}, written as the whole number "
            f"{short(claim.rhs)}"
        )
        return Finding(
            W_ROUNDED_WHOLE, Evidence(message=message, step_index=step.index, span=claim.span)
        )
    message = f"{where}: {lhs} = {fmt(claim.lhs_value)}, not {short(claim.rhs)}"
    if not claim.rhs_plain:
        message += f" (= {fmt(claim.rhs_value)})"
    return Finding(W_WRONG, Evidence(message=message, step_index=step.index, span=claim.span))


def _check_final(parsed: ParsedSolution) -> list[Finding]:
    last = parsed.steps[-1].index if parsed.steps else None
    if parsed.answer is None:
        message = "no final answer: the reasoning never states a result"
        return [Finding(W_NO_ANSWER, Evidence(message=message, step_index=last), locates=False)]
    if parsed.final_value is None:
        message = f"the final answer {short(parsed.answer.text)!r} is not a number"
        where = parsed.answer.step_index if parsed.answer.step_index is not None else last
        return [Finding(W_NOT_A_NUMBER, Evidence(message=message, step_index=where), locates=False)]
    return []


def _values_before(parsed: ParsedSolution) -> Iterator[float]:
    """Every number the reasoning writes before its answer statement, latest first."""
    stated = parsed.answer
    assert stated is not None
    upto = stated.step_index if stated.step_index is not None else len(parsed.steps)
    if stated.step_index is not None and stated.span is not None:
        text = parsed.steps[stated.step_index].text[: stated.span[0]]
        for value, _ in reversed(numbers_in(text)):
            yield value
    for step in reversed(parsed.steps[:upto]):
        for ann in step.annotations:
            result = number(ann.claimed)
            if result is not None:
                yield result
        for value, _ in reversed(numbers_in(step.text)):
            yield value


def _check_answer_follows(parsed: ParsedSolution) -> list[Finding]:
    """The final answer must be a number the reasoning arrived at. For GSM8K's ``A:`` line
    that is the last step; for an answer stated in the text, any number written before it
    (a boxed restatement of a total computed three steps up follows from the work)."""
    stated = parsed.answer
    if stated is None or parsed.final_value is None or not parsed.steps:
        return []  # no answer is ``_check_final``'s finding
    if stated.source == "closing":
        return []  # the closing sentence's number is the reasoning's own last word
    answer, raw = parsed.final_value, stated.text
    span = stated.span
    if stated.source == "line":
        spanned = list(_last_step_values(parsed.steps[-1]))
        values = [v for v, _ in spanned]
        span = spanned[-1][1] if spanned else None  # the last step's last result
        where_index, weight = parsed.steps[-1].index, W_ANSWER_UNSUPPORTED_LINE
    else:
        values = []
        for v in _values_before(parsed):
            if agrees(v, answer, raw):
                return []  # most often the latest number: the rest need not be read
            values.append(v)
        where_index = stated.step_index if stated.step_index is not None else parsed.steps[-1].index
        weight = W_ANSWER_UNSUPPORTED
    if stated.step_index is not None and stated.span is not None:
        before = parsed.steps[stated.step_index].text[: stated.span[0]]
        if _RESULT_OF_RE.search(before):
            return []  # ``20 + 80 + 160 = \\boxed{260}``: a computation's result (checked as one)
    if not values:
        return []  # a step of pure prose ("So she has that many left."): nothing to compare
    if any(
        agrees(v, answer, raw) or agrees(v / 100, answer, raw) or agrees(v * 100, answer, raw)
        for v in values
    ):
        return []
    if stated.source != "line" and _derived(answer, values[:_DERIVE_FROM]):
        return []  # "Adding these two together ... is 57,500": one step done in the head
    if any(
        rounded(v, answer, raw) or (not v.is_integer() and answer == math.ceil(v)) for v in values
    ):
        message = (
            f"the final answer {short(raw)} rounds a result of the reasoning ({fmt(values[0])})"
        )
        return [Finding(W_ANSWER_ROUNDED, Evidence(message=message, step_index=where_index))]
    message = (
        f"the final answer {short(raw)} is none of the numbers the reasoning arrives at "
        f"(last: {fmt(values[0])})"
    )
    return [Finding(weight, Evidence(message=message, step_index=where_index, span=span))]


def _derived(answer: float, values: list[float]) -> bool:
    """Whether ``answer`` is one operation away from two of the reasoning's latest numbers."""
    for i, a in enumerate(values):
        for b in values[i + 1 :]:
            for c in (
                a + b,
                a - b,
                b - a,
                a * b,
                a / b if b else math.nan,
                b / a if a else math.nan,
            ):
                if math.isclose(c, answer, rel_tol=1e-6, abs_tol=1e-9):
                    return True
    return False


def _last_step_values(step: Step) -> Iterator[tuple[float, tuple[int, int]]]:
    """The numbers the step computes (annotation results) or writes, with their spans."""
    for ann in step.annotations:
        value = number(ann.claimed)
        if value is not None:
            yield value, ann.span
    yield from numbers_in(step.text)


def check_steps(text: str) -> CheckResult:
    """Verify a solution's arithmetic, final answer and ending; see the module docstring."""
    return check_parsed(parse_solution(text))


def check_parsed(
    parsed: ParsedSolution, *, output_tokens: int | None = None, max_tokens: int | None = None
) -> CheckResult:
    """``check_steps`` on a solution already parsed (the worker parses each output once);
    the token counts are the result's, when it has them."""
    findings: list[Finding] = []
    annotations, claims = MAX_ANNOTATIONS, MAX_CLAIMS
    for step in parsed.steps:
        if step.annotations:
            for ann in step.annotations[: max(0, annotations)]:
                findings.extend(check_annotation(step, ann))
            annotations -= len(step.annotations)
            continue
        if claims <= 0:
            continue
        for claim in claims_in(step.text)[:claims]:
            claims -= 1
            found = _check_claim(step, claim)
            if found is not None:
                findings.append(found)
    cut = cut_off(parsed, output_tokens, max_tokens)
    if cut is not None:
        findings.append(Finding(cut[0], cut[1], locates=False))
    else:
        findings.extend(_check_final(parsed))
    findings.extend(_check_answer_follows(parsed))
    findings.extend(check_repetition(parsed))

    score = max((f.weight for f in findings), default=0.0)
    faulty = [
        f.evidence.step_index
        for f in findings
        if f.weight >= FLAG_AT and f.locates and f.evidence.step_index is not None
    ]
    # Keep the strongest findings, then show them in reading order.
    kept = sorted(findings, key=lambda f: -f.weight)[:MAX_EVIDENCE]
    kept.sort(key=lambda f: (f.evidence.step_index is None, f.evidence.step_index or 0))
    return CheckResult(
        check=CHECK_NAME,
        score=score,
        flagged=score >= FLAG_AT,
        evidence=[f.evidence for f in kept],
        first_faulty_step=min(faulty) if faulty else None,
    )


class StepVerificationCheck(BaseCheck):
    name = CHECK_NAME

    def check(self, item: CheckInput) -> CheckResult:
        result = item.result
        return check_parsed(
            item.parsed, output_tokens=result.output_tokens, max_tokens=result.max_tokens
        )
