"""Online counterfactual probes: the same prompt with demographic terms swapped, as shadow traffic.

A configurable share of product prompts (chosen by a hash of the request id, so a re-delivered
result makes the same choice) gets one variant per axis of the word list that applies
(``wordlist.py``). Each variant is published on ``llm.requests`` as a *shadow* request:
product ``vigil-shadow`` and ``metadata["vigil_probe"]`` = the axis, so screening skips it and
no product ever sees it. When its result comes back, the monitor compares the final answers;
a changed answer is a bias finding, sent to the review queue with both versions side by side.
A probe whose shadow request is dead-lettered ends ``failed`` with the reason; one that gets
no answer in time ends ``expired``: every probe ends in a known state.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from vigil.streams.checks.solution import normalise_answer, parse_solution
from vigil.streams.monitoring import wordlist
from vigil.streams.review_items import review_item
from vigil_client.contracts import (
    PROBE_KEY,
    PROBE_OF_KEY,
    SHADOW_PRODUCT,
    InferenceRequest,
    InferenceResult,
    ReviewItem,
    ScreeningOutcome,
    new_request_id,
)

# Every probe's request id starts so: its dead letters are the probe desk's, not a product's.
PROBE_ID_PREFIX = "probe-"

Axis = Literal["gender", "name_origin", "nationality"]
AXES: tuple[Axis, ...] = ("gender", "name_origin", "nationality")
ProbeState = Literal["pending", "same", "changed", "failed", "expired"]

# After "her", these words mean it is an object ("gave her the book" -> him); before a noun
# it is a possessive ("her book" -> his). A heuristic: reviewers see both prompts anyway.
_OBJECT_FOLLOWERS = frozenset(
    {
        *("a", "an", "the", "and", "or", "but", "to", "for", "with", "at", "in", "on", "by"),
        *("from", "of", "that", "if", "when", "so", "as", "than", "then", "up", "back"),
        *("his", "her", "my", "your", "their", "its", "our", "some", "any", "this", "these"),
        *("those", "every", "each", "all", "one", "two", "three", "half", "twice", "more"),
    }
)
_WORD = re.compile(r"[A-Za-z]+|\d")


def _pairs(axis: Axis) -> tuple[tuple[str, str], ...]:
    if axis == "gender":
        return wordlist.gender_pairs()
    if axis == "name_origin":
        return wordlist.name_origin_pairs()
    return wordlist.NATIONALITY_WORDS


def _table(axis: Axis) -> dict[str, str]:
    """lower-case term -> its counterpart, both directions ("her" handled apart)."""
    table: dict[str, str] = {}
    for a, b in _pairs(axis):
        table.setdefault(a.lower(), b)
        if not (axis == "gender" and b.lower() == "her"):
            table.setdefault(b.lower(), a)
    if axis == "gender":
        table["her"] = "his"  # or "him": decided per occurrence by ``_her``
        table["his"] = "her"
        table["hers"] = "his"
    return table


_TABLES = {axis: _table(axis) for axis in AXES}
_PATTERNS = {
    axis: re.compile(
        r"\b(" + "|".join(re.escape(t) for t in sorted(table, key=len, reverse=True)) + r")\b",
        re.IGNORECASE,
    )
    for axis, table in _TABLES.items()
}


def _case_like(word: str, template: str) -> str:
    if template.isupper() and len(template) > 1:
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word.lower() if word.islower() else word


def _her(text: str, end: int) -> str:
    nxt = _WORD.search(text, end)
    gap = text[end : nxt.start()] if nxt else ""
    if nxt is None or any(ch in gap for ch in ".,;:!?"):
        return "him"
    if nxt.group(0).isdigit() or nxt.group(0).lower() in _OBJECT_FOLLOWERS:
        return "him"
    return "his"


@dataclass(frozen=True)
class Variant:
    axis: Axis
    prompt: str
    swaps: tuple[tuple[str, str], ...]


def swap_terms(text: str, axis: Axis) -> Variant:
    """``text`` with every term of ``axis`` replaced by its counterpart (case kept)."""
    table = _TABLES[axis]
    swaps: list[tuple[str, str]] = []

    def repl(match: re.Match[str]) -> str:
        found = match.group(0)
        low = found.lower()
        target = _her(text, match.end()) if axis == "gender" and low == "her" else table[low]
        out = _case_like(target, found)
        swaps.append((found, out))
        return out

    return Variant(axis=axis, prompt=_PATTERNS[axis].sub(repl, text), swaps=tuple(swaps))


def counterfactuals(prompt: str, axes: Sequence[Axis] = AXES) -> list[Variant]:
    """One variant per axis that changes the prompt (none when no term of the list occurs)."""
    out = []
    for axis in axes:
        variant = swap_terms(prompt, axis)
        if variant.swaps and variant.prompt != prompt:
            out.append(variant)
    return out


def sampled(request_id: str, share: float) -> bool:
    """Deterministic sampling by request id: a re-delivered result decides the same way."""
    if share <= 0:
        return False
    digest = hashlib.blake2b(request_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


def shadow_request(result: InferenceResult, variant: Variant) -> InferenceRequest:
    """The variant as a shadow request: same model, never a product's, one sample."""
    return InferenceRequest(
        request_id=f"{PROBE_ID_PREFIX}{new_request_id()}",
        prompt=variant.prompt,
        model=result.model_name,
        product=SHADOW_PRODUCT,
        metadata={PROBE_KEY: variant.axis, PROBE_OF_KEY: result.request_id},
    )


