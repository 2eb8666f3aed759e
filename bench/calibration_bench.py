"""The learning loop, simulated on the shared labelled files: hand weights vs a fitted risk
model, and the prediction-powered error rate against the random sample alone.

    .venv/bin/python bench/calibration_bench.py
    .venv/bin/python bench/calibration_bench.py --clean-rate 0.02 --draws 200

Every labelled solution (``/work/shared/data/gsm8k/model_solutions.jsonl`` and
``/work/shared/data/external/*/model_solutions.jsonl``, one result per solution, k = 1: no
self-consistency samples) goes through the worker's ``Screener`` with the default checks.
The questions are split in two by a hash: on the **training** questions, reviewers "settle"
what the worker queued and the random sample of the clean ones (``clean_rate``) with the true
labels, and the risk model is fitted to those (weighted by 1 / chance of review, as
``vigil calibrate`` does). On the **held-out** questions:

1. AUROC for "the answer is wrong" of the hand-weighted risk and of the fitted one, over all
   held-out results and per file;
2. the test results are screened again with the fitted model (its routing decides what is
   queued); the share of wrong answers among them is estimated ``--draws`` times, each with
   another random sample of the clean results (another hash salt) plus the queued results,
   reviewed: by PPI (``streams/calibration/ppi.py``: the fitted P(wrong) of every result,
   corrected by the labels) and by the labels alone; printed: how often each 95 % interval
   covers the true share, and their mean widths.

Single process, no servers; a minute or two on the 2-core machine (the screening dominates).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "sdk")]

from vigil.eval.metrics import auroc  # noqa: E402
from vigil.eval.quality import load_rows, offline_result  # noqa: E402
from vigil.settings import load_settings  # noqa: E402
from vigil.streams.calibration.fit import (  # noqa: E402
    Labelled,
    decide,
    fit_model,
    heldout_group,
    review_weight,
)
from vigil.streams.calibration.ppi import LabelSums, Pool, classical, combine, ppi  # noqa: E402
from vigil.streams.checks.exceptions import CheckFailed  # noqa: E402
from vigil.streams.checks.routing import sampled  # noqa: E402
from vigil.streams.triage import Screener  # noqa: E402
from vigil_client.contracts import RANDOM_SAMPLE, CheckResult, InferenceResult  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


@dataclass
class Row:
    source: str
    question: str
    result: InferenceResult
    wrong: bool
    checks: tuple[CheckResult, ...] = ()
    prior: float = 0.0
    queued: bool = False


def load(files: list[Path]) -> list[Row]:
    rows = []
    for path in files:
        source = path.parent.name
        for i, r in enumerate(load_rows(path)):
            for variant, (solution, correct) in r.solutions.items():
                rid = f"{source}-{i}-{variant}"
                result = offline_result(rid, r.question, solution, variant, model_name="bench")
                rows.append(Row(source, r.question, result, not correct))
    return rows


def screen(screener: Screener, rows: list[Row]) -> list[Row]:
    """Each row's checks, hand-weighted risk and routing (the screener's model, if any)."""
    kept = []
    for at in range(0, len(rows), 256):
        chunk = rows[at : at + 256]
        for row, out in zip(chunk, screener.screen_batch([r.result for r in chunk]), strict=True):
            if isinstance(out, CheckFailed):
                continue
            row.checks = tuple(out.outcome.checks)
            row.queued = out.outcome.verdict == "queued"
            if screener.risk_model is None:
                row.prior = out.outcome.risk_score
            kept.append(row)
    return kept


def reviewed_labels(rows: list[Row], rate: float) -> list[Labelled]:
    out = []
    for r in rows:
        route = (
            "queued"
            if r.queued
            else (RANDOM_SAMPLE if sampled(r.result.request_id, rate) else None)
        )
        weight = review_weight(route, rate) if route else None
        if weight is not None:
            out.append(Labelled(r.checks, r.prior, r.wrong, weight, r.question))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    # 10 %, not the config's 2 %: these files are small (17k solutions, about 1,600 clean ones
    # on the training side), and 2 % of them is some 30 labels; production has far more.
    parser.add_argument("--clean-rate", type=float, default=0.1)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--file", type=Path, action="append", help="default: every shared file")
    args = parser.parse_args()
    settings = load_settings()
    files = args.file or [
        DATA / "gsm8k" / "model_solutions.jsonl",
        *sorted(DATA.glob("external/*/model_solutions.jsonl")),
    ]
    t0 = time.perf_counter()
    screener = Screener.from_files(settings.checks_config, settings.novelty_reference)
    rate = args.clean_rate
    rows = screen(screener, load(files))
    print(
        f"screened {len(rows)} solutions from {len(files)} files "
        f"in {time.perf_counter() - t0:.0f}s (k = 1)"
    )
    train = [r for r in rows if not heldout_group(r.question, 0.5, "bench")]
    test = [r for r in rows if heldout_group(r.question, 0.5, "bench")]
    labels = reviewed_labels(train, rate)
    queued = sum(r.queued for r in train)
    print(
        f"training questions: {len(train)} results, {queued} queued ({queued / len(train):.0%}), "
        f"{len(labels) - queued} in the {rate:.0%} random sample -> {len(labels)} labels"
    )
    fit = fit_model(labels, min_labels=50, min_wrong=10, version="bench", source="bench")
    model = fit.model
    print(
        f"fit: {len(model.spec.names)} features; held-out (within training) AUROC "
        f"{model.heldout.auroc:.3f}, ECE {model.heldout.ece:.3f}"
    )

    print("\nAUROC on held-out questions (all results, true labels)   hand    fitted   n     wrong")
    groups = {
        "all": test,
        **{s: [r for r in test if r.source == s] for s in sorted({r.source for r in test})},
    }
    for name, group in groups.items():
        y = [r.wrong for r in group]
        hand = auroc([r.prior for r in group], y)
        fitted = auroc([model.p_wrong(r.checks, r.prior) for r in group], y)
        print(f"  {name:<52} {hand:.3f}   {fitted:.3f}   {len(group):<5} {sum(y) / len(group):.0%}")

    # The adoption rule of `vigil calibrate`: not worse than the hand weights on held-out labels.
    decision, _ = decide(fit, None)
    print(f"\nadoption (vs the hand weights, training's held-out labels): {decision.reason}")
    print("  -> " + ("adopted" if decision.adopt else "NOT adopted: the hand weights stay"))
    # Re-screen the held-out questions with the model in use: its routing decides the strata.
    if decision.adopt:
        screener.use_risk_model(model)
        for r in test:
            r.queued = False
        test = screen(screener, test)
    f = {
        r.result.request_id: model.p_wrong(r.checks, r.prior) if decision.adopt else r.prior
        for r in test
    }
    truth = sum(r.wrong for r in test) / len(test)
    strata = {"queued": [r for r in test if r.queued], "clean": [r for r in test if not r.queued]}
    strata = {s: v for s, v in strata.items() if v}
    pools = {s: Pool.of(f[r.result.request_id] for r in v) for s, v in strata.items()}
    print(
        f"\nerror rate of the held-out results: {truth:.2%} of {len(test)}; "
        f"{len(strata.get('queued', []))} queued (all reviewed), "
        f"{len(strata.get('clean', []))} clean "
        f"({rate:.0%} reviewed); mean prediction {sum(f.values()) / len(f):.2%}"
    )
    hits = {"ppi": 0, "classical": 0}
    widths: dict[str, list[float]] = {"ppi": [], "classical": []}
    sample_sizes = []
    for draw in range(args.draws):
        parts: dict[str, list] = {"ppi": [], "classical": []}
        for s, members in strata.items():
            chosen = (
                members
                if s == "queued"
                else [r for r in members if sampled(f"draw{draw}:{r.result.request_id}", rate)]
            )
            if s == "clean":
                sample_sizes.append(len(chosen))
            got = LabelSums.of((1.0 if r.wrong else 0.0, f[r.result.request_id]) for r in chosen)
            for kind, fn in (("ppi", ppi), ("classical", classical)):
                est = fn(pools[s], got)
                if est is not None:
                    parts[kind].append(est)
        for kind in hits:
            est = combine(parts[kind]) if len(parts[kind]) == len(strata) else None
            if est is None:
                continue
            hits[kind] += est.low <= truth <= est.high
            widths[kind].append(est.width)
    sample_sizes = sample_sizes or [0]
    print(
        f"{args.draws} random samples of the clean results "
        f"({min(sample_sizes)}-{max(sample_sizes)} labels each, "
        f"mean {sum(sample_sizes) / len(sample_sizes):.0f}), plus the queued ones:"
    )
    predictor = "fitted P(wrong)" if decision.adopt else "hand risk"
    for kind, label in (("ppi", f"PPI ({predictor} + labels)"), ("classical", "labels alone")):
        w = widths[kind]
        mean_w = sum(w) / len(w) if w else math.nan
        print(
            f"  {label:<32} coverage {hits[kind] / max(1, len(w)):.1%} of {len(w)}   "
            f"mean 95% width {mean_w:.2%}"
        )
    if widths["classical"] and widths["ppi"]:
        ratio = (sum(widths["ppi"]) / len(widths["ppi"])) / (
            sum(widths["classical"]) / len(widths["classical"])
        )
        print(f"  PPI width / labels-alone width: {ratio:.2f}")
    print(f"\ntotal {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
