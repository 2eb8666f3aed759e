"""What a verifier model says about a solution's steps, read into a :class:`Critique`.

Two modes, each a prompt in and a text out, so any model on any adapter can be the verifier:

* **critic**: a generative model reads the question and the numbered steps
  (:func:`render_prompt`, default template ``critic_prompt.txt``, after ProcessBench's critique
  prompt: steps as ``<paragraph_i>`` tags indexed from 0) and answers with the index of the
  earliest wrong step, ``-1`` for none, in ``\\boxed{}``; :func:`parse_critique` reads it.
* **prm**: a process reward model gets the question and steps as JSON (:func:`prm_input`) and
  answers with one score per line, the probability that each step is correct;
  :func:`parse_step_scores` takes the first step under a threshold as the wrong one.

Pure: no I/O. A text the parser cannot read (empty, a refusal, no index, an index past the
steps, a wrong number of scores) raises :class:`CritiqueParseError` saying why; the caller
decides what an unreadable verdict means. Indices are 0-based in the prompt and in the
:class:`Critique`, as in ``parse_solution(output).steps``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from vigil.exceptions import ConfigError
from vigil.streams.exceptions import CritiqueParseError

DEFAULT_TEMPLATE = Path(__file__).with_name("critic_prompt.txt")
# The placeholders a critic template must have.
PLACEHOLDERS = ("{question}", "{steps}")
REASON_CHARS = 300
# PRM mode: a step scored under this is wrong (ProcessBench thresholds PRMs at 0.5 by default).
PRM_THRESHOLD = 0.5


@dataclass(frozen=True)
class Critique:
    """The verifier's verdict. ``first_wrong_step``: 0-based index into the steps, ``None``
    when it found no wrong step; ``reason``: its words, trimmed; ``score``: 0..1, how sure it
    is that the solution is wrong (critic: 1 or 0, it gives no confidence; prm: 1 - the
    lowest step score); ``step_scores``: prm mode's score per step."""

    first_wrong_step: int | None
    reason: str
    score: float
    step_scores: tuple[float, ...] = ()


CritiqueParser = Callable[[str, int], Critique]


def render_prompt(template: str, question: str, steps: Sequence[str]) -> str:
    """The critic prompt: ``{question}`` and ``{steps}`` filled in, each step a tagged
    paragraph indexed from 0. One pass, so a question that contains ``{steps}`` stays as it
    is; other braces (``\\boxed{}``) are the template's own text."""
    missing = [p for p in PLACEHOLDERS if p not in template]
    if missing:
        raise ConfigError(f"the critic prompt template has no {' or '.join(missing)}")
    tagged = "\n\n".join(
        f"<paragraph_{i}>\n{step.strip()}\n</paragraph_{i}>" for i, step in enumerate(steps)
    )
    values = {"{question}": question.strip(), "{steps}": tagged}
    return re.sub(r"\{question\}|\{steps\}", lambda m: values[m.group(0)], template)


def prm_input(question: str, steps: Sequence[str]) -> str:
    """The text a PRM-mode model takes: ``{"question": ..., "steps": [...]}``."""
    return orjson.dumps({"question": question, "steps": [str(s) for s in steps]}).decode()


# --- critic mode -----------------------------------------------------------------------------

_BOXED = re.compile(r"\\boxed\s*\{")
# A refusal, only when the text names no index (a critique may well say "I cannot find an
# error": that is an answer, and its boxed -1 or no-error phrase is read as such).
_REFUSAL = re.compile(
    r"\b(?:I\s*(?:cannot|can't|can\s+not|am\s+unable\s+to|'m\s+unable\s+to|won't)\s+"
    r"(?:help|assist|comply|answer|do\s+that|provide)|I'm\s+sorry|I\s+am\s+sorry|"
    r"as\s+an\s+ai\b)",
    re.IGNORECASE,
)
_NONE_WORDS = re.compile(
    r"^(?:none|null|n/?a|no|no\s+errors?|no\s+mistakes?|not\s+found|correct|all\s+correct)$",
    re.IGNORECASE,
)
_NO_ERROR = re.compile(
    r"\b(?:no\s+(?:errors?|mistakes?)\b|"
    r"(?:cannot|can't|could\s*n[o']t|did\s*n[o']t)\s+find\s+(?:any|an)\s+(?:errors?|mistakes?)|"
    r"(?:all|every|each)\s+(?:of\s+the\s+)?"
    r"(?:paragraphs?|steps?)\s+(?:are|is)\s+correct|(?:solution|answer)\s+is\s+(?:fully\s+)?"
    r"correct|not\s+found)",
    re.IGNORECASE,
)
# Unboxed index statements, strongest first: a stated final answer, then where the error is.
_UNBOXED = (
    re.compile(r"\b(?:final\s+answer|answer|index)\s*(?:is|:|=)\s*\**\s*(-?\d+)\b", re.I),
    re.compile(
        r"\b(?:error|mistake|wrong|incorrect)\w*\b[^.\n]{0,60}?\b(?:paragraph|step)[_\s#]*(-?\d+)",
        re.I,
    ),
    re.compile(
        r"\b(?:paragraph|step)[_\s#]*(-?\d+)\b[^.\n]{0,40}?\b(?:error|mistake|wrong|incorrect)",
        re.I,
    ),
)


