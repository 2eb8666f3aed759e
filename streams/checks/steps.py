"""``step_verification``: re-check the arithmetic a solution writes, step by step.

Faults, each with the weight it contributes to the score (the score is the strongest one;
a result is flagged at ``FLAG_AT`` or above):

* 1.0: an annotation's arithmetic is wrong (``<<2*3=7>>``);
* 1.0: the number written after ``>>`` differs from the annotation's result, the real
  GSM8K fault ``130,000*.15 = $<<130000*.15=19500.0>>195,000``;
* 1.0: no final answer line, or one that is not a number (a cut-off output);
* 0.8: the final answer is none of the numbers the last step computes or writes
  (``... = <<6*4=24>>24 apples`` then ``A: 42``): the answer does not follow from the work;
* 0.9: runaway repetition: a line repeated, a long word n-gram recurring, or a short unit
  repeated in a row (``0.33333…`` for a page);
* 0.8: the arithmetic written in the text before the annotation computes something else
  than the annotation (``195,000*.05 = $<<19500*.05=975.0>>``): the model copied a number
  wrong;
* 0.6: a fractional value written as a whole number (``<<5/3=1.6666666666666667>>1``):
  sometimes deliberate, but none of the 7,473 human GSM8K solutions does it while the
  model outputs that do are mostly wrong, so it is flagged (for a lighter review);
* 0.3: the final answer is the last step's fractional value rounded to a whole number
  (``<<580/110=5.27…>>5.27`` then ``A: 5``): often what the question wants, so only noted;
* 0.2: an annotation that cannot be evaluated (``<<x+56=86>>``, ``<<2:15+2:38=...>>``):
  models write odd text there, so it is noted but never flags on its own.

Step indices count from 0 (as ``ReviewDecision.first_wrong_step``); messages count from 1,
as a reader does ("step 2" is ``step_index=1``).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from vigil.streams.checks.arithmetic import evaluate, parse_number
from vigil.streams.checks.base import BaseCheck, CheckInput
from vigil.streams.checks.exceptions import ArithmeticParseError
from vigil.streams.checks.solution import (
    Annotation,
    ParsedSolution,
    Step,
    final_answer,
    normalise_answer,
    parse_solution,
    stated_expression,
)
from vigil_client.contracts import CheckResult, Evidence

__all__ = [
    "CHECK_NAME",
    "FLAG_AT",
    "StepVerificationCheck",
    "check_parsed",
    "check_steps",
    "final_answer",
    "normalise_answer",
]

CHECK_NAME = "step_verification"
FLAG_AT = 0.5
W_WRONG = 1.0
W_NO_ANSWER = 1.0
W_REPETITION = 0.9
W_TEXT_EXPR = 0.8
W_ANSWER_UNSUPPORTED = 0.8
W_ROUNDED = 0.6
W_ANSWER_ROUNDED = 0.3
W_UNCHECKABLE = 0.2
# A runaway output can hold hundreds of findings; a reviewer needs the strongest few.
MAX_EVIDENCE = 20
# Bounds the cost of a hostile or runaway output (real solutions hold under 20).
MAX_ANNOTATIONS = 200
_REL_TOL = 1e-6
# Text arithmetic with decimals is often a rounded copy of the annotation's (0.33*3 for
# 1/3*3); with whole numbers only, it must match exactly.
_STATED_ROUNDED_TOL = 0.01
_SPACING_RE = re.compile(r"[\s$€£]|(?<=\d),(?=\d{3})")

# Runaway repetition, three general shapes (thresholds far above what reasoning repeats):
# a short unit over and over in a row ("0.3333…", "2727…"); the same line again and again;
# the same long run of words recurring (a loop of several lines).
_RUN_RE = re.compile(r"(.{1,10}?)\1{24,}", re.DOTALL)
_RUN_MIN = 25  # occurrences of the unit in a run: the ``{24,}`` above plus the first
_LINE_REPEATS = 3
_MIN_LINE_CHARS = 10
_NGRAM = 8
_NGRAM_REPEATS = 5


@dataclass(frozen=True, slots=True)
class _Finding:
    weight: float
    evidence: Evidence


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fmt(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.10g}"


def _decimals(raw: str) -> int | None:
    """Decimal places a written number shows; ``None`` for exponent form (treated as exact)."""
    if "e" in raw.lower():
        return None
    _, dot, tail = raw.partition(".")
    return len(tail.rstrip("%")) if dot else 0


def _agrees(true: float, shown: float, raw: str) -> bool:
    """``shown`` (written as ``raw``) equals ``true`` up to float noise or its own precision.

    ``0.33`` for 1/3 and ``0.66`` for 2/3 agree (rounded or cut at two decimals); whole
    numbers get no such slack here (see ``_rounded``).
    """
    if math.isclose(true, shown, rel_tol=_REL_TOL, abs_tol=1e-9):
        return True
    places = _decimals(raw)
    return bool(places) and abs(true - shown) < 10.0 ** -(places or 0) + 1e-12


def _rounded(true: float, shown: float, raw: str) -> bool:
    """A whole number written for a fractional value within one: rounded or cut."""
    return _decimals(raw) == 0 and not true.is_integer() and abs(true - shown) < 1


def _number(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        if "/" in raw:
            return evaluate(raw.rstrip("%"))
        return parse_number(raw.rstrip("%"))
    except ArithmeticParseError:
        return None


def _written_agrees(value: float, written: float, raw: str) -> bool:
    # ``25%`` may stand for 0.25 as well as for 25.
    return _agrees(value, written, raw) or (
        raw.endswith("%") and _agrees(value, written / 100, raw)
    )


def _check_annotation(step: Step, ann: Annotation) -> list[_Finding]:
    where = f"step {step.index + 1}"

    def finding(weight: float, message: str) -> _Finding:
        return _Finding(weight, Evidence(message=message, step_index=step.index, span=ann.span))

    shown = step.text[ann.span[0] : ann.span[1]]
    claimed = _number(ann.claimed)
    if claimed is None or ann.claimed is None:
        return [finding(W_UNCHECKABLE, f"{where}: cannot read the result of {_short(shown)}")]
    # A chain ``<<3*A=9*A=9*8=72>>``: every part that is plain arithmetic must equal 72.
    values: list[tuple[str, float]] = []
    problem = ""
    for part in ann.expr.split("="):
        try:
            values.append((part.strip(), evaluate(part)))
        except ArithmeticParseError as exc:
            problem = problem or str(exc)
    if not values:
        out = [finding(W_UNCHECKABLE, f"{where}: cannot check {_short(shown)}: {problem}")]
    else:
        out = []
    expr = _short(values[0][0] if values else ann.expr)
    wrong = next(((e, v) for e, v in values if not _agrees(v, claimed, ann.claimed)), None)
    if wrong is not None:
        expr, value = _short(wrong[0]), wrong[1]
        if _rounded(value, claimed, ann.claimed):
            message = (
                f"{where}: {expr} = {_fmt(value)} but the annotation rounds it to {ann.claimed}"
            )
            return [*out, finding(W_ROUNDED, message)]
        message = f"{where}: {expr} = {_fmt(value)}, not {_short(ann.claimed)}"
        if ann.written is not None:
            message += f" (the text says {_short(ann.written)})"
        return [*out, finding(W_WRONG, message)]

    written = _number(ann.written)
    if written is None or ann.written is None:
        return out
    if any(_written_agrees(t, written, ann.written) for t in [claimed, *(v for _, v in values)]):
        return out
    if _rounded(claimed, written, ann.written):
        message = (
            f"{where}: {expr} = {_fmt(claimed)} but the text writes the whole number {ann.written}"
        )
        return [*out, finding(W_ROUNDED, message)]
    message = f"{where}: {expr} = {_fmt(claimed)} but the text says {_short(ann.written)}"
    if math.isclose(written, -claimed, rel_tol=_REL_TOL):
        message += " (the sign is dropped)"  # ``12-28 = <<12-28=-16>>16``: reversed subtraction
    return [*out, finding(W_WRONG, message)]


def _check_stated(step: Step, ann: Annotation) -> list[_Finding]:
    """The arithmetic written before ``= <<...>>`` must compute what the annotation does."""
    stated = stated_expression(step.text, ann.span[0])
    if stated is None or _SPACING_RE.sub("", stated) == _SPACING_RE.sub("", ann.expr):
        return []
    try:
        stated_value = evaluate(stated)
    except ArithmeticParseError:
        return []
    try:
        # A chain (``<<3*A=9*8=72>>``) is compared through its result.
        value = evaluate(ann.expr) if "=" not in ann.expr else None
    except ArithmeticParseError:
        value = None
    if value is None:
        value = _number(ann.claimed)
        if value is None:
            return []
    tol = _STATED_ROUNDED_TOL if "." in stated else _REL_TOL
    # ``100% - 12% = <<100-12=88>>``: the text works in percent, the annotation in points.
    scales = (1.0, 100.0) if "%" in stated else (1.0,)
    if any(math.isclose(stated_value * k, value, rel_tol=tol, abs_tol=1e-9) for k in scales):
        return []
    message = (
        f"step {step.index + 1}: the text writes {_short(stated)} (= {_fmt(stated_value)}) "
        f"but the annotation computes {_short(ann.expr)} = {_fmt(value)}"
    )
    evidence = Evidence(message=message, step_index=step.index, span=ann.span)
    return [_Finding(W_TEXT_EXPR, evidence)]


def _check_final(parsed: ParsedSolution) -> list[_Finding]:
    last = parsed.steps[-1].index if parsed.steps else None
    if parsed.final_answer is None:
        message = "no final answer line ('A: ...'): the output may be cut off"
        return [_Finding(W_NO_ANSWER, Evidence(message=message, step_index=last))]
    if parsed.final_value is None:
        message = f"the final answer {_short(parsed.final_answer)!r} is not a number"
        return [_Finding(W_NO_ANSWER, Evidence(message=message, step_index=last))]
    return []


# Every number a step writes: ``1,200``, ``$5.27``, ``-4``, ``.5`` (not digits inside words).
_STEP_NUMBER_RE = re.compile(
    r"(?<![\w.])-?[$€£]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|(?<![\w.])\.\d+"
)


def _last_step_values(step: Step) -> Iterator[tuple[float, tuple[int, int]]]:
    """The numbers the step computes (annotation results) or writes, with their spans, in
    that order: a generator, so a caller that finds what it looks for early stops early."""
    for ann in step.annotations:
        value = _number(ann.claimed)
        if value is not None:
            yield value, ann.span
    for match in _STEP_NUMBER_RE.finditer(step.text):
        value = _number(match.group(0).replace("$", "").replace("€", "").replace("£", ""))
        if value is not None:
            yield value, match.span()


def _check_answer_follows(parsed: ParsedSolution) -> list[_Finding]:
    """The final answer must be what the last step arrived at (computed or written there)."""
    if parsed.final_value is None or parsed.final_answer is None or not parsed.steps:
        return []  # no answer is ``_check_final``'s finding
    last = parsed.steps[-1]
    answer = parsed.final_value
    values: list[tuple[float, tuple[int, int]]] = []
    for value, span in _last_step_values(last):
        if _agrees(value, answer, parsed.final_answer):
            return []  # most often the last calculation: the rest need not be read
        values.append((value, span))
    if not values:
        return []  # a step of pure prose ("So she has that many left."): nothing to compare
    if any(_agrees(v / 100, answer, parsed.final_answer) for v, _ in values):
        return []  # ``... = 25%`` then ``A: 0.25``
    where = f"step {last.index + 1}"
    value, span = values[-1]
    if any(_rounded(v, answer, parsed.final_answer) for v, _ in values):
        message = (
            f"the final answer {_short(parsed.final_answer)} rounds {_fmt(value)} "
            f"from {where} to a whole number"
        )
        return [_Finding(W_ANSWER_ROUNDED, Evidence(message=message, step_index=last.index))]
    message = (
        f"the final answer {_short(parsed.final_answer)} is not what {where} arrives at "
        f"({_fmt(value)})"
    )
    evidence = Evidence(message=message, step_index=last.index, span=span)
    return [_Finding(W_ANSWER_UNSUPPORTED, evidence)]


def _may_run(text: str) -> bool:
    """Whether ``_RUN_RE`` can find a unit that is not all whitespace in ``text``: every
    character of such a unit occurs at least ``_RUN_MIN`` times. Counting is several times
    cheaper than the backtracking search, and almost no line passes."""
    if len(text) < _RUN_MIN:
        return False
    counts = Counter(text)
    if max(counts.values()) < _RUN_MIN:
        return False
    return any(n >= _RUN_MIN and not ch.isspace() for ch, n in counts.items())


def _repeated_unit(steps: Sequence[Step]) -> _Finding | None:
    for step in steps:
        if not _may_run(step.text):
            continue
        for match in _RUN_RE.finditer(step.text):
            unit = match.group(1)
            if unit.isspace():  # padding or alignment, not generated content
                continue
            times = (match.end() - match.start()) // len(unit)
            message = (
                f"step {step.index + 1}: {_short(unit)!r} repeats {times} times in a row "
                "(runaway repetition)"
            )
            return _Finding(
                W_REPETITION, Evidence(message=message, step_index=step.index, span=match.span())
            )
    return None


def _repeated_line(steps: Sequence[Step]) -> _Finding | None:
    counts = Counter(s.text for s in steps if len(s.text) >= _MIN_LINE_CHARS)
    looping = {line for line, n in counts.items() if n >= _LINE_REPEATS}
    seen: set[str] = set()
    for step in steps:
        if step.text not in looping:
            continue
        if step.text in seen:  # anchor on the first repeat: where the loop begins
            message = (
                f"step {step.index + 1}: the line {_short(step.text)!r} occurs "
                f"{counts[step.text]} times (runaway repetition)"
            )
            span = (0, len(step.text))
            return _Finding(
                W_REPETITION, Evidence(message=message, step_index=step.index, span=span)
            )
        seen.add(step.text)
    return None


def _repeated_ngram(steps: Sequence[Step]) -> _Finding | None:
    words: list[str] = []
    owner: list[int] = []
    for step in steps:
        split = step.text.split()
        words.extend(split)
        owner.extend([step.index] * len(split))
    if len(words) < _NGRAM + _NGRAM_REPEATS - 1:
        return None
    # A phrase that occurs n times holds only words that occur n times or more, so only the
    # windows made of such words can repeat: the others need not be collected at all.
    frequent = {w for w, n in Counter(words).items() if n >= _NGRAM_REPEATS}
    if len(frequent) == 0:
        return None
    positions: dict[tuple[str, ...], list[int]] = {}
    rare_until = -1  # the last position of a rare word seen so far
    for i, word in enumerate(words):
        if word not in frequent:
            rare_until = i
        start = i - _NGRAM + 1
        if start >= 0 and rare_until < start:
            positions.setdefault(tuple(words[start : i + 1]), []).append(start)
    repeats = [p for p in positions.values() if len(p) >= _NGRAM_REPEATS]
    if not repeats:
        return None
    where = min(repeats, key=lambda p: p[1])
    phrase = " ".join(words[where[0] : where[0] + _NGRAM])
    index = owner[where[1]]
    message = (
        f"step {index + 1}: the phrase {_short(phrase, 60)!r} occurs {len(where)} times "
        "(runaway repetition)"
    )
    return _Finding(W_REPETITION, Evidence(message=message, step_index=index))


def _check_repetition(parsed: ParsedSolution) -> list[_Finding]:
    """At most one finding, the earliest: one loop is one fault, however it shows."""
    found = [
        f
        for f in (
            _repeated_unit(parsed.steps),
            _repeated_line(parsed.steps),
            _repeated_ngram(parsed.steps),
        )
        if f is not None
    ]
    if not found:
        return []
    return [min(found, key=lambda f: f.evidence.step_index or 0)]


def check_steps(text: str) -> CheckResult:
    """Verify a solution's arithmetic, final answer and sanity; see the module docstring."""
    return check_parsed(parse_solution(text))


