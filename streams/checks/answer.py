"""Where a solution states its final answer, in any of the ways models write it.

In order of how explicit the statement is (the most explicit one found wins, the last
occurrence of it when there are several):

1. ``\\boxed{...}`` (or ``\\fbox``), braces balanced: ``\\boxed{\\$1{,}200}``;
2. an answer line: ``A: 18``, ``#### 18`` (GSM8K), ``Answer: 18``, ``**Final answer:** 18``;
3. a phrase: "the answer is 18", "the final answer is: $18", "answer: 18";
4. a bold number in the last steps (``**18 apples**``) or a Markdown heading with one;
5. else the closing sentence: the last number of the last step's last sentence that has one
   (``So James runs 540 meters a week.``), unless it is an operand (``$41.472+$8.``).

``None`` when nothing states one: that is its own finding (an output that reasons and never
concludes), not a truncation, unless the text shows it was cut off (``truncation.py``).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from vigil.streams.checks.numbers import numbers_in, read_number

__all__ = ["ANSWER_LINE_RE", "StatedAnswer", "find_answer", "normalise_answer"]

# A line that only states the answer, GSM8K's ``A: 18`` and ``#### 18``: not a step of the
# reasoning. (``Answer: 18`` and the like stay steps: step indices count every line a model
# writes, and the phrase rule reads them.)
ANSWER_LINE_RE = re.compile(r"(?:A:|####)\s*(?P<answer>.*?)\s*")
_BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_PHRASE_RE = re.compile(
    r"(?:\bthe\s+(?:final\s+|correct\s+)?answer\s+(?:is|would\s+be|will\s+be)\s*:?|"
    r"\bfinal\s+answer\s*(?:is\s*)?:?|\banswer\s*:)\s*(?:\*\*|__)?\s*"
    r"(?P<answer>[^\n.;!?]*(?:\.\d[^\n.;!?]*)*)",
    re.IGNORECASE,
)
_BOLD_RE = re.compile(r"(?:\*\*|__)(?P<answer>[^*_\n]{1,80}?)(?:\*\*|__)")
_HEADING_RE = re.compile(r"^#{1,6}\s+(?P<answer>.*\d.*)$")
# Sentence ends: a full stop not inside a number, ``!``, ``?``, ``;``, or a line break.
_SENTENCE_END_RE = re.compile(r"(?<!\d)\.(?!\d)|[!?;]|\.(?=\s|$)")
# Where a conclusion names its value: "... is 540", "... = 540", "... be 540".
_CONCLUDES_RE = re.compile(r"(?:\bis\b|\bare\b|\bbe\b|=|:|\btotal of\b|\bearns?\b|\bneeds?\b)")


@dataclass(frozen=True, slots=True)
class StatedAnswer:
    """The answer as written, its value (``None`` if not a number), how it was found, and
    where: the step's index (``None`` on an answer line that is not a step) and the span of
    the answer within that step's text."""

    text: str
    value: float | None
    source: str  # boxed | line | phrase | bold | closing
    step_index: int | None
    span: tuple[int, int] | None


def normalise_answer(ans: str) -> float | None:
    """The numeric value of a written answer (``90,000``, ``$5.00``, ``25%`` is 25, ``1/2``,
    ``\\frac{3}{4}``, ``18 apples``), ``None`` when it holds no number."""
    text = ans.strip()
    if not text:
        return None
    return read_number(text)


def _boxed(text: str) -> tuple[str, tuple[int, int]] | None:
    """The contents of the last ``\\boxed{...}`` with balanced braces, and their span."""
    found = None
    for m in _BOXED_RE.finditer(text):
        depth, i = 1, m.end()
        limit = min(len(text), m.end() + 400)
        while i < limit and depth:
            ch = text[i]
            depth += (ch == "{") - (ch == "}")
            i += 1
        if depth == 0:
            found = (text[m.end() : i - 1].strip(), (m.end(), i - 1))
    return found


def _last_number_span(text: str) -> tuple[float, tuple[int, int]] | None:
    found = numbers_in(text)
    return found[-1] if found else None


_CLOSING_WINDOW = 1500
_OPERATORS = frozenset("+-*/×÷^")  # noqa: RUF001 - the signs models write


def _operand(text: str, start: int, end: int) -> bool:
    before = text[:start].rstrip().rstrip("$€£").rstrip()[-1:]
    after = text[end:].lstrip()[:1]
    return (before in _OPERATORS and before != "-") or after in _OPERATORS


def _closing(text: str) -> tuple[str, tuple[int, int]] | None:
    """The value a closing sentence concludes with: after its last ``is`` / ``=`` / ...
    when it has one, else its last number."""
    # The conclusion is at the end: a runaway last step is read from its last characters.
    offset = max(0, len(text) - _CLOSING_WINDOW)
    ends = [offset, *(m.end() for m in _SENTENCE_END_RE.finditer(text, offset)), len(text)]
    for a, b in reversed(list(itertools.pairwise(ends))):
        sentence = text[a:b]
        # A number inside an expression (``$41.472+$8``) is an operand, not a conclusion.
        nums = [n for n in numbers_in(sentence) if not _operand(sentence, *n[1])]
        if not nums:
            continue
        concl = list(_CONCLUDES_RE.finditer(sentence))
        after = [n for n in nums if concl and n[1][0] >= concl[-1].end()]
        _, span = after[0] if after else nums[-1]
        return text[a + span[0] : a + span[1]], (a + span[0], a + span[1])
    return None


def find_answer(steps: list[str], answer_lines: list[str]) -> StatedAnswer | None:
    """The solution's final answer from its steps (stripped lines) and the answer-only lines
    (``A: ...``) taken out of them, most explicit statement first (module docstring)."""
    for index in range(len(steps) - 1, -1, -1):
        boxed = _boxed(steps[index]) if "box" in steps[index] else None
        if boxed is not None and boxed[0]:
            return StatedAnswer(boxed[0], normalise_answer(boxed[0]), "boxed", index, boxed[1])
    for line in reversed(answer_lines):
        boxed = _boxed(line)
        text = boxed[0] if boxed is not None else line
        if text:
            return StatedAnswer(text, normalise_answer(text), "line", None, None)
    tail = range(len(steps) - 1, max(-1, len(steps) - 4), -1)
    for index in tail:
        step = steps[index]
        if "nswer" not in step:
            continue
        matches = [m for m in _PHRASE_RE.finditer(step) if read_number(m.group("answer"))]
        if matches:
            m = matches[-1]
            ans = m.group("answer").strip().rstrip("*_ ").strip()
            return StatedAnswer(ans, normalise_answer(ans), "phrase", index, m.span("answer"))
    for index in tail:
        step = steps[index]
        heading = _HEADING_RE.match(step)
        bold = [m for m in _BOLD_RE.finditer(step) if any(c.isdigit() for c in m.group(1))]
        if bold:
            m = bold[-1]
            ans = m.group("answer").strip()
            return StatedAnswer(ans, normalise_answer(ans), "bold", index, m.span("answer"))
        if heading is not None:
            number = _last_number_span(heading.group("answer"))
            if number is not None:
                start = heading.start("answer")
                span = (start + number[1][0], start + number[1][1])
                ans = step[span[0] : span[1]]
                return StatedAnswer(ans, normalise_answer(ans), "bold", index, span)
    closing = _closing(steps[-1]) if steps else None
    if closing is not None:
        ans, span = closing
        return StatedAnswer(ans, normalise_answer(ans), "closing", len(steps) - 1, span)
    return None
