"""``self_consistency``: do the k samples of the same request reach the same answer, the same way?

A model that is right tends to be right the same way every time it is sampled; a model that
is guessing scatters. With the output and its k samples (``InferenceResult.samples``):

* **answer support**: the share of samples whose final answer equals the output's; the main
  signal. The output is flagged when fewer than half of the samples agree with it;
* **rival**: the largest share of samples agreeing on one *other* answer (a competing majority
  is worse than scattered disagreement);
* **entropy** of the answer distribution over all k + 1 answers, normalised to [0, 1];
* **step agreement**: for each intermediate result the output computes (its calculator
  annotations), the share of samples that compute it too; the first step whose results no
  sample reaches is where the output leaves the others (``first_faulty_step`` when flagged).

Score: ``0.7 * (1 - support) + 0.15 * rival + 0.15 * (1 - step agreement)``: support orders,
the other two break its ties (k is small, so support alone takes only k + 1 values).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from vigil.streams.checks.arithmetic import parse_number
from vigil.streams.checks.base import BaseCheck, CheckInput
from vigil.streams.checks.exceptions import ArithmeticParseError
from vigil.streams.checks.solution import ParsedSolution
from vigil_client.contracts import CheckResult, Evidence

__all__ = ["CHECK_NAME", "SelfConsistencyCheck", "check_self_consistency"]

CHECK_NAME = "self_consistency"
W_SUPPORT = 0.7
W_RIVAL = 0.15
W_STEPS = 0.15
# Flag when fewer than this share of the samples agree with the output's answer.
MIN_SUPPORT = 0.5


def _key(value: float | None) -> float | None:
    """Answers compare as numbers, to 6 significant digits (``5.00`` is ``5``)."""
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.6g}")


def _intermediates(parsed: ParsedSolution) -> list[tuple[int, tuple[int, int], float]]:
    """(step index, annotation span, value) of every calculator result, in reading order."""
    out = []
    for step in parsed.steps:
        for ann in step.annotations:
            if ann.claimed is None:
                continue
            try:
                value = parse_number(ann.claimed)
            except ArithmeticParseError:
                continue
            key = _key(value)
            if key is not None:
                out.append((step.index, ann.span, key))
    return out


def _fmt(value: float | None) -> str:
    if value is None:
        return "no answer"
    return str(int(value)) if value.is_integer() else f"{value:g}"


def check_self_consistency(
    output: ParsedSolution, samples: Sequence[ParsedSolution]
) -> CheckResult:
    """Agreement of ``output`` with its ``samples``; see the module docstring."""
    if not samples:
        return CheckResult(
            check=CHECK_NAME,
            score=0.0,
            flagged=False,
            evidence=[Evidence(message="no samples to compare (request samples >= 2)")],
        )
    k = len(samples)
    mine = _key(output.final_value)
    theirs = [_key(s.final_value) for s in samples]
    support = sum(1 for t in theirs if mine is not None and t == mine) / k
    others = Counter(t for t in theirs if t is not None and t != mine)
    rival_answer, rival_n = others.most_common(1)[0] if others else (None, 0)
    rival = rival_n / k
    counts = Counter([mine, *theirs])
    total = k + 1
    entropy = -sum(n / total * math.log(n / total) for n in counts.values())
    entropy_norm = entropy / math.log(total)

    # Step agreement: which of the output's intermediate results do the samples reach?
    reached: list[set[float | None]] = []
    for s in samples:
        values: set[float | None] = {v for _, _, v in _intermediates(s)}
        values.add(_key(s.final_value))
        reached.append(values)
    steps = _intermediates(output)
    shares = [(i, span, sum(v in r for r in reached) / k) for i, span, v in steps]
    step_agreement = sum(sh for _, _, sh in shares) / len(shares) if shares else 1.0
    divergent = next(((i, span) for i, span, sh in shares if sh == 0.0), None)

    score = W_SUPPORT * (1 - support) + W_RIVAL * rival + W_STEPS * (1 - step_agreement)
    flagged = support < MIN_SUPPORT
    agreeing = round(support * k)
    evidence = [
        Evidence(
            message=(
                f"{agreeing} of {k} samples reach the output's answer ({_fmt(mine)}); "
                f"answer entropy {entropy_norm:.2f}"
            )
        )
    ]
    if rival_answer is not None and rival_n >= max(1, agreeing):
        evidence.append(
            Evidence(message=f"{rival_n} of {k} samples answer {_fmt(rival_answer)} instead")
        )
    faulty = None
    if divergent is not None:
        faulty = divergent[0] if flagged else None
        evidence.append(
            Evidence(
                message=(
                    f"step {divergent[0] + 1}: no sample computes this intermediate result "
                    f"(step agreement {step_agreement:.2f})"
                ),
                step_index=divergent[0],
                span=divergent[1],
            )
        )
    return CheckResult(
        check=CHECK_NAME,
        score=round(min(1.0, max(0.0, score)), 6),
        flagged=flagged,
        evidence=evidence,
        first_faulty_step=faulty,
    )


class SelfConsistencyCheck(BaseCheck):
    name = CHECK_NAME

    def check(self, item: CheckInput) -> CheckResult:
        return check_self_consistency(item.parsed, item.samples)
