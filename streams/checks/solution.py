"""Parse a model's step-by-step solution into steps, calculator annotations and a final answer.

The GSM8K format: one step a line, calculator annotations ``<<expr=result>>`` inside steps
(``16 - 3 = <<16-3=13>>13``), and a last line ``A: <answer>`` (model outputs) or
``#### <answer>`` (the human solutions of ``train.jsonl``). The answer line is not a step.

Everything is kept as written (strings), so a reviewer sees what the model wrote; the
checks parse numbers themselves and decide what a failure to parse means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vigil.streams.checks.arithmetic import evaluate, parse_number
from vigil.streams.checks.exceptions import ArithmeticParseError

__all__ = [
    "Annotation",
    "ParsedSolution",
    "Step",
    "final_answer",
    "normalise_answer",
    "parse_solution",
    "stated_expression",
]

_ANSWER_RE = re.compile(r"(?:A:|####)\s*(?P<answer>.*?)\s*")
_ANSWER_MARKERS = ("A:", "####")
# No ``<``, ``>`` or newline inside: a cut-off ``<<41.472+8.`` never swallows later text.
_ANNOTATION_RE = re.compile(r"<<(?P<body>[^<>\n]*)>>")
# The number a model writes right after ``>>``: optional currency and sign, thousands
# separators, decimals (a sentence's closing ``.`` is not one), a fraction, a percent sign.
_WRITTEN_RE = re.compile(
    r"[$€£]?-?[$€£]?(?:(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)"
    r"(?:[eE][-+]?\d+)?(?:/\d+(?:\.\d+)?)?%?"
)
_FRACTION_RE = re.compile(r"\s*-?\d+(?:\.\d+)?\s*/\s*\d+(?:\.\d+)?\s*")
# What the arithmetic a model writes before ``= <<`` may consist of; a letter ends it, so
# ``4 feet * 2 = <<4*2=8>>`` yields only ``2``, which is not an expression and is skipped.
_STATED_CHARS = frozenset("0123456789 .,+-*/\u00d7\u00f7xX()$€£%^")
_STATED_START = frozenset("0123456789.($€£-")
_STATED_WINDOW = 120
_OPERATOR_RE = re.compile(r"[\d.)%]\s*[-+*/\u00d7\u00f7xX^]\s*[-(.$€£\d]")


@dataclass(frozen=True, slots=True)
class Annotation:
    """One ``<<expr=claimed>>`` calculator annotation inside a step.

    ``expr`` is everything before the last ``=`` (a chain ``<<A+4=4+4=8>>`` keeps
    ``A+4=4+4``); ``claimed`` is the text after it, ``None`` when there is no ``=`` at all.
    ``written`` is the number written right after ``>>`` (``None`` if none), and ``span``
    the ``<<...>>`` characters within the step's text.
    """

    expr: str
    claimed: str | None
    written: str | None
    span: tuple[int, int]


@dataclass(frozen=True, slots=True)
class Step:
    """One non-empty line of reasoning; ``index`` counts steps from 0."""

    index: int
    text: str
    annotations: tuple[Annotation, ...]


@dataclass(frozen=True, slots=True)
class ParsedSolution:
    """The steps, the final answer as written (``None`` if absent) and its numeric value."""

    steps: tuple[Step, ...]
    final_answer: str | None
    final_value: float | None


def _annotations(line: str) -> tuple[Annotation, ...]:
    if "<<" not in line:
        return ()
    found = []
    for match in _ANNOTATION_RE.finditer(line):
        body = match.group("body")
        expr, eq, claimed = body.rpartition("=")
        if not eq:
            expr, claimed_text = body, None
        else:
            claimed_text = claimed
        written = _WRITTEN_RE.match(line, match.end())
        found.append(
            Annotation(
                expr=expr.strip(),
                claimed=claimed_text.strip() if claimed_text is not None else None,
                written=written.group(0) if written else None,
                span=match.span(),
            )
        )
    return tuple(found)


def _answer_of(line: str) -> str | None:
    """The answer on an ``A:`` / ``####`` line (already stripped), else ``None``."""
    if not line.startswith(_ANSWER_MARKERS):
        return None
    match = _ANSWER_RE.fullmatch(line)
    return match.group("answer") if match else None


def stated_expression(line: str, start: int) -> str | None:
    """The arithmetic written right before ``= <<`` at ``start``, e.g. ``16 - 3`` in
    ``16 - 3 = <<16-3=13>>13``; ``None`` when the text there is not a written expression.

    Only a run of digits, operators, separators and currency signs counts, so prose around
    it ends it; a run that starts on an operator is a fragment and gives ``None``. Bounded
    to a short window so a runaway line costs nothing.
    """
    i = start - 1
    while i >= 0 and line[i] in " $€£":
        i -= 1
    if i < 0 or line[i] != "=":
        return None
    end = i
    low = max(0, end - _STATED_WINDOW)
    i -= 1
    while i >= low and line[i] in _STATED_CHARS:
        i -= 1
    if i < low and low > 0:
        return None  # ran into the window: cut, so not trustworthy
    candidate = line[i + 1 : end].strip()
    if candidate[:1] == "." and not candidate[1:2].isdigit():
        candidate = candidate[1:].lstrip()  # a sentence's full stop, not a decimal point
    # Starting on an operator (``4 hours * 1/2``, ``cost - 5``) means prose holds the left
    # operand: the run is only part of the expression, so there is nothing to compare.
    if (
        not candidate
        or candidate[0] not in _STATED_START
        or (candidate[0] == "-" and candidate[1:2].isspace())
        or not _OPERATOR_RE.search(candidate)
    ):
        return None
    return candidate


def parse_solution(text: str) -> ParsedSolution:
    """Split a solution into steps (non-empty lines) and its final answer line.

    Lines are stripped, so spans are relative to the stripped line (``Step.text``). When
    several answer lines occur the last one wins; an answer line with nothing after the
    marker counts as no answer.
    """
    steps: list[Step] = []
    answer: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        found = _answer_of(line)
        if found is not None:
            answer = found or None
            continue
        steps.append(Step(index=len(steps), text=line, annotations=_annotations(line)))
    value = normalise_answer(answer) if answer is not None else None
    return ParsedSolution(steps=tuple(steps), final_answer=answer, final_value=value)


def final_answer(text: str) -> str | None:
    """The final answer as written (``A: 90,000`` gives ``"90,000"``), ``None`` if absent."""
    for raw in reversed(text.splitlines()):
        found = _answer_of(raw.strip())
        if found is not None:
            return found or None
    return None


def normalise_answer(ans: str) -> float | None:
    """The numeric value of a written answer, ``None`` when it is not a plain number.

    Handles ``90,000``, ``$5``, ``5.00``, ``-4``, a trailing sentence period (``5.``) and
    a trailing ``%`` (``25%`` is 25: answers are compared in the unit the question asks
    for), and a simple fraction ``1/2``. Anything else (units, words, two numbers) is
    ``None`` on purpose: an answer a machine cannot read is itself worth a look.
    """
    text = ans.strip().rstrip(".").rstrip()
    if text.endswith("%"):
        text = text[:-1]
    try:
        return parse_number(text)
    except ArithmeticParseError:
        pass
    if _FRACTION_RE.fullmatch(text):
        try:
            return evaluate(text)
        except ArithmeticParseError:
            return None
    return None