def _boxed(text: str) -> tuple[str, int, int] | None:
    """The last ``\\boxed{...}``'s content (nested braces kept) and its span."""
    found = None
    for match in _BOXED.finditer(text):
        depth, i = 1, match.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            found = (text[match.end() : i - 1], match.start(), i)
    return found


def _boxed_index(content: str) -> int:
    inner = re.sub(r"\\text\s*\{([^{}]*)\}", r"\1", content).strip().strip("$ .")
    inner = re.sub(r"^(?:paragraph|step)[_\s#]*", "", inner, flags=re.IGNORECASE)
    # A Unicode minus sign (U+2212) is read as "-".
    inner = inner.replace("\u2212", "-")
    if re.fullmatch(r"-?\s*\d+", inner):
        return int(inner.replace(" ", ""))
    if _NONE_WORDS.match(inner):
        return -1
    raise CritiqueParseError(f"the boxed answer {content.strip()[:40]!r} is not a step index")


def _unboxed_index(text: str) -> int:
    for pattern in _UNBOXED:
        found = pattern.findall(text)
        if found:
            # A stated answer: the last one (a model may correct itself); an error's place:
            # the first named (the earliest).
            return int(found[-1] if pattern is _UNBOXED[0] else found[0])
    if _NO_ERROR.search(text):
        return -1
    raise CritiqueParseError("the critique names no step index (no \\boxed{} answer)")


def _reason(text: str) -> str:
    words = " ".join(text.split())
    if len(words) <= REASON_CHARS:
        return words
    cut = words[: REASON_CHARS - 1].rsplit(" ", 1)[0]
    return cut + "…"


def parse_critique(text: str, n_steps: int) -> Critique:
    """A critic's answer: the last ``\\boxed{}`` index (``-1``/"none": no wrong step), else
    an index stated in words; the rest of the text is the reason."""
    if not text.strip():
        raise CritiqueParseError("the verifier returned an empty text")
    boxed = _boxed(text)
    if boxed is not None:
        content, start, end = boxed
        index = _boxed_index(content)
        rest = text[:start] + text[end:]
    else:
        if _REFUSAL.search(text):
            raise CritiqueParseError(f"the verifier refused: {_reason(text)[:80]!r}")
        index = _unboxed_index(text)
        rest = text
    if index < -1 or index >= n_steps:
        raise CritiqueParseError(
            f"step index {index} is out of range for {n_steps} steps (0..{n_steps - 1}, or -1)"
        )
    wrong = None if index == -1 else index
    return Critique(first_wrong_step=wrong, reason=_reason(rest), score=float(wrong is not None))


# --- prm mode --------------------------------------------------------------------------------


def parse_step_scores(text: str, n_steps: int, threshold: float) -> Critique:
    """A PRM's answer: one score in [0, 1] per line, one line per step; the first step under
    ``threshold`` is the wrong one."""
    if not 0.0 < threshold < 1.0:
        raise ConfigError(f"a PRM threshold is between 0 and 1, not {threshold}")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) != n_steps:
        raise CritiqueParseError(f"{len(lines)} step scores for {n_steps} steps")
    scores = []
    for i, line in enumerate(lines):
        try:
            value = float(line)
        except ValueError:
            raise CritiqueParseError(f"step {i}'s score {line[:40]!r} is not a number") from None
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise CritiqueParseError(f"step {i}'s score {line[:40]!r} is not in [0, 1]")
        scores.append(value)
    wrong = next((i for i, s in enumerate(scores) if s < threshold), None)
    lowest = min(scores, default=1.0)
    if wrong is None:
        reason = f"every step scored at least {threshold:.2f} (lowest {lowest:.2f})"
    else:
        reason = f"step {wrong} scored {scores[wrong]:.2f}, under {threshold:.2f}"
    return Critique(wrong, reason, score=1.0 - lowest, step_scores=tuple(scores))


def prm_parser(threshold: float) -> CritiqueParser:
    """PRM mode's parser at a configured threshold."""

    def parse(text: str, n_steps: int) -> Critique:
        return parse_step_scores(text, n_steps, threshold)

    return parse


# The output parsers by their config name.
PARSERS: dict[str, CritiqueParser] = {
    "critic": parse_critique,
    "prm": prm_parser(PRM_THRESHOLD),
}
