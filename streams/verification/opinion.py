"""A judgement as the ``verifier`` check's result, beside the cheap checks' results.

Marked as a model's opinion in its evidence (the console shows it under the step it names).
A result that could not be verified carries the reason, never nothing: "not verified:
timeout" is a finding about the screening, not about the result, so it adds no risk.
"""

from __future__ import annotations

from vigil.streams.checks.config import VerifierSection
from vigil_client.contracts import CheckResult, Evidence, Judgement
from vigil_client.names import VERIFIER_CHECK

CHECK_NAME = VERIFIER_CHECK
# The evidence's prefix: what the console and the audit read as "a model said so".
OPINION = "model's opinion"


def not_verified(request_id: str, config: VerifierSection, why: str) -> Judgement:
    """The judgement of a result the verifier could not judge, with the reason."""
    return Judgement(
        request_id=request_id,
        status="not_verified",
        verifier=config.model,
        mode=config.mode,
        not_verified=why,
    )


def verifier_check(judgement: Judgement) -> CheckResult:
    """The ``verifier`` check's result for ``judgement``."""
    if judgement.status == "not_verified":
        return CheckResult(
            check=CHECK_NAME,
            score=0.0,
            flagged=False,
            evidence=[Evidence(message=f"not verified: {judgement.not_verified}")],
        )
    step = judgement.first_wrong_step
    score = judgement.score if judgement.score is not None else (1.0 if step is not None else 0.0)
    if step is None:
        message = f"{OPINION} ({judgement.verifier}): no wrong step"
        if judgement.reason:
            message += f"; {judgement.reason}"
        return CheckResult(
            check=CHECK_NAME, score=score, flagged=False, evidence=[Evidence(message=message)]
        )
    reason = judgement.reason or "no reason given"
    return CheckResult(
        check=CHECK_NAME,
        score=score,
        flagged=True,
        evidence=[
            Evidence(
                message=f"{OPINION} ({judgement.verifier}): step {step + 1} is wrong: {reason}",
                step_index=step,
            )
        ],
        first_faulty_step=step,
    )