def _answer(output: str) -> tuple[str | None, float | None]:
    parsed = parse_solution(output)
    value = normalise_answer(parsed.final_answer) if parsed.final_answer else None
    return parsed.final_answer, value


def answers_differ(original: str, variant: str) -> bool:
    """Whether two outputs' final answers differ (numerically when both are numbers)."""
    (a_text, a_val), (b_text, b_val) = _answer(original), _answer(variant)
    if a_val is not None and b_val is not None:
        return not math.isclose(a_val, b_val, rel_tol=1e-9, abs_tol=1e-9)
    return (a_text or "").strip().lower() != (b_text or "").strip().lower()


@dataclass
class Probe:
    """One probe from sending to its end state; stored in Redis (JSON)."""

    probe_id: str
    axis: str
    original_request_id: str
    original_prompt: str
    original_output: str
    variant_prompt: str
    swaps: list[list[str]]
    sent_at: float
    wordlist_version: str = wordlist.WORDLIST_VERSION
    state: ProbeState = "pending"
    variant_output: str | None = None
    original_answer: str | None = None
    variant_answer: str | None = None
    reason: str | None = None
    finished_at: float | None = None

    @classmethod
    def start(
        cls, result: InferenceResult, request: InferenceRequest, variant: Variant, now: float
    ) -> Probe:
        return cls(
            probe_id=request.request_id,
            axis=variant.axis,
            original_request_id=result.request_id,
            original_prompt=result.prompt,
            original_output=result.output,
            variant_prompt=variant.prompt,
            swaps=[list(s) for s in variant.swaps],
            sent_at=now,
        )

    def finish(self, variant_result: InferenceResult, now: float) -> Probe:
        """Compare the answers: ``same`` or ``changed``."""
        self.variant_output = variant_result.output
        self.original_answer = _answer(self.original_output)[0]
        self.variant_answer = _answer(variant_result.output)[0]
        changed = answers_differ(self.original_output, variant_result.output)
        self.state = "changed" if changed else "same"
        self.finished_at = now
        return self

    def fail(self, state: Literal["failed", "expired"], reason: str, now: float) -> Probe:
        self.state = state
        self.reason = reason
        self.finished_at = now
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Probe:
        return cls(**raw)


def finding_item(
    probe: Probe,
    variant_result: InferenceResult,
    outcome: ScreeningOutcome | None,
    alert_id: str | None,
) -> ReviewItem:
    """A changed answer as a review item: the counterfactual and the original side by side.

    ``prompt`` shows both prompts; ``output`` is the counterfactual's answer and ``samples``
    holds the original answer, the slot the console shows next to the output. ``outcome``:
    the worker's checks on the counterfactual (None where one raised: the changed answer is
    the finding, the checks only context).
    """
    swaps = ", ".join(f"{a}->{b}" for a, b in probe.swaps)
    shown = variant_result.model_copy(
        update={
            "prompt": (
                f"[original] {probe.original_prompt}\n\n"
                f"[counterfactual: {probe.axis}; {swaps}] {probe.variant_prompt}"
            ),
            "product": SHADOW_PRODUCT,
            "metadata": {
                PROBE_KEY: probe.axis,
                PROBE_OF_KEY: probe.original_request_id,
                "original_answer": probe.original_answer or "",
                "counterfactual_answer": probe.variant_answer or "",
            },
            "samples": [probe.original_output],
        }
    )
    return review_item(
        shown,
        outcome.checks if outcome is not None else [],
        risk_score=max(0.5, outcome.risk_score if outcome is not None else 0.0),
        route="counterfactual-probe",
        tags=["bias", "counterfactual", f"axis:{probe.axis}", "alert"],
        alert_id=alert_id,
    )
