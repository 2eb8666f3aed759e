"""``vigil eval``: replay labelled model solutions through the checks, offline, and measure.

The file has the format of ``model_solutions.jsonl``: one question a line, and for each model
variant ``{"is_correct": bool, "solution": str}``. Each variant's solution becomes the
``output`` of an ``InferenceResult`` and the other variants' solutions its self-consistency
samples (that is what k samples look like in production: the replay reasoner maps seeds to
variants). The results go through the worker's own ``Screener`` (same checks, config, risk
and routing), one variant at a time with an empty answer history (a file has each question
once per variant, so answer stability has nothing to compare and scores 0 here).

Printed per variant: AUROC of the risk score for "the answer is wrong", recall when reviewers
look at the riskiest 10 / 20 / 30 % of traffic, precision and recall of the queued verdict
and of each check's flag, and, side by side, the AUROC of a naive baseline (share of the
other variants that disagree with the answer, plus 1 when the calculator check flags).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from vigil.eval.exceptions import EvalError
from vigil.eval.metrics import FlagStats, auroc, flag_stats, recall_at_budget
from vigil.streams.checks.exceptions import CheckFailed
from vigil.streams.triage import Screener, Triage
from vigil_client.contracts import InferenceResult

__all__ = ["BUDGETS", "VariantReport", "evaluate_file", "format_report", "load_rows"]

BUDGETS = (0.10, 0.20, 0.30)
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    question: str
    # variant -> (solution, is_correct)
    solutions: dict[str, tuple[str, bool]]


@dataclass
class VariantReport:
    variant: str
    n: int
    wrong: int
    auroc: float
    baseline_auroc: float
    recall_at: dict[float, float]
    queued: FlagStats
    per_check: dict[str, FlagStats] = field(default_factory=dict)
    failed: int = 0


def load_rows(path: Path) -> list[Row]:
    if not path.is_file():
        raise EvalError(f"no such file: {path}")
    rows = []
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
                solutions = {
                    k: (str(v["solution"]), bool(v["is_correct"]))
                    for k, v in obj.items()
                    if isinstance(v, dict) and "solution" in v and "is_correct" in v
                }
                rows.append(Row(question=str(obj["question"]), solutions=solutions))
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                raise EvalError(f"{path}:{lineno}: not a model-solutions row ({exc})") from exc
    if not rows:
        raise EvalError(f"{path}: no rows")
    return rows


def _variants(rows: Sequence[Row]) -> list[str]:
    seen: dict[str, None] = {}
    for r in rows:
        for v in r.solutions:
            seen.setdefault(v, None)
    return list(seen)


def _results(rows: Sequence[Row], variant: str, with_samples: bool) -> list[InferenceResult]:
    out = []
    for i, row in enumerate(rows):
        if variant not in row.solutions:
            continue
        samples = [s for v, (s, _) in row.solutions.items() if v != variant]
        out.append(
            InferenceResult(
                request_id=f"eval-{variant}-{i}",
                created_at=_EPOCH,
                request_created_at=_EPOCH,
                prompt=row.question,
                output=row.solutions[variant][0],
                samples=samples if with_samples else [],
                model_name="eval",
                model_version=variant,
                latency_ms=0.0,
            )
        )
    return out


def _baseline(triage: Triage, disagree: float) -> float:
    steps = next((c for c in triage.outcome.checks if c.check == "step_verification"), None)
    return disagree + (1.0 if steps is not None and steps.flagged else 0.0)


def _disagreement(rows: Sequence[Row], variant: str) -> list[float]:
    from vigil.streams.checks.solution import parse_solution

    out = []
    for row in rows:
        if variant not in row.solutions:
            continue
        mine = parse_solution(row.solutions[variant][0]).final_value
        others = [
            parse_solution(s).final_value for v, (s, _) in row.solutions.items() if v != variant
        ]
        if not others:
            out.append(0.0)
            continue
        same = sum(
            1 for o in others if mine is not None and o is not None and math.isclose(o, mine)
        )
        out.append(1.0 - same / len(others))
    return out


def evaluate_variant(
    screener: Screener, rows: Sequence[Row], variant: str, *, with_samples: bool = True
) -> VariantReport:
    results = _results(rows, variant, with_samples)
    labels = {
        f"eval-{variant}-{i}": not row.solutions[variant][1]
        for i, row in enumerate(rows)
        if variant in row.solutions
    }
    triaged: list[Triage] = []
    failed = 0
    for start in range(0, len(results), 256):
        for out in screener.screen_batch(results[start : start + 256]):
            if isinstance(out, CheckFailed):
                failed += 1
            else:
                triaged.append(out)
    wrong = [labels[t.outcome.request_id] for t in triaged]
    risk = [t.outcome.risk_score for t in triaged]
    disagree = dict(zip(labels, _disagreement(rows, variant), strict=True))
    baseline = [_baseline(t, disagree[t.outcome.request_id]) for t in triaged]
    names = [c.check for c in triaged[0].outcome.checks] if triaged else []
    per_check = {
        name: flag_stats(
            [any(c.check == name and c.flagged for c in t.outcome.checks) for t in triaged], wrong
        )
        for name in names
    }
    return VariantReport(
        variant=variant,
        n=len(triaged),
        wrong=sum(wrong),
        auroc=auroc(risk, wrong),
        baseline_auroc=auroc(baseline, wrong),
        recall_at={b: recall_at_budget(risk, wrong, b) for b in BUDGETS},
        queued=flag_stats([t.outcome.verdict == "queued" for t in triaged], wrong),
        per_check=per_check,
        failed=failed,
    )


def evaluate_file(
    path: Path,
    screener: Screener,
    *,
    variants: Sequence[str] | None = None,
    with_samples: bool = True,
    progress: Callable[[str], None] | None = None,
) -> list[VariantReport]:
    rows = load_rows(path)
    found = _variants(rows)
    chosen = list(variants) if variants else found
    unknown = [v for v in chosen if v not in found]
    if unknown:
        raise EvalError(f"{path}: no variant(s) {unknown}; the file has {found}")
    reports = []
    for v in chosen:
        t0 = time.perf_counter()
        reports.append(evaluate_variant(screener, rows, v, with_samples=with_samples))
        if progress is not None:
            progress(f"  {v}: {reports[-1].n} results in {time.perf_counter() - t0:.1f}s")
    return reports


def _pct(x: float) -> str:
    return "  n/a" if math.isnan(x) else f"{x:5.1%}"


def _num(x: float) -> str:
    return "  n/a" if math.isnan(x) else f"{x:.3f}"


def format_report(reports: Sequence[VariantReport]) -> str:
    lines = [
        "variant              n  wrong   AUROC  (naive)  recall@10%  @20%   @30%   "
        "queued: prec  recall",
    ]
    for r in reports:
        lines.append(
            f"{r.variant:<18} {r.n:5d}  {_pct(r.wrong / r.n if r.n else math.nan)}  "
            f"{_num(r.auroc)}  ({_num(r.baseline_auroc)})   {_pct(r.recall_at[0.10])}    "
            f"{_pct(r.recall_at[0.20])}  {_pct(r.recall_at[0.30])}   "
            f"{_pct(r.queued.precision)}  {_pct(r.queued.recall)}"
            + (f"   ({r.failed} failed)" if r.failed else "")
        )
    valid = [r.auroc for r in reports if not math.isnan(r.auroc)]
    if valid:
        base = [r.baseline_auroc for r in reports if not math.isnan(r.baseline_auroc)]
        lines.append(
            f"mean AUROC {sum(valid) / len(valid):.3f}"
            + (f" (naive {sum(base) / len(base):.3f})" if base else "")
        )
    lines.append("")
    lines.append("per check (flag = predicts a wrong answer):  flagged  precision  recall")
    for r in reports:
        lines.append(f"{r.variant}")
        for name, s in r.per_check.items():
            lines.append(
                f"  {name:<20} {s.flagged:5d}      {_pct(s.precision)}    {_pct(s.recall)}"
            )
    return "\n".join(lines)


def report_json(reports: Sequence[VariantReport]) -> list[dict[str, Any]]:
    return [
        {
            "variant": r.variant,
            "n": r.n,
            "wrong": r.wrong,
            "auroc": r.auroc,
            "baseline_auroc": r.baseline_auroc,
            "recall_at": {f"{b:.0%}": v for b, v in r.recall_at.items()},
            "queued": {"precision": r.queued.precision, "recall": r.queued.recall},
            "checks": {
                n: {"flagged": s.flagged, "precision": s.precision, "recall": s.recall}
                for n, s in r.per_check.items()
            },
            "failed": r.failed,
        }
        for r in reports
    ]
