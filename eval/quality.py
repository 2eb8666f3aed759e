"""``vigil eval``: replay labelled model solutions through the checks, offline, and measure.

The file has the format of ``model_solutions.jsonl``: one question a line, and for each model
variant ``{"is_correct": bool, "solution": str}`` (optionally ``first_wrong_step``, the
human label of the earliest wrong step, and ``generator``, the model that wrote it). Each
variant's solution becomes the ``output`` of an ``InferenceResult`` and goes through the
worker's own ``Screener`` (same checks, config, risk and routing), one variant at a time with
an empty answer history (a file has each question once per variant, so answer stability has
nothing to compare and scores 0 here).

Single output (k = 1) is the headline: production has one output per request unless it asks
for samples, and samples are the *same* model's generations. With ``cross_model`` the other
variants' solutions are passed as samples; that measures agreement between different
systems (a weak model disagrees with a strong one exactly when it is wrong), which is easier,
and the report says so.

Printed per variant: AUROC of the risk score for "the answer is wrong", recall when reviewers
look at the riskiest 10 / 20 / 30 % of traffic, precision and recall of the queued verdict,
the share of *correct* outputs queued (reviewer time spent on right answers), each check's
flag, and where ``first_wrong_step`` exists ProcessBench's step metric: accuracy on the rows
with a wrong step (the item's first faulty step names exactly it), on the clean rows (it
names none), their harmonic mean (F1), and the first-step accuracy per generator. Side by
side, the AUROC of a naive baseline (1 when the step check flags; with ``cross_model``, plus
the share of other variants that disagree with the answer).
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

__all__ = [
    "BUDGETS",
    "VariantReport",
    "evaluate_file",
    "format_report",
    "load_rows",
    "offline_result",
]

BUDGETS = (0.10, 0.20, 0.30)
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Label:
    """What the file says of one solution beyond correctness (ProcessBench rows)."""

    first_wrong_step: int | None = None
    has_step_label: bool = False
    generator: str | None = None


@dataclass(frozen=True)
class Row:
    question: str
    # variant -> (solution, is_correct)
    solutions: dict[str, tuple[str, bool]]
    labels: dict[str, Label] = field(default_factory=dict)


@dataclass(frozen=True)
class StepStats:
    """ProcessBench's step metric over the rows that carry a step label."""

    wrong_rows: int
    wrong_hit: int
    clean_rows: int
    clean_hit: int
    # generator -> (rows with a wrong step, of them named exactly)
    per_generator: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def wrong_accuracy(self) -> float:
        return self.wrong_hit / self.wrong_rows if self.wrong_rows else math.nan

    @property
    def clean_accuracy(self) -> float:
        return self.clean_hit / self.clean_rows if self.clean_rows else math.nan

    @property
    def f1(self) -> float:
        a, b = self.wrong_accuracy, self.clean_accuracy
        if math.isnan(a) or math.isnan(b) or a + b == 0:
            return math.nan if math.isnan(a) or math.isnan(b) else 0.0
        return 2 * a * b / (a + b)


@dataclass
class VariantReport:
    variant: str
    n: int
    wrong: int
    auroc: float
    baseline_auroc: float
    recall_at: dict[float, float]
    queued: FlagStats
    # Share of the correct outputs that were queued: reviewer time spent on right answers.
    correct_queued: float = math.nan
    per_check: dict[str, FlagStats] = field(default_factory=dict)
    steps: StepStats | None = None
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
                found = {
                    k: v
                    for k, v in obj.items()
                    if isinstance(v, dict) and "solution" in v and "is_correct" in v
                }
                solutions = {
                    k: (str(v["solution"]), bool(v["is_correct"])) for k, v in found.items()
                }
                labels = {k: _label(v) for k, v in found.items()}
                rows.append(Row(question=str(obj["question"]), solutions=solutions, labels=labels))
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                raise EvalError(f"{path}:{lineno}: not a model-solutions row ({exc})") from exc
    if not rows:
        raise EvalError(f"{path}: no rows")
    return rows


def _label(v: dict[str, Any]) -> Label:
    step = v.get("first_wrong_step")
    generator = v.get("generator")
    return Label(
        first_wrong_step=int(step) if isinstance(step, int) else None,
        has_step_label="first_wrong_step" in v,
        generator=str(generator) if generator is not None else None,
    )


