"""Drift monitoring benchmark, run by hand (not part of pytest): every number measured in this run.

    DO_NOT_TRACK=1 .venv/bin/python bench/drift_bench.py            # full (~5-10 min, 2 cores)
    DO_NOT_TRACK=1 .venv/bin/python bench/drift_bench.py --quick    # smaller, for a smoke run

Prints, side by side:

1. Evidently window time vs raw scipy statistics on the same columns (the numerical and
   categorical features; Wasserstein normed and Jensen-Shannon, what Vigil pins) for windows
   of 1k, 10k and 100k rows; also the full ``DataDriftPreset`` and the text columns, for scale.
2. Window compute time / window period at 1,000 results/s, with the default columns (text
   included), plus the per-result feature extraction rate that must keep up with the stream.
3. False alarms per 100 no-change windows (drifted windows, and alerts after hysteresis).
4. Detection delay, in windows, of the 175b_verification -> 6b_finetuning regression.
5. ``--swap``: the demo's silent regression (``vigil up --demo``): its replay files, its
   window and reference sizes, one output per request, and one pinned version label for both
   models, so only the outputs can show the change; a quarter of the traffic (the
   pronoun-swapped segment) is answered by the weaker model all along, as in the demo.

Traffic is the recorded GSM8K outputs (``RecordedTraffic``), as the replay reasoner serves them.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DO_NOT_TRACK", "1")

from evidently import Dataset, Report
from evidently.presets import DataDriftPreset

from tests.recorded_traffic import RecordedTraffic
from vigil.inference.replay_data import ReplayBook
from vigil.inference.replay_plan import load_replay_book
from vigil.settings import VARIANTS, VigilSettings, load_settings
from vigil.streams.monitoring import drift
from vigil.streams.monitoring.alerts import Hysteresis
from vigil.streams.monitoring.features import extract_features
from vigil.streams.monitoring.reference import build_reference, compared_columns
from vigil.streams.monitoring.verdicts import Verdicts
from vigil.streams.triage import Screener

HEALTHY, WEAK = "175b_verification", "6b_finetuning"


class Rows:
    """Feature rows of recorded traffic; features cached per (question, variant, samples), so
    each is judged alone (a cached row has no answer history: no stability signal)."""

    def __init__(self, traffic: RecordedTraffic, verdicts: Verdicts, seed: int) -> None:
        self.traffic = traffic
        self.verdicts = verdicts
        self.rng = random.Random(seed)
        self.cache: dict[tuple[str, str, int], dict[str, Any]] = {}

    def row(self, variant: str, samples: int) -> dict[str, Any]:
        q = self.rng.choice(self.traffic.questions)
        key = (q, variant, samples)
        if key not in self.cache:
            result = self.traffic.result(variant, samples=samples, question=q)
            outcome = self.verdicts.judge_alone(result)
            assert outcome is not None, "a check raised on recorded traffic"
            self.cache[key] = extract_features(result, outcome)
        row = dict(self.cache[key])
        row["latency_ms"] = self.rng.lognormvariate(0, 0.3) * 20.0
        return row

    def window(
        self, variant: str, n: int, samples: int = 2, mixed: tuple[str, float] | None = None
    ) -> list[dict[str, Any]]:
        """``n`` rows of ``variant``; with ``mixed`` (variant, share), that share of them
        of the other variant."""
        if mixed is None:
            return [self.row(variant, samples) for _ in range(n)]
        other, share = mixed
        return [
            self.row(other if self.rng.random() < share else variant, samples) for _ in range(n)
        ]


class PinnedTraffic(RecordedTraffic):
    """Recorded traffic of ``book`` on the questions both variants have, every variant under
    one version label (a swap behind an unchanged name and label)."""

    def __init__(self, book: ReplayBook, variants: tuple[str, str], label: str, seed: int):
        self.book = book
        both = [set(book.questions(v)) for v in variants]
        self.questions = sorted(both[0] & both[1])
        self.rng = random.Random(seed)
        self.label = label

    def version(self, variant: str) -> str:
        return self.label


def scipy_scores(
    ref: pd.DataFrame, cur: pd.DataFrame, columns: drift.ColumnSet
) -> dict[str, float]:
    """The same statistics straight from scipy: the floor any library can reach."""
    out: dict[str, float] = {}
    for c in columns.numerical:
        r, k = ref[c].dropna().to_numpy(), cur[c].dropna().to_numpy()
        out[c] = stats.wasserstein_distance(r, k) / max(float(np.std(r)), 0.001)
    for c in columns.categorical:
        keys = sorted(set(ref[c].dropna()) | set(cur[c].dropna()))
        p = ref[c].value_counts(normalize=True).reindex(keys, fill_value=0).to_numpy()
        q = cur[c].value_counts(normalize=True).reindex(keys, fill_value=0).to_numpy()
        out[c] = float(distance.jensenshannon(p, q))
    return out


def run_preset(ref: pd.DataFrame, cur: pd.DataFrame, cols: drift.ColumnSet) -> None:
    definition = cols.definition()
    preset = DataDriftPreset(
        columns=cols.names, num_method="wasserstein", cat_method="jensenshannon"
    )
    Report([preset]).run(
        Dataset.from_pandas(cur[cols.names], data_definition=definition),
        Dataset.from_pandas(ref[cols.names], data_definition=definition),
    )


def timed(fn: Any, repeat: int) -> float:
    best = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best.append(time.perf_counter() - t0)
    return statistics.median(best)


def speed(rows: Rows, sizes: list[int], repeat: int) -> None:
    print("\n1. Evidently vs scipy, same columns (median of", repeat, "runs, seconds)")
    head = ("rows", "scipy", "vigil", "ratio", "preset", "ratio", "+text")
    print("{:>8} {:>8} {:>8} {:>6} {:>8} {:>6} {:>8}".format(*head))
    for n in sizes:
        ref = drift.frame(rows.window(HEALTHY, n))
        cur = drift.frame(rows.window(WEAK, n))
        full = compared_columns(list(ref.columns)).usable(ref)
        cols = drift.ColumnSet(numerical=full.numerical, categorical=full.categorical)
        cal = drift.Calibration(
            window_rows=n,
            resamples=0,
            margin=1.0,
            thresholds=dict.fromkeys(cols.names, 0.1),
            null_max=dict.fromkeys(cols.names, 0.1),
            null_mean=dict.fromkeys(cols.names, 0.0),
            kinds={c: cols.kind(c) for c in cols.names},
        )
        ref_data = drift.ReferenceData(ref)  # the monitor builds it once, not per window
        t_scipy = timed(partial(scipy_scores, ref, cur, cols), repeat)
        t_vigil = timed(partial(drift.evaluate, ref_data, cur, cols, cal, min_columns=2), repeat)
        ours = drift.evaluate(ref_data, cur, cols, cal, min_columns=2)
        theirs = scipy_scores(ref, cur, cols)
        worst = max(abs(c.score - theirs[c.column]) for c in ours.columns)
        assert worst < 1e-6, f"Evidently and scipy disagree by {worst}"
        t_preset = timed(partial(run_preset, ref, cur, cols), 1 if n >= 100_000 else repeat)
        text = "-"
        if n <= 10_000:
            tcols = drift.ColumnSet(text=full.text)
            tcal = drift.Calibration(
                n, 0, 1.0, dict.fromkeys(tcols.names, 0.6), dict.fromkeys(tcols.names, 0.6),
                dict.fromkeys(tcols.names, 0.5), dict.fromkeys(tcols.names, "text"),
            )  # fmt: skip
            t_text = timed(partial(drift.evaluate, ref, cur, tcols, tcal, min_columns=1), 1)
            text = f"{t_text:8.3f}"
        print(
            f"{n:>8} {t_scipy:8.3f} {t_vigil:8.3f} {t_vigil / t_scipy:5.1f}x "
            f"{t_preset:8.3f} {t_preset / t_scipy:5.1f}x {text:>8}"
        )
    print(
        "   vigil = the monitor's per-window path (Evidently's drift calculation with the pinned "
        "methods, a snapshot with one test per column); preset = DataDriftPreset with the same "
        "methods (renders a plot per column); +text = the two text columns alone "
        "(abs_text_content_drift, one TF-IDF domain classifier each). "
        "Scores equal scipy's (checked)."
    )


def throughput(rows: Rows, traffic: RecordedTraffic, sizes: list[int]) -> None:
    print("\n2. Window compute time / window period at 1,000 results/s (default columns, text on)")
    n_ref = 2500
    ref_rows = rows.window(HEALTHY, n_ref)
    results = [traffic.result(HEALTHY, samples=2) for _ in range(500)]
    t0 = time.perf_counter()
    for i in range(0, len(results), 256):  # the worker's default batch, as the monitor takes it
        for j in rows.verdicts.judge(results[i : i + 256]):
            extract_features(j.result, j.outcome)
    per_result = (time.perf_counter() - t0) / len(results)
    print(
        f"   features (the worker's checks, batched; self-consistency on 2 samples): "
        f"{per_result * 1000:.2f} ms/result = {1 / per_result:,.0f} results/s on one core"
    )
    print(f"{'window rows':>12} {'period s':>9} {'compute s':>10} {'ratio':>6}")
    for n in sizes:
        reference = build_reference(
            ref_rows, source="bench", window_rows=min(n, n_ref // 2), resamples=5, margin=1.25
        )
        window = drift.frame(rows.window(HEALTHY, n))
        evaluate = partial(
            drift.evaluate, reference.data, window, reference.columns, reference.calibration
        )
        t = timed(partial(evaluate, min_columns=2), 3)
        period = n / 1000.0
        print(f"{n:>12} {period:9.1f} {t:10.3f} {t / period:6.2f}")


def simulate(
    rows: Rows,
    *,
    window: int,
    reference_rows: int,
    resamples: int,
    no_change_windows: int,
    trials: int,
    samples: int,
    text: bool,
    margin: float = 1.25,
    min_columns: int = 2,
    raise_after: int = 2,
    clear_after: int = 3,
    healthy: str = HEALTHY,
    weak: str = WEAK,
    mixed: float = 0.0,
) -> None:
    label = (
        f"W={window}, reference {reference_rows}, samples k={samples + 1}, "
        f"text {'on' if text else 'off'}"
    )
    # Before the change, ``mixed`` of the traffic is answered by ``weak`` already.
    before = (weak, mixed) if mixed else None
    t0 = time.perf_counter()
    ref = build_reference(
        rows.window(healthy, reference_rows, samples, before),
        source="bench",
        window_rows=window,
        resamples=resamples,
        margin=margin,
        text=text,
    )
    t_cal = time.perf_counter() - t0
    hyst = Hysteresis(raise_after, clear_after)
    drifted = alerts = 0
    for _ in range(no_change_windows):
        res = drift.evaluate(
            ref.data, drift.frame(rows.window(healthy, window, samples, before)), ref.columns,
            ref.calibration, min_columns=min_columns,
        )  # fmt: skip
        drifted += res.drifted
        change = hyst.observe("drift", res.drifted)
        alerts += change is not None and change.kind == "raise"
    per100 = 100.0 / no_change_windows
    print(
        f"   {label}: calibration {t_cal:.1f}s; over {no_change_windows} no-change windows: "
        f"{drifted * per100:.1f} drifted windows and {alerts * per100:.1f} alerts per 100"
    )
    delays: list[int] = []
    moved: dict[str, int] = {}
    for _ in range(trials):
        hyst = Hysteresis(raise_after, clear_after)
        delay = 0
        for i in range(1, 11):
            res = drift.evaluate(
                ref.data, drift.frame(rows.window(weak, window, samples)), ref.columns,
                ref.calibration, min_columns=min_columns,
            )  # fmt: skip
            change = hyst.observe("drift", res.drifted)
            if change is not None and change.kind == "raise":
                delay = i
                for c in res.drifted_columns:
                    moved[c.column] = moved.get(c.column, 0) + 1
                break
        delays.append(delay or 99)
    top = sorted(moved.items(), key=lambda kv: -kv[1])[:6]
    print(
        f"   regression {healthy} -> {weak} over {trials} trials: alert after "
        f"{statistics.mean(delays):.2f} windows (min {min(delays)}, max {max(delays)}; "
        f"99 = not within 10); features named most: {', '.join(f'{c} ({n})' for c, n in top)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer windows")
    parser.add_argument("--swap", action="store_true", help="only 5.: the demo's silent swap")
    args = parser.parse_args()
    settings = load_settings()
    if args.swap:
        swap(settings)
        return
    traffic = RecordedTraffic(settings.gsm8k_path, seed=1)
    screener = Screener.from_files(settings.checks_config, settings.novelty_reference)
    rows = Rows(traffic, Verdicts(screener), seed=2)
    assert HEALTHY in VARIANTS and WEAK in VARIANTS
    print(f"drift_bench: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    if args.quick:
        speed(rows, [1000, 10_000], repeat=2)
        throughput(rows, traffic, [500, 1000])
        print(
            "\n3./4. False alarms and detection delay (hysteresis: raise after 2, resolve after 3)"
        )
        simulate(rows, window=200, reference_rows=1000, resamples=20, no_change_windows=20,
                 trials=3, samples=2, text=False)  # fmt: skip
        return
    speed(rows, [1000, 10_000, 100_000], repeat=3)
    throughput(rows, traffic, [500, 1000, 10_000])
    print("\n3./4. False alarms and detection delay (hysteresis: raise after 2, resolve after 3)")
    # The defaults (VIGIL_MONITOR_*), then the integration tests' smaller windows, then
    # without self-consistency samples (only one output per request).
    simulate(rows, window=500, reference_rows=2500, resamples=40, no_change_windows=100,
             trials=10, samples=2, text=True)  # fmt: skip
    simulate(rows, window=200, reference_rows=1000, resamples=40, no_change_windows=100,
             trials=10, samples=2, text=False)  # fmt: skip
    simulate(rows, window=500, reference_rows=2500, resamples=40, no_change_windows=100,
             trials=10, samples=0, text=True)  # fmt: skip


def swap(settings: VigilSettings) -> None:
    """The demo's silent swap, with the monitor settings ``vigil up --demo`` uses."""
    from vigil.demo import demo_plan
    from vigil.streams.demo_traffic import LOCALES

    demo = demo_plan(settings).settings
    m = demo.monitor
    book = load_replay_book(demo)
    healthy = book.variant(demo.replay_variant).id
    weak = book.variant(demo.replay_swap_variant).id
    traffic = PinnedTraffic(book, (healthy, weak), str(demo.replay_version), seed=1)
    screener = Screener.from_files(demo.checks_config, demo.novelty_reference)
    rows = Rows(traffic, Verdicts(screener), seed=2)
    print(
        f"5. The demo's silent swap, label v{demo.replay_version} unchanged, "
        f"{len(traffic.questions)} questions; 1/{len(LOCALES)} of the traffic by the weaker "
        "model all along (the pronoun-swapped segment)"
    )
    simulate(rows, window=m.window_size, reference_rows=m.reference_rows,
             resamples=m.calibration_resamples, no_change_windows=200, trials=20, samples=0,
             text=m.text_drift, margin=m.threshold_margin, min_columns=m.drift_min_columns,
             raise_after=m.raise_after, clear_after=m.clear_after, healthy=healthy, weak=weak,
             mixed=1 / len(LOCALES))  # fmt: skip


if __name__ == "__main__":
    main()
