"""Was the output cut off? Decided from evidence, never from a missing answer marker.

* the result says so: it has as many output tokens as the request allowed (``max_tokens``);
* the text stops mid-expression: on an operator, an ``=``, an open bracket, an unclosed LaTeX
  block (``\\[`` without ``\\]``, ``$$`` or ``\\(`` left open) or calculator annotation
  (``<<`` without ``>>``);
* the text stops mid-sentence (no closing punctuation) and states no answer.

Runaway repetition, the other way an output ends badly, is ``repetition.py``'s finding.
"""

from __future__ import annotations

import re

from vigil.streams.checks.solution import ParsedSolution
from vigil_client.contracts import Evidence

__all__ = ["W_CUT_TEXT", "W_CUT_TOKENS", "cut_off"]

W_CUT_TOKENS = 1.0
W_CUT_TEXT = 0.8
_OPEN_ENDINGS = (
    "+",
    "-",
    "*",
    "/",
    "=",
    "(",
    "[",
    "{",
    "\u00d7",
    "\u00f7",
    "\\times",
    "\\cdot",
    "\\div",
)
# ``... will be $41.472+$8.``: arithmetic, no ``=`` after it, then the end.
_UNFINISHED_RE = re.compile(r"\d\s*[-+*/]\s*\$?\d[\d.,]*\s*\.?\s*$")
_SENTENCE_ENDS = frozenset(".!?)]}*:;\"'`$|>")


def _open_latex(text: str) -> str | None:
    if text.count("\\[") > text.count("\\]"):
        return "a LaTeX block (\\[ without \\])"
    if text.count("\\(") > text.count("\\)"):
        return "inline LaTeX (\\( without \\))"
    if text.count("$$") % 2:
        return "a LaTeX block ($$ left open)"
    if text.count("<<") > text.count(">>"):
        return "a calculator annotation (<< without >>)"
    return None


def cut_off(
    parsed: ParsedSolution, output_tokens: int | None, max_tokens: int | None
) -> tuple[float, Evidence] | None:
    """The strongest evidence that the output was cut off, with its weight; ``None``."""
    last = parsed.steps[-1] if parsed.steps else None
    where = last.index if last is not None else None
    if output_tokens is not None and max_tokens is not None and output_tokens >= max_tokens:
        message = f"the output reached the request's token limit ({max_tokens}): cut off"
        return W_CUT_TOKENS, Evidence(message=message, step_index=where)
    if last is None or parsed.cut_steps:
        return None
    text = last.text.rstrip()
    tail = text[-200:]
    if text.endswith(_OPEN_ENDINGS):
        message = f"step {last.index + 1} stops mid-expression ({text[-12:]!r}): cut off?"
        return W_CUT_TEXT, Evidence(
            message=message, step_index=where, span=(len(text) - 1, len(text))
        )
    opened = _open_latex(tail)
    if opened is not None:
        message = f"step {last.index + 1} leaves {opened} open: cut off?"
        return W_CUT_TEXT, Evidence(message=message, step_index=where)
    if parsed.answer is None and _UNFINISHED_RE.search(tail):
        message = f"step {last.index + 1} ends on an expression it never works out: cut off?"
        return W_CUT_TEXT, Evidence(message=message, step_index=where)
    if parsed.answer is None and text[-1:] not in _SENTENCE_ENDS and not text[-1:].isdigit():
        message = f"step {last.index + 1} stops mid-sentence and no answer is stated: cut off?"
        return W_CUT_TEXT, Evidence(message=message, step_index=where)
    return None