def _variants(rows: Sequence[Row]) -> list[str]:
    seen: dict[str, None] = {}
    for r in rows:
        for v in r.solutions:
            seen.setdefault(v, None)
    return list(seen)


def offline_result(
    request_id: str,
    question: str,
    solution: str,
    variant: str,
    *,
    model_name: str = "eval",
    samples: Sequence[str] = (),
) -> InferenceResult:
    """A labelled row's solution as the result the worker would screen (a fixed clock: the
    checks are pure, so offline replays give production's verdicts)."""
    return InferenceResult(
        request_id=request_id,
        created_at=_EPOCH,
        request_created_at=_EPOCH,
        prompt=question,
        output=solution,
        samples=list(samples),
        model_name=model_name,
        model_version=variant,
        latency_ms=0.0,
    )


def _results(rows: Sequence[Row], variant: str, with_samples: bool) -> list[InferenceResult]:
    out = []
    for i, row in enumerate(rows):
        if variant not in row.solutions:
            continue
        samples = [s for v, (s, _) in row.solutions.items() if v != variant]
        out.append(
            offline_result(
                f"eval-{variant}-{i}",
                row.question,
                row.solutions[variant][0],
                variant,
                samples=samples if with_samples else (),
            )
        )
    return out


def _step_stats(
    rows: Sequence[Row], variant: str, predicted: dict[str, int | None]
) -> StepStats | None:
    wrong_rows = wrong_hit = clean_rows = clean_hit = 0
    per_gen: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        label = row.labels.get(variant)
        rid = f"eval-{variant}-{i}"
        if label is None or not label.has_step_label or rid not in predicted:
            continue
        guess = predicted[rid]
        if label.first_wrong_step is None:
            clean_rows += 1
            clean_hit += guess is None
            continue
        wrong_rows += 1
        hit = guess == label.first_wrong_step
        wrong_hit += hit
        tally = per_gen.setdefault(label.generator or "?", [0, 0])
        tally[0] += 1
        tally[1] += hit
    if wrong_rows + clean_rows == 0:
        return None
    return StepStats(
        wrong_rows=wrong_rows,
        wrong_hit=wrong_hit,
        clean_rows=clean_rows,
        clean_hit=clean_hit,
        per_generator={g: (n, h) for g, (n, h) in sorted(per_gen.items())},
    )


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
    screener: Screener,
    rows: Sequence[Row],
    variant: str,
    *,
    with_samples: bool = False,
    rejudge: Callable[[Sequence[InferenceResult], list[Triage]], list[Triage]] | None = None,
) -> VariantReport:
    """``rejudge``: builds the triages again with more evidence (``eval/verified.py``: the
    verifier's judgement joined)."""
    results = _results(rows, variant, with_samples)
    labels = {
        f"eval-{variant}-{i}": not row.solutions[variant][1]
        for i, row in enumerate(rows)
        if variant in row.solutions
    }
    triaged: list[Triage] = []
    failed = 0
    for start in range(0, len(results), 256):
        batch = results[start : start + 256]
        # Each result on its own: a file answers a question once per variant, and two rows of
        # one question by other generators (ProcessBench) are not this model's history.
        keys = [r.request_id for r in batch]
        for out in screener.screen_batch(batch, keys=keys):
            if isinstance(out, CheckFailed):
                failed += 1
            else:
                triaged.append(out)
    if rejudge is not None:
        triaged = rejudge(results, triaged)
    wrong = [labels[t.outcome.request_id] for t in triaged]
    risk = [t.outcome.risk_score for t in triaged]
    queued = [t.outcome.verdict == "queued" for t in triaged]
    right_queued = [q for q, w in zip(queued, wrong, strict=True) if not w]
    predicted = {t.outcome.request_id: t.outcome.first_faulty_step for t in triaged}
    disagree = dict(zip(labels, _disagreement(rows, variant), strict=True))
    if not with_samples:
        disagree = dict.fromkeys(disagree, 0.0)
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
        queued=flag_stats(queued, wrong),
        correct_queued=sum(right_queued) / len(right_queued) if right_queued else math.nan,
        per_check=per_check,
        steps=_step_stats(rows, variant, predicted),
        failed=failed,
    )


