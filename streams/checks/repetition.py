"""Runaway repetition: a model stuck in a loop, in any of three general shapes.

A short unit over and over in a row (``0.3333…`` for a page, ``2727…``); the same line again
and again; the same long run of words recurring (a loop of several lines). The thresholds
are far above what reasoning repeats. One loop is one fault, however it shows: at most one
finding, the earliest.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from vigil.streams.checks.findings import Finding, short
from vigil.streams.checks.solution import ParsedSolution, Step
from vigil_client.contracts import Evidence

__all__ = ["W_REPETITION", "check_repetition"]

W_REPETITION = 0.9
_RUN_RE = re.compile(r"(.{1,10}?)\1{24,}", re.DOTALL)
_RUN_MIN = 25  # occurrences of the unit in a run: the ``{24,}`` above plus the first
_LINE_REPEATS = 3
_MIN_LINE_CHARS = 10
_NGRAM = 8
_NGRAM_REPEATS = 5


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


def _repeated_unit(steps: Sequence[Step]) -> Finding | None:
    for step in steps:
        if not _may_run(step.text):
            continue
        for match in _RUN_RE.finditer(step.text):
            unit = match.group(1)
            if unit.isspace():  # padding or alignment, not generated content
                continue
            times = (match.end() - match.start()) // len(unit)
            message = (
                f"step {step.index + 1}: {short(unit)!r} repeats {times} times in a row "
                "(runaway repetition)"
            )
            return Finding(
                W_REPETITION, Evidence(message=message, step_index=step.index, span=match.span())
            )
    return None


def _repeated_line(steps: Sequence[Step]) -> Finding | None:
    counts = Counter(s.text for s in steps if len(s.text) >= _MIN_LINE_CHARS)
    looping = {line for line, n in counts.items() if n >= _LINE_REPEATS}
    seen: set[str] = set()
    for step in steps:
        if step.text not in looping:
            continue
        if step.text in seen:  # anchor on the first repeat: where the loop begins
            message = (
                f"step {step.index + 1}: the line {short(step.text)!r} occurs "
                f"{counts[step.text]} times (runaway repetition)"
            )
            span = (0, len(step.text))
            return Finding(
                W_REPETITION, Evidence(message=message, step_index=step.index, span=span)
            )
        seen.add(step.text)
    return None


def _repeated_ngram(steps: Sequence[Step]) -> Finding | None:
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
        f"step {index + 1}: the phrase {short(phrase, 60)!r} occurs {len(where)} times "
        "(runaway repetition)"
    )
    return Finding(W_REPETITION, Evidence(message=message, step_index=index))


def check_repetition(parsed: ParsedSolution) -> list[Finding]:
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
