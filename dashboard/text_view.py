"""What of an item a user is shown, and how evidence is anchored on a step: pure functions.

Everything returned here is model, prompt or check text: the pages show it with ``st.text``
or ``st.code`` only (verbatim), never with a Markdown-rendering element.

Personal data: a review item carries ``redacted_prompt`` / ``redacted_output`` when the PII
check masked something. A role that may not see PII gets those, with the steps and answer
taken from the redacted output line by line, and no samples (they are not redacted).
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil_client.contracts import CheckResult, Evidence, ReviewItem

REDACTED_ANSWER = "<REDACTED>"


@dataclass(frozen=True)
class ShownItem:
    prompt: str
    output: str
    steps: list[str]
    final_answer: str | None
    samples: list[str] | None  # None: hidden (they may hold personal data)
    redacted: bool  # True when something was masked for this user
    aligned: bool  # False: the redacted steps could not be matched; show ``output`` whole


def has_pii(item: ReviewItem) -> bool:
    return item.redacted_prompt is not None or item.redacted_output is not None


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _redacted_steps(item: ReviewItem, redacted: str) -> tuple[list[str], str | None] | None:
    """The redacted text of each step and of the answer, or None if the lines don't align.

    Masking replaces values inside a line and never adds or removes a line, so the non-empty
    lines of the output and of its redacted copy pair up; the steps are those output lines
    that equal the item's steps, in order (the others are answer lines).
    """
    original, masked = _lines(item.output), _lines(redacted)
    if len(original) != len(masked):
        return None
    steps: list[str] = []
    answer_line: str | None = None
    for orig, red in zip(original, masked, strict=True):
        if len(steps) < len(item.steps) and orig == item.steps[len(steps)]:
            steps.append(red)
        elif item.final_answer is not None and item.final_answer in orig:
            answer_line = red
    if len(steps) != len(item.steps):
        return None
    answer = item.final_answer
    if answer is not None and (answer_line is None or answer not in answer_line):
        answer = REDACTED_ANSWER
    return steps, answer


def shown_item(item: ReviewItem, may_see_pii: bool) -> ShownItem:
    if may_see_pii or not has_pii(item):
        return ShownItem(
            prompt=item.prompt,
            output=item.output,
            steps=list(item.steps),
            final_answer=item.final_answer,
            samples=list(item.samples),
            redacted=False,
            aligned=True,
        )
    prompt = item.redacted_prompt if item.redacted_prompt is not None else item.prompt
    output = item.redacted_output if item.redacted_output is not None else item.output
    paired = _redacted_steps(item, output) if item.redacted_output is not None else None
    if item.redacted_output is None:
        steps, answer, aligned = list(item.steps), item.final_answer, True
    elif paired is None:
        steps, answer, aligned = [], None, False
    else:
        steps, answer, aligned = paired[0], paired[1], True
    return ShownItem(
        prompt=prompt,
        output=output,
        steps=steps,
        final_answer=answer,
        samples=None,
        redacted=True,
        aligned=aligned,
    )


def evidence_by_step(item: ReviewItem) -> dict[int, list[tuple[CheckResult, Evidence]]]:
    """Each step's evidence, from every check (flagged ones first)."""
    out: dict[int, list[tuple[CheckResult, Evidence]]] = {}
    for check in sorted(item.checks, key=lambda c: not c.flagged):
        for ev in check.evidence:
            if ev.step_index is not None:
                out.setdefault(ev.step_index, []).append((check, ev))
    return out


def anchored(step: str, spans: list[tuple[int, int]]) -> str:
    """The step with a line of carets under each evidence span (for a monospace block).

    Spans outside the step (e.g. computed on a text that was since redacted) are skipped.
    """
    marks = [" "] * len(step)
    for start, end in spans:
        if 0 <= start < end <= len(step):
            for i in range(start, end):
                marks[i] = "^"
    line = "".join(marks).rstrip()
    return f"{step}\n{line}" if line else step


def flag_reason(item: ReviewItem) -> str:
    """The first evidence message, preferring checks that flagged the item."""
    for check in sorted(item.checks, key=lambda c: not c.flagged):  # stable: keeps order
        if check.evidence:
            return f"{check.check}: {check.evidence[0].message}"
    return item.checks[0].check if item.checks else ""


def edited_steps(text: str) -> list[str]:
    """Steps as a reviewer typed them: one a line, blank lines dropped."""
    return _lines(text)
