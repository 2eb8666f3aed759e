"""Drift on recorded GSM8K traffic: pinned Evidently methods, thresholds calibrated on the
reference, the stored reference (pure: no Kafka, no Redis)."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import orjson
import pandas as pd
import pytest
from scipy import stats

from tests.recorded_traffic import RecordedTraffic
from vigil.settings import load_settings
from vigil.streams.monitoring import drift
from vigil.streams.monitoring.exceptions import MonitoringError
from vigil.streams.monitoring.reference import (
    Reference,
    build_reference,
    compared_columns,
    gsm8k_train_rows,
    judged_rows,
)
from vigil.streams.monitoring.verdicts import Verdicts
from vigil.streams.triage import Screener

W = 150
HEALTHY, WEAK = "175b_verification", "6b_finetuning"


@cache
def traffic() -> RecordedTraffic:
    return RecordedTraffic(load_settings().gsm8k_path, seed=11)


@cache
def screener() -> Screener:
    """The worker's checks, as the monitor builds them with the default settings."""
    settings = load_settings()
    return Screener.from_files(settings.checks_config, settings.novelty_reference)


def rows(variant: str, n: int) -> list[dict[str, object]]:
    """Rows judged with an answer history of their own: no test sees what another fed."""
    t = traffic()
    return judged_rows([t.result(variant, samples=2) for _ in range(n)], Verdicts(screener()))


@cache
def reference() -> Reference:
    return build_reference(
        rows(HEALTHY, 5 * W), source="test", window_rows=W, resamples=15, margin=1.25, text=False
    )


def test_scores_are_evidentlys_pinned_methods() -> None:
    ref = reference()
    window = drift.frame(rows(HEALTHY, W))
    scores = drift.raw_scores(ref.frame, window, ref.columns)
    # Wasserstein normed by the reference's std, whatever the window size (no switch to K-S).
    col = "reasoning_chars"
    expected = stats.wasserstein_distance(ref.frame[col], window[col]) / np.std(ref.frame[col])
    assert scores[col] == pytest.approx(expected)
    result = drift.evaluate(ref.frame, window, ref.columns, ref.calibration, min_columns=2)
    assert {c.column: c.score for c in result.columns} == pytest.approx(scores)
    assert {c.method for c in result.columns} == {"wasserstein", "jensenshannon"}
    snapshot = orjson.loads(result.snapshot_json)
    [metric] = snapshot["metrics"]
    assert metric["config"]["type"].endswith(":ColumnDriftScores")
    assert metric["config"]["thresholds"] == pytest.approx(ref.calibration.thresholds)
    # One Evidently test per column: the calibrated threshold, pass/fail in the snapshot.
    assert len(snapshot["tests"]) == len(result.columns)


def test_no_change_windows_stay_quiet_and_the_6b_swap_is_caught() -> None:
    ref = reference()
    for _ in range(5):
        window = drift.frame(rows(HEALTHY, W))
        result = drift.evaluate(ref.frame, window, ref.columns, ref.calibration, min_columns=2)
        assert not result.drifted, [c.column for c in result.drifted_columns]
    window = drift.frame(rows(WEAK, W))
    result = drift.evaluate(ref.frame, window, ref.columns, ref.calibration, min_columns=2)
    moved = [c.column for c in result.drifted_columns]
    assert result.drifted
    # The behaviour moved, not only the version label.
    assert {"self_consistency", "flagged", "answer_format"} & set(moved), moved


def test_evidentlys_default_threshold_would_alarm_on_small_no_change_windows() -> None:
    # Why thresholds are calibrated (stack notes §9): the default 0.1 fires with no change.
    ref = reference()
    window = drift.frame(rows(HEALTHY, W))
    scores = drift.raw_scores(ref.frame, window, ref.columns)
    assert any(s >= 0.1 for c, s in scores.items() if ref.columns.kind(c) == "numerical")
    assert all(scores[c] < t for c, t in ref.calibration.thresholds.items() if c in scores)


def test_thresholds_scale_with_the_window_and_respect_the_floors() -> None:
    cal = reference().calibration
    assert cal.for_rows(W) == cal.thresholds
    small, large = cal.for_rows(W // 4), cal.for_rows(W * 4)
    for column, t in cal.thresholds.items():
        floor = drift.FLOORS[cal.kinds[column]]
        assert small[column] >= t >= large[column] >= floor
    assert drift.Calibration.from_dict(cal.to_dict()) == cal


def test_text_drift_uses_the_fast_absolute_method_with_a_calibrated_auc() -> None:
    # Small on purpose: a text domain classifier per resample is the slow part.
    ref = build_reference(
        rows(HEALTHY, 300), source="test", window_rows=60, resamples=6, margin=1.25, text=True
    )
    assert ref.columns.text == ("prompt", "output")
    cal = ref.calibration
    assert all(0.55 <= cal.thresholds[c] < 1.0 for c in ("prompt", "output"))
    window = drift.frame(rows(HEALTHY, 60))
    result = drift.evaluate(ref.frame, window, ref.columns, cal, min_columns=2)
    methods = {c.column: c.method for c in result.columns}
    assert methods["output"] == "abs_text_content_drift"


def test_the_stored_reference_round_trips() -> None:
    ref = reference()
    again = Reference.from_bytes(ref.to_bytes())
    assert again.columns == ref.columns and again.calibration == ref.calibration
    pd.testing.assert_frame_equal(again.frame, ref.frame, check_dtype=False)
    with pytest.raises(MonitoringError):
        Reference.from_bytes(b"not a reference")


def test_calibration_needs_a_reference_larger_than_the_window() -> None:
    with pytest.raises(MonitoringError, match="twice"):
        build_reference(rows(HEALTHY, 100), source="x", window_rows=80, resamples=5, margin=1.2)


def test_a_gsm8k_train_reference_compares_only_what_human_solutions_have() -> None:
    train_path = load_settings().gsm8k_path.with_name("train.jsonl")
    train = gsm8k_train_rows(train_path, limit=40, verdicts=Verdicts(screener()))
    assert len(train) == 40
    df = drift.frame(train)
    usable = compared_columns(list(df.columns)).usable(df)
    assert "latency_ms" not in usable.names and "model_version" not in usable.names
    assert "self_consistency" not in usable.names
    assert {"step_count", "answer_format", "output"} <= set(usable.names)
    assert all(not math.isnan(v) for v in df["step_count"])


def test_the_html_report_is_evidentlys_data_drift_page() -> None:
    ref = reference()
    html = drift.render_html(ref.frame, drift.frame(rows(WEAK, W)), ref.columns, ref.calibration)
    assert html.lstrip().lower().startswith("<!doctype html") or "<html" in html[:500].lower()
    assert "self_consistency" in html and len(html) > 100_000
