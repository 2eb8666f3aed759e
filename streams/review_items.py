"""Every review item is built here: the screening worker's (``streams/triage.py``), and the
monitor's alert samples and counterfactual probe findings (``streams/monitoring/``).

One builder, so that no path can leave out what the console relies on; above all the masked
copies of the text. ``redacted_prompt`` / ``redacted_output`` are the prompt and output with
each personal-data span that the PII recognizers find (``streams/checks/pii.py``) replaced
by ``<ENTITY>``; roles outside ``VIGIL_CONSOLE_PII_ROLES`` are shown those (and no samples,
which are not masked). None means nothing was found: the console shows the text itself.

The text is scanned whether or not the ``pii_leakage`` check is enabled for routing. Where
the check ran on this very result its findings are reused (``pii``), so the worker's hot
path never scans a text twice.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime

from vigil.streams.checks.localise import first_faulty_step
from vigil.streams.checks.pii import PiiReport, PiiScanner, redact
from vigil.streams.checks.solution import ParsedSolution, parse_solution
from vigil_client.contracts import CheckResult, InferenceResult, ReviewItem

__all__ = ["masked", "review_item"]


@functools.cache
def _scanner() -> PiiScanner:
    # One per process, built when first needed: the recognizers take a second or more to load.
    return PiiScanner()


def masked(prompt: str, output: str) -> tuple[str | None, str | None]:
    """The prompt and output with their personal data masked; None for a text with none."""
    scanner = _scanner()
    in_prompt, in_output = scanner.find(prompt), scanner.find(output)
    return (
        redact(prompt, in_prompt) if in_prompt else None,
        redact(output, in_output) if in_output else None,
    )


def review_item(
    result: InferenceResult,
    checks: Sequence[CheckResult],
    *,
    risk_score: float,
    route: str | None,
    tags: Sequence[str],
    parsed: ParsedSolution | None = None,
    pii: PiiReport | None = None,
    alert_id: str | None = None,
    hold_for_review: bool = False,
    sla_deadline: datetime | None = None,
    reviews_required: int = 1,
) -> ReviewItem:
    """The item a reviewer sees for ``result`` (prompt, output and samples as given there).

    ``parsed``: the output's parse, when the caller has it. ``pii``: the PII check's report on
    this result's prompt and output, when the check ran on them (else they are scanned here).
    """
    solution = parsed if parsed is not None else parse_solution(result.output)
    if pii is not None:
        redacted_prompt, redacted_output = pii.redacted_prompt, pii.redacted_output
    else:
        redacted_prompt, redacted_output = masked(result.prompt, result.output)
    return ReviewItem(
        request_id=result.request_id,
        prompt=result.prompt,
        output=result.output,
        steps=[s.text for s in solution.steps],
        final_answer=solution.final_answer,
        model_name=result.model_name,
        model_version=result.model_version,
        risk_score=round(min(1.0, risk_score), 6),
        checks=list(checks),
        first_faulty_step=first_faulty_step(checks),
        product=result.product,
        tenant=result.tenant,
        metadata=result.metadata,
        hold_for_review=hold_for_review,
        samples=result.samples,
        redacted_prompt=redacted_prompt,
        redacted_output=redacted_output,
        route=route,
        tags=list(tags),
        alert_id=alert_id,
        sla_deadline=sla_deadline,
        reviews_required=reviews_required,
    )