def check_parsed(parsed: ParsedSolution) -> CheckResult:
    """``check_steps`` on a solution already parsed (the worker parses each output once)."""
    findings: list[_Finding] = []
    budget = MAX_ANNOTATIONS
    for step in parsed.steps:
        for ann in step.annotations:
            if budget == 0:
                break
            budget -= 1
            findings.extend(_check_annotation(step, ann))
            findings.extend(_check_stated(step, ann))
    findings.extend(_check_final(parsed))
    findings.extend(_check_answer_follows(parsed))
    findings.extend(_check_repetition(parsed))

    score = max((f.weight for f in findings), default=0.0)
    flagged = score >= FLAG_AT
    faulty = [
        f.evidence.step_index
        for f in findings
        if f.weight >= FLAG_AT and f.evidence.step_index is not None
    ]
    # Keep the strongest findings, then show them in reading order.
    kept = sorted(findings, key=lambda f: -f.weight)[:MAX_EVIDENCE]
    kept.sort(key=lambda f: (f.evidence.step_index is None, f.evidence.step_index or 0))
    return CheckResult(
        check=CHECK_NAME,
        score=score,
        flagged=flagged,
        evidence=[f.evidence for f in kept],
        first_faulty_step=min(faulty) if faulty else None,
    )


class StepVerificationCheck(BaseCheck):
    name = CHECK_NAME

    def check(self, item: CheckInput) -> CheckResult:
        return check_parsed(item.parsed)
