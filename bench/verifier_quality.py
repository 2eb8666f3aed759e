"""How well the embedded verifier model finds the earliest wrong step, on ProcessBench (GSM8K).

Runs the model the embedded Triton serves (``inference/verifier_model.py``: the settings'
GGUF file in llama.cpp, in-process here, the same code path the Triton model calls) in both
modes over ``../shared/data/external/processbench_gsm8k`` (169 solutions with the earliest
wrong step labelled by experts), and prints:

* step F1, ProcessBench's metric: the harmonic mean of the accuracy on erroneous rows (the
  exact earliest step named) and on correct rows (no step named);
* AUROC of the verdict's ``score`` against "the solution has a wrong step";
* how often the critic's text could not be read (CritiqueParseError: counted as a miss on
  either side, its score 0.5), and seconds per judgement.

The PRM mode is also scored at the threshold that is best on these same rows: tuned in
sample, so optimistic, printed as such.

    .venv/bin/python bench/verifier_quality.py            # every row (~15 min on 2 cores)
    .venv/bin/python bench/verifier_quality.py --limit 40 # the first 40 rows
"""

from __future__ import annotations

import argparse
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
from sklearn.metrics import roc_auc_score

from vigil.inference.verifier_model import LocalLM, critic_answer, prm_answer
from vigil.settings import EXTERNAL_DATA, load_settings
from vigil.streams.checks.solution import parse_solution
from vigil.streams.exceptions import CritiqueParseError
from vigil.streams.verification.critique import (
    DEFAULT_TEMPLATE,
    PRM_THRESHOLD,
    parse_critique,
    parse_step_scores,
    prm_input,
    render_prompt,
)

DATA = EXTERNAL_DATA / "processbench_gsm8k" / "model_solutions.jsonl"


@dataclass(frozen=True)
class Row:
    question: str
    steps: list[str]
    label: int | None  # the earliest wrong step, None: every step right


@dataclass(frozen=True)
class Verdict:
    step: int | None
    score: float
    parsed: bool


def load_rows(path: Path, limit: int | None) -> list[Row]:
    rows = []
    for line in path.read_bytes().splitlines():
        r = orjson.loads(line)
        pb = r["processbench"]
        steps = [s.text for s in parse_solution(pb["solution"]).steps]
        lines = [ln for ln in pb["solution"].splitlines() if ln.strip()]
        # The labels index the solution's lines; the check indexes parse_solution's steps.
        assert len(steps) == len(lines), "steps and labelled lines differ"
        rows.append(Row(r["question"], steps, pb["first_wrong_step"]))
    return rows[:limit] if limit else rows


def step_f1(rows: list[Row], verdicts: list[Verdict]) -> tuple[float, float, float]:
    wrong = [
        v.parsed and v.step == r.label
        for r, v in zip(rows, verdicts, strict=True)
        if r.label is not None
    ]
    right = [
        v.parsed and v.step is None for r, v in zip(rows, verdicts, strict=True) if r.label is None
    ]
    acc_wrong = sum(wrong) / len(wrong) if wrong else 0.0
    acc_right = sum(right) / len(right) if right else 0.0
    f1 = 2 * acc_wrong * acc_right / (acc_wrong + acc_right) if acc_wrong + acc_right else 0.0
    return acc_wrong, acc_right, f1


def auroc(rows: list[Row], verdicts: list[Verdict]) -> float:
    labels = [r.label is not None for r in rows]
    if len(set(labels)) < 2:
        return float("nan")
    return float(roc_auc_score(labels, [v.score for v in verdicts]))


def report(name: str, rows: list[Row], verdicts: list[Verdict], seconds: list[float]) -> None:
    acc_wrong, acc_right, f1 = step_f1(rows, verdicts)
    unread = sum(not v.parsed for v in verdicts)
    named = sum(v.parsed and v.step is not None for v in verdicts)
    print(
        f"{name}: step F1 {100 * f1:.1f} (erroneous rows {100 * acc_wrong:.1f} %, correct rows "
        f"{100 * acc_right:.1f} %), AUROC {auroc(rows, verdicts):.3f}, unreadable "
        f"{unread}/{len(rows)}, a step named on {named}/{len(rows)}, "
        f"{sum(seconds) / len(seconds):.2f} s/row (max {max(seconds):.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="the first N rows only")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()

    settings = load_settings().verifier
    rows = load_rows(args.data, args.limit)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lm = LocalLM.load(settings)
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{lm.path.name}: loaded in {lm.load_s:.2f}s, max RSS {rss0:.0f} -> {rss1:.0f} MB; "
        f"{len(rows)} rows ({sum(r.label is not None for r in rows)} with a wrong step), "
        f"{settings.threads} threads, grammar {'on' if settings.grammar else 'off'}"
    )
    critic, prm = critic_answer(lm, settings), prm_answer(lm)
    template = DEFAULT_TEMPLATE.read_text()
    critic_v: list[Verdict] = []
    prm_scores: list[tuple[float, ...]] = []
    critic_s: list[float] = []
    prm_s: list[float] = []
    for i, row in enumerate(rows):
        t0 = time.perf_counter()
        text = critic(render_prompt(template, row.question, row.steps), settings.max_tokens)
        critic_s.append(time.perf_counter() - t0)
        try:
            c = parse_critique(text, len(row.steps))
            critic_v.append(Verdict(c.first_wrong_step, c.score, True))
        except CritiqueParseError:
            critic_v.append(Verdict(None, 0.5, False))
        t0 = time.perf_counter()
        scores = prm(prm_input(row.question, row.steps), 1)
        prm_s.append(time.perf_counter() - t0)
        prm_scores.append(parse_step_scores(scores, len(row.steps), PRM_THRESHOLD).step_scores)
        if (i + 1) % 20 == 0:
            print(f"  {i + 1}/{len(rows)} rows", flush=True)
    rss2 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max RSS after the run: {rss2:.0f} MB")

    def prm_verdicts(threshold: float) -> list[Verdict]:
        out = []
        for scores in prm_scores:
            wrong = next((k for k, s in enumerate(scores) if s < threshold), None)
            out.append(Verdict(wrong, 1.0 - min(scores, default=1.0), True))
        return out

    report("critic", rows, critic_v, critic_s)
    report(f"prm at {PRM_THRESHOLD}", rows, prm_verdicts(PRM_THRESHOLD), prm_s)
    best = max((t / 100 for t in range(1, 100)), key=lambda t: step_f1(rows, prm_verdicts(t))[2])
    report(f"prm at {best:.2f} (best on these rows: in sample)", rows, prm_verdicts(best), prm_s)
    always = [Verdict(None, 0.0, True)] * len(rows)
    first = [Verdict(0 if r.steps else None, 1.0, True) for r in rows]
    print(
        "baselines: 'no wrong step' F1 0.0; 'step 0 is wrong' F1 "
        f"{100 * step_f1(rows, first)[2]:.1f} (erroneous rows "
        f"{100 * step_f1(rows, first)[0]:.1f} %); 'no wrong step' correct rows "
        f"{100 * step_f1(rows, always)[1]:.0f} %"
    )


if __name__ == "__main__":
    main()
