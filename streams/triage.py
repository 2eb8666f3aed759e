"""The broker-free seam of screening: one result in, its outcome (and review item) out.

Pure logic, so it is unit-tested without Kafka and replayed offline over GSM8K; the Faust
agent in ``streams/screening.py`` only moves bytes around it.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.checks.solution import parse_solution
from streams.checks.steps import check_steps
from vigil.contracts import CheckResult, InferenceResult, ReviewItem, ScreeningOutcome


@dataclass(frozen=True)
class Triage:
    outcome: ScreeningOutcome
    item: ReviewItem | None


def run_checks(result: InferenceResult) -> list[CheckResult]:
    return [check_steps(result.output)]


def risk_score(checks: list[CheckResult]) -> float:
    """Noisy-OR of the flagged checks' scores: any strong signal makes the item risky."""
    safe = 1.0
    for c in checks:
        if c.flagged:
            safe *= 1.0 - c.score
    return round(1.0 - safe, 6)


def triage(result: InferenceResult) -> Triage:
    checks = run_checks(result)
    flagged = any(c.flagged for c in checks) or result.hold_for_review
    risk = risk_score(checks)
    outcome = ScreeningOutcome(
        request_id=result.request_id,
        verdict="queued" if flagged else "clean",
        risk_score=risk,
        checks=checks,
    )
    if not flagged:
        return Triage(outcome, None)
    parsed = parse_solution(result.output)
    faulty = [c.first_faulty_step for c in checks if c.first_faulty_step is not None]
    item = ReviewItem(
        request_id=result.request_id,
        prompt=result.prompt,
        output=result.output,
        steps=[s.text for s in parsed.steps],
        final_answer=parsed.final_answer,
        model_name=result.model_name,
        model_version=result.model_version,
        risk_score=risk,
        checks=checks,
        first_faulty_step=min(faulty) if faulty else None,
        product=result.product,
        tenant=result.tenant,
        metadata=result.metadata,
        hold_for_review=result.hold_for_review,
        samples=result.samples,
        tags=[c.check for c in checks if c.flagged] or ["hold_for_review"],
    )
    return Triage(outcome, item)
