"""The ``vigil calibrate`` command body (click stays in ``vigil/cli.py``).

Labels from the review store (every settled item, newest ``[calibration] read_limit``, each
weighted by the inverse chance it was reviewed) or from a labelled file (``--file``, the
``vigil eval`` format: every row screened as the worker would, k = 1, weight 1). Prints the
held-out AUROC, expected calibration error and Brier score of the model in use ("before")
and of the fit ("after"), and stores the fit, adopted when it is not worse (``--dry-run``:
neither).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from vigil.eval.quality import load_rows, offline_result
from vigil.exceptions import VigilError
from vigil.reviewers.exceptions import queue_errors
from vigil.reviewers.outcomes import settled_reviews
from vigil.reviewers.queue import ReviewQueue
from vigil.settings import VigilSettings
from vigil.streams.calibration.exceptions import NotEnoughLabels
from vigil.streams.calibration.fit import Decision, Fit, Labelled, decide, fit_model, review_weight
from vigil.streams.calibration.model import Metrics
from vigil.streams.calibration.store import RiskModelStore
from vigil.streams.checks.base import prompt_key
from vigil.streams.checks.config import load_config
from vigil.streams.checks.exceptions import CheckFailed
from vigil.streams.checks.risk import risk_score
from vigil.streams.triage import Screener
from vigil_client.contracts import InferenceResult

__all__ = ["labels_from_file", "labels_from_store", "run_calibrate"]


def labels_from_store(settings: VigilSettings, queue: ReviewQueue) -> tuple[list[Labelled], int]:
    """The settled items as labels, and how many were left out (reviewed by other rules)."""
    config = load_config(Path(settings.checks_config) if settings.checks_config else None)
    rate = config.sampling.clean_rate
    read = settled_reviews(queue, 0, settings.calibration.read_limit)
    out, left_out = [], 0
    for item, outcome in read.reviews:
        weight = None if item.alert_id else review_weight(item.route, rate)
        if weight is None:
            left_out += 1
            continue
        out.append(
            Labelled(
                checks=tuple(item.checks),
                prior=risk_score(item.checks, config.risk),
                wrong=outcome.answer_wrong,
                weight=weight,
                group=prompt_key(item.prompt),
            )
        )
    return out, left_out


def labels_from_file(path: Path, screener: Screener) -> list[Labelled]:
    """Every solution of a labelled file, screened alone (k = 1), as a label of weight 1."""
    results: list[InferenceResult] = []
    wrong: list[bool] = []
    for i, row in enumerate(load_rows(path)):
        for variant, (solution, correct) in row.solutions.items():
            results.append(
                offline_result(
                    f"calibrate-{i}-{len(results)}",
                    row.question,
                    solution,
                    variant,
                    model_name="calibrate",
                )
            )
            wrong.append(not correct)
    out = []
    for at in range(0, len(results), 256):
        chunk = results[at : at + 256]
        for result, is_wrong, triage in zip(
            chunk, wrong[at : at + 256], screener.screen_batch(chunk), strict=True
        ):
            if isinstance(triage, CheckFailed):
                continue
            checks = tuple(triage.outcome.checks)
            out.append(
                Labelled(
                    checks=checks,
                    prior=risk_score(checks, screener.config.risk),
                    wrong=is_wrong,
                    weight=1.0,
                    group=prompt_key(result.prompt),
                )
            )
    return out


def _num(x: float) -> str:
    return "  n/a" if math.isnan(x) else f"{x:.3f}"


def _line(label: str, m: Metrics) -> str:
    return f"{label:<34} {_num(m.auroc)}   {_num(m.ece)}   {_num(m.brier)}"


def format_result(fit: Fit, decision: Decision, *, stored: bool) -> list[str]:
    model = fit.model
    wrong = sum(r.wrong for r in fit.train) + sum(r.wrong for r in fit.heldout)
    lines = [
        f"labels: {len(fit.train) + len(fit.heldout)} ({wrong} wrong); trained on "
        f"{len(fit.train)}, measured on {len(fit.heldout)} of held-out questions",
        f"features: {len(model.spec.names)} from checks {', '.join(model.spec.checks) or '-'}",
        "",
        f"{'held out (weighted)':<34} AUROC   ECE     Brier",
        _line(f"before: {decision.current_version}", decision.current),
        _line(f"after:  {model.version}", decision.candidate),
        "",
    ]
    if not stored:
        verdict = "would be adopted" if decision.adopt else "would not be adopted"
        lines.append(f"{verdict} (dry run, nothing stored): {decision.reason}")
    elif decision.adopt:
        lines.append(f"adopted {model.version}: {decision.reason}")
    else:
        lines.append(f"not adopted (stored as {model.version}): {decision.reason}")
    return lines


def run_calibrate(
    settings: VigilSettings,
    path: Path | None,
    *,
    dry_run: bool = False,
    echo: Callable[[str], None] = print,
) -> int:
    cal = settings.calibration
    store = RiskModelStore.connect(settings.redis_connection)
    try:
        if path is None:
            queue = ReviewQueue.connect(settings.redis_connection)
            labels, left_out = labels_from_store(settings, queue)
            source = "review store"
            echo(
                f"review store: {len(labels)} settled items as labels"
                + (f" ({left_out} sampled by alerts or probes left out)" if left_out else "")
            )
        else:
            screener = Screener.from_files(settings.checks_config, settings.novelty_reference)
            labels = labels_from_file(path, screener)
            source = f"file {path.name}"
            echo(f"{path}: {len(labels)} labelled solutions screened (k = 1)")
        fit = fit_model(
            labels,
            heldout_share=cal.heldout_share,
            regularization=cal.regularization,
            min_labels=cal.min_labels,
            min_wrong=cal.min_wrong,
            source=source,
        )
        if dry_run:
            try:
                current = store.current()
            except queue_errors() as exc:
                if path is None:
                    raise
                echo(f"risk model store unreachable ({exc}): comparing with the hand weights")
                current = None
            decision, _ = decide(fit, current, tolerance=cal.tolerance)
        else:
            decision = store.propose(fit, tolerance=cal.tolerance)
    except queue_errors() as exc:
        echo(f"error: cannot reach Redis at {settings.redis_url}: {exc}")
        return 1
    except NotEnoughLabels as exc:
        echo(f"not enough labels: {exc}; the hand weights stay in use")
        return 3
    except VigilError as exc:
        echo(f"error: {exc}")
        return 1
    for line in format_result(fit, decision, stored=not dry_run):
        echo(line)
    return 0
