"""Checks a decision against its item and completes a correction: original, edit and diff.

Pure functions (no Redis), so they are unit-tested on their own. A correction keeps the
item's original steps and answer next to the edit, plus a unified diff of the two
solutions, so a dataset or an auditor sees exactly what the reviewer changed.
"""

from __future__ import annotations

import difflib
import re

from vigil.reviewers.exceptions import InvalidDecision
from vigil_client.contracts import ReviewDecision, ReviewItem

_SPACE_COMMA_CURRENCY = re.compile(r"[\s,$€£]")
_TRAILING_ZEROS = re.compile(r"^(-?\d+)\.0+$")


def normalise_answer(answer: str | None) -> str:
    """``$1,200.00`` and `` 1200 `` are the same answer (two reviewers agree on it)."""
    if answer is None:
        return ""
    out = _SPACE_COMMA_CURRENCY.sub("", answer).lower().rstrip(".")
    match = _TRAILING_ZEROS.match(out)
    return match.group(1) if match else out


def solution_text(steps: list[str], answer: str | None) -> str:
    """A solution in the GSM8K shape the model writes: one step a line, then ``A: <answer>``."""
    lines = list(steps)
    if answer is not None:
        lines.append(f"A: {answer}")
    return "\n".join(lines)


def correction_diff(item: ReviewItem, steps: list[str], answer: str | None) -> str:
    before = solution_text(item.steps, item.final_answer).splitlines()
    after = solution_text(steps, answer).splitlines()
    return "\n".join(difflib.unified_diff(before, after, "original", "corrected", lineterm="", n=1))


def _fail(item: ReviewItem, why: str) -> InvalidDecision:
    return InvalidDecision(f"cannot decide {item.request_id!r}: {why}", request_id=item.request_id)


def agreement_label(decision: ReviewDecision) -> str:
    """What two verdicts must share to agree: the kind, and for a correction the answer."""
    if decision.decision == "correct":
        answer = decision.corrected_answer
        if answer is None and decision.corrected_steps:
            answer = decision.corrected_steps[-1]
        return f"correct:{normalise_answer(answer)}"
    return decision.decision


def prepare(item: ReviewItem, decision: ReviewDecision) -> ReviewDecision:
    """The decision as it will be stored, or ``InvalidDecision`` saying what is wrong.

    Fields only the queue may set (the original, the diff) are overwritten, never trusted.
    """
    if decision.request_id != item.request_id:
        raise _fail(item, f"the decision is for {decision.request_id!r}")
    kind = decision.decision
    wrong = decision.first_wrong_step
    if wrong is not None and wrong >= len(item.steps):
        raise _fail(item, f"step {wrong + 1} does not exist (the item has {len(item.steps)} steps)")
    if kind == "escalate" and not (decision.reason or "").strip():
        raise _fail(item, "an escalation needs a reason")
    if kind == "comment" and not (decision.comment or "").strip():
        raise _fail(item, "a comment needs its text")
    update: dict[str, object] = {"original_steps": None, "original_answer": None, "diff": None}
    if kind != "correct":
        update |= {"corrected_answer": None, "corrected_steps": None}
        return decision.model_copy(update=update)

    answer = decision.corrected_answer.strip() if decision.corrected_answer is not None else None
    steps = None
    if decision.corrected_steps is not None:
        steps = [s.strip() for s in decision.corrected_steps]
        if not steps or not all(steps):
            raise _fail(item, "edited steps must be a non-empty list of non-empty steps")
    if answer is None and steps is None:
        raise _fail(item, "a correction needs the corrected final answer or the edited steps")
    if answer == "":
        raise _fail(item, "a correction needs the corrected final answer")
    new_steps = steps if steps is not None else list(item.steps)
    new_answer = answer if answer is not None else item.final_answer
    if new_steps == item.steps and normalise_answer(new_answer) == normalise_answer(
        item.final_answer
    ):
        raise _fail(item, "the correction changes nothing (same steps and answer)")
    update |= {
        "corrected_answer": answer,
        "corrected_steps": steps,
        "original_steps": list(item.steps),
        "original_answer": item.final_answer,
        "diff": correction_diff(item, new_steps, new_answer),
    }
    return decision.model_copy(update=update)
