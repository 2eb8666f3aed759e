"""GSM8K's calculator annotations, ``<<expr=result>>``, checked where a model writes them.

Faults, each with its weight:

* 1.0: an annotation's arithmetic is wrong (``<<2*3=7>>``);
* 1.0: the number written after ``>>`` differs from the annotation's result, the real
  GSM8K fault ``130,000*.15 = $<<130000*.15=19500.0>>195,000``;
* 0.8: the arithmetic written in the text before the annotation computes something else
  than the annotation (``195,000*.05 = $<<19500*.05=975.0>>``): the model copied a number
  wrong;
* 0.6: a fractional value written as a whole number (``<<5/3=1.6666666666666667>>1``):
  sometimes deliberate, but none of the 7,473 human GSM8K solutions does it while the
  model outputs that do are mostly wrong, so it is flagged (for a lighter review);
* 0.2: an annotation that cannot be evaluated (``<<x+56=86>>``, ``<<2:15+2:38=...>>``):
  models write odd text there, so it is noted but never flags on its own.
"""

from __future__ import annotations

import math
import re

from vigil.streams.checks.arithmetic import evaluate, parse_number
from vigil.streams.checks.exceptions import ArithmeticParseError
from vigil.streams.checks.findings import Finding, fmt, short
from vigil.streams.checks.solution import Annotation, Step, stated_expression
from vigil_client.contracts import Evidence

__all__ = ["W_WRONG", "agrees", "check_annotation", "number", "rounded"]

W_WRONG = 1.0
W_TEXT_EXPR = 0.8
W_ROUNDED = 0.6
W_UNCHECKABLE = 0.2
_REL_TOL = 1e-6
# Text arithmetic with decimals is often a rounded copy of the annotation's (0.33*3 for
# 1/3*3); with whole numbers only, it must match exactly.
_STATED_ROUNDED_TOL = 0.01
_SPACING_RE = re.compile(r"[\s$€£]|(?<=\d),(?=\d{3})")


def _decimals(raw: str) -> int | None:
    """Decimal places a written number shows; ``None`` for exponent form (treated as exact)."""
    if "e" in raw.lower():
        return None
    _, dot, tail = raw.partition(".")
    return len(tail.rstrip("%")) if dot else 0


def agrees(true: float, shown: float, raw: str) -> bool:
    """``shown`` (written as ``raw``) equals ``true`` up to float noise or its own precision.

    ``0.33`` for 1/3 and ``0.66`` for 2/3 agree (rounded or cut at two decimals); whole
    numbers get no such slack here (see ``_rounded``).
    """
    if math.isclose(true, shown, rel_tol=_REL_TOL, abs_tol=1e-9):
        return True
    places = _decimals(raw)
    return bool(places) and abs(true - shown) < 10.0 ** -(places or 0) + 1e-12


def rounded(true: float, shown: float, raw: str) -> bool:
    """A whole number written for a fractional value within one: rounded or cut."""
    return _decimals(raw) == 0 and not true.is_integer() and abs(true - shown) < 1


def number(raw: str | None) -> float | None:
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
    return agrees(value, written, raw) or (raw.endswith("%") and agrees(value, written / 100, raw))


def _check_annotation(step: Step, ann: Annotation) -> list[Finding]:
    where = f"step {step.index + 1}"

    def finding(weight: float, message: str) -> Finding:
        return Finding(weight, Evidence(message=message, step_index=step.index, span=ann.span))

    shown = step.text[ann.span[0] : ann.span[1]]
    claimed = number(ann.claimed)
    if claimed is None or ann.claimed is None:
        return [finding(W_UNCHECKABLE, f"{where}: cannot read the result of {short(shown)}")]
    # A chain ``<<3*A=9*A=9*8=72>>``: every part that is plain arithmetic must equal 72.
    values: list[tuple[str, float]] = []
    problem = ""
    for part in ann.expr.split("="):
        try:
            values.append((part.strip(), evaluate(part)))
        except ArithmeticParseError as exc:
            problem = problem or str(exc)
    if not values:
        out = [finding(W_UNCHECKABLE, f"{where}: cannot check {short(shown)}: {problem}")]
    else:
        out = []
    expr = short(values[0][0] if values else ann.expr)
    wrong = next(((e, v) for e, v in values if not agrees(v, claimed, ann.claimed)), None)
    if wrong is not None:
        expr, value = short(wrong[0]), wrong[1]
        if rounded(value, claimed, ann.claimed):
            message = (
                f"{where}: {expr} = {fmt(value)} but the annotation rounds it to {ann.claimed}"
            )
            return [*out, finding(W_ROUNDED, message)]
        message = f"{where}: {expr} = {fmt(value)}, not {short(ann.claimed)}"
        if ann.written is not None:
            message += f" (the text says {short(ann.written)})"
        return [*out, finding(W_WRONG, message)]

    written = number(ann.written)
    if written is None or ann.written is None:
        return out
    if any(_written_agrees(t, written, ann.written) for t in [claimed, *(v for _, v in values)]):
        return out
    if rounded(claimed, written, ann.written):
        message = (
            f"{where}: {expr} = {fmt(claimed)} but the text writes the whole number {ann.written}"
        )
        return [*out, finding(W_ROUNDED, message)]
    message = f"{where}: {expr} = {fmt(claimed)} but the text says {short(ann.written)}"
    if math.isclose(written, -claimed, rel_tol=_REL_TOL):
        message += " (the sign is dropped)"  # ``12-28 = <<12-28=-16>>16``: reversed subtraction
    return [*out, finding(W_WRONG, message)]


def _check_stated(step: Step, ann: Annotation) -> list[Finding]:
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
        value = number(ann.claimed)
        if value is None:
            return []
    tol = _STATED_ROUNDED_TOL if "." in stated else _REL_TOL
    # ``100% - 12% = <<100-12=88>>``: the text works in percent, the annotation in points.
    scales = (1.0, 100.0) if "%" in stated else (1.0,)
    if any(math.isclose(stated_value * k, value, rel_tol=tol, abs_tol=1e-9) for k in scales):
        return []
    message = (
        f"step {step.index + 1}: the text writes {short(stated)} (= {fmt(stated_value)}) "
        f"but the annotation computes {short(ann.expr)} = {fmt(value)}"
    )
    evidence = Evidence(message=message, step_index=step.index, span=ann.span)
    return [Finding(W_TEXT_EXPR, evidence)]


def check_annotation(step: Step, ann: Annotation) -> list[Finding]:
    """Every finding on one annotation: its own arithmetic and the text's around it."""
    return [*_check_annotation(step, ann), *_check_stated(step, ann)]
