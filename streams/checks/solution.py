"""Parse a model's solution into steps, calculator annotations and a final answer.

Any format models write: one step a line (a sentence, a list item, a Markdown heading, a
LaTeX block ``\\[ ... \\]``: every non-empty line a model writes is a step, so step
indices match what a reader, a reviewer and ProcessBench's labels count), GSM8K's calculator
annotations ``<<expr=result>>`` inside steps where a model writes them, and the final answer
wherever the model put it (``answer.py``: ``\\boxed{}``, "The answer is", ``A:``, ``####``,
a bold line, else the closing sentence). Only GSM8K's answer-only lines (``A: 18``,
``#### 18``) are not steps.

Everything is kept as written (strings), so a reviewer sees what the model wrote; the
checks parse numbers themselves and decide what a failure to parse means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vigil.streams.checks.answer import ANSWER_LINE_RE, StatedAnswer, find_answer
from vigil.streams.checks.answer import normalise_answer as normalise_answer

__all__ = [
    "Annotation",
    "ParsedSolution",
    "Step",
    "final_answer",
    "normalise_answer",
    "parse_solution",
    "stated_expression",
]

_ANSWER_MARKERS = ("A:", "####")
# Bounds the cost of a hostile output: steps past this many are not parsed (real solutions
# hold under 50 lines; a runaway one is flagged on what is kept).
MAX_STEPS = 400
MAX_STEP_CHARS = 4000
# No ``<``, ``>`` or newline inside: a cut-off ``<<41.472+8.`` never swallows later text.
_ANNOTATION_RE = re.compile(r"<<(?P<body>[^<>\n]*)>>")
# The number a model writes right after ``>>``: optional currency and sign, thousands
# separators, decimals (a sentence's closing ``.`` is not one), a fraction, a percent sign.
_WRITTEN_RE = re.compile(
    r"[$€£]?-?[$€£]?(?:(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)"
    r"(?:[eE][-+]?\d+)?(?:/\d+(?:\.\d+)?)?%?"
)
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
    """The steps, the final answer as written (``None`` if absent) and its numeric value, and
    where it was stated (``answer``: how it was found, in which step, at which span).
    ``cut_steps``: lines beyond ``MAX_STEPS`` that were not parsed."""

    steps: tuple[Step, ...]
    final_answer: str | None
    final_value: float | None
    answer: StatedAnswer | None = None
    cut_steps: int = 0


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
    match = ANSWER_LINE_RE.fullmatch(line)
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
    """Split a solution into steps (non-empty lines) and find its final answer.

    Lines are stripped, so spans are relative to the stripped line (``Step.text``). An answer
    line (``A: ...``) with nothing after the marker counts as no answer there.
    """
    steps: list[Step] = []
    answer_lines: list[str] = []
    cut = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        found = _answer_of(line)
        if found is not None:
            if found:
                answer_lines.append(found)
            continue
        if len(steps) >= MAX_STEPS:
            cut += 1
            continue
        line = line[:MAX_STEP_CHARS]
        steps.append(Step(index=len(steps), text=line, annotations=_annotations(line)))
    stated = find_answer([s.text for s in steps], answer_lines)
    if stated is None:
        return ParsedSolution(tuple(steps), None, None, None, cut)
    return ParsedSolution(tuple(steps), stated.text, stated.value, stated, cut)


def final_answer(text: str) -> str | None:
    """The final answer as written (``A: 90,000`` gives ``"90,000"``), ``None`` if absent."""
    return parse_solution(text).final_answer