def evaluate_file(
    path: Path,
    screener: Screener,
    *,
    variants: Sequence[str] | None = None,
    with_samples: bool = False,
    progress: Callable[[str], None] | None = None,
    limit: int | None = None,
    rejudge: Callable[[Sequence[InferenceResult], list[Triage]], list[Triage]] | None = None,
) -> list[VariantReport]:
    """``limit``: the first rows of the file only."""
    rows = load_rows(path)[:limit]
    found = _variants(rows)
    chosen = list(variants) if variants else found
    unknown = [v for v in chosen if v not in found]
    if unknown:
        raise EvalError(f"{path}: no variant(s) {unknown}; the file has {found}")
    reports = []
    for v in chosen:
        t0 = time.perf_counter()
        reports.append(
            evaluate_variant(screener, rows, v, with_samples=with_samples, rejudge=rejudge)
        )
        if progress is not None:
            progress(f"  {v}: {reports[-1].n} results in {time.perf_counter() - t0:.1f}s")
    return reports


def _pct(x: float) -> str:
    return "  n/a" if math.isnan(x) else f"{x:5.1%}"


def _f1(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{100 * x:.1f}"


def _num(x: float) -> str:
    return "  n/a" if math.isnan(x) else f"{x:.3f}"


def format_report(reports: Sequence[VariantReport], *, cross_model: bool = False) -> str:
    lines = [
        (
            "CROSS-MODEL AGREEMENT: the other variants' outputs were passed as samples; this is"
            " agreement between different systems, not self-consistency of one model."
            if cross_model
            else "single output (k = 1): no samples"
        ),
        "variant              n  wrong   AUROC  (naive)  recall@10%  @20%   @30%   "
        "queued: prec  recall  right-queued",
    ]
    for r in reports:
        lines.append(
            f"{r.variant:<18} {r.n:5d}  {_pct(r.wrong / r.n if r.n else math.nan)}  "
            f"{_num(r.auroc)}  ({_num(r.baseline_auroc)})   {_pct(r.recall_at[0.10])}    "
            f"{_pct(r.recall_at[0.20])}  {_pct(r.recall_at[0.30])}   "
            f"{_pct(r.queued.precision)}  {_pct(r.queued.recall)}  {_pct(r.correct_queued)}"
            + (f"   ({r.failed} failed)" if r.failed else "")
        )
    valid = [r.auroc for r in reports if not math.isnan(r.auroc)]
    if valid:
        base = [r.baseline_auroc for r in reports if not math.isnan(r.baseline_auroc)]
        lines.append(
            f"mean AUROC {sum(valid) / len(valid):.3f}"
            + (f" (naive {sum(base) / len(base):.3f})" if base else "")
        )
    stepped = [r for r in reports if r.steps is not None]
    if stepped:
        lines.append("")
        lines.append(
            "first faulty step (ProcessBench metric): wrong rows named exactly, clean rows "
            "named none, F1"
        )
        for r in stepped:
            st = r.steps
            assert st is not None
            lines.append(
                f"  {r.variant:<18} wrong {st.wrong_hit}/{st.wrong_rows} "
                f"{_pct(st.wrong_accuracy)}   clean {st.clean_hit}/{st.clean_rows} "
                f"{_pct(st.clean_accuracy)}   F1 {_f1(st.f1)}"
            )
            for gen, (n, hit) in st.per_generator.items():
                lines.append(f"    {gen:<34} {hit}/{n}  {_pct(hit / n if n else math.nan)}")
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
            "correct_queued": r.correct_queued,
            "steps": None
            if r.steps is None
            else {
                "wrong_rows": r.steps.wrong_rows,
                "wrong_accuracy": r.steps.wrong_accuracy,
                "clean_rows": r.steps.clean_rows,
                "clean_accuracy": r.steps.clean_accuracy,
                "f1": r.steps.f1,
                "per_generator": {
                    g: {"rows": n, "named": h} for g, (n, h) in r.steps.per_generator.items()
                },
            },
            "checks": {
                n: {"flagged": s.flagged, "precision": s.precision, "recall": s.recall}
                for n, s in r.per_check.items()
            },
            "failed": r.failed,
        }
        for r in reports
    ]
