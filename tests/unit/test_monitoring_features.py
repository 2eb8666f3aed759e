"""Per-result monitoring features and tumbling windows (pure)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest

from vigil.streams.checks.config import load_config
from vigil.streams.checks.registry import build_checks
from vigil.streams.monitoring.features import (
    answer_format,
    extract_features,
    log_magnitude,
    numerical_columns,
    self_consistency,
)
from vigil.streams.monitoring.verdicts import Verdicts
from vigil.streams.monitoring.windows import TumblingWindow
from vigil.streams.triage import Screener
from vigil_client.contracts import InferenceResult

OUTPUT = "She sold 48 / 2 = <<48/2=24>>24 clips in May.\nIn total 48 + 24 = <<48+24=72>>72.\nA: 72"


def result(output: str = OUTPUT, samples: list[str] | None = None, **kw: object) -> InferenceResult:
    fields: dict[str, object] = {
        "request_id": "r1",
        "request_created_at": datetime.now(UTC),
        "prompt": "Natalia sold clips to 48 of her friends in April...",
        "output": output,
        "samples": samples or [],
        "model_name": "replay-reasoner",
        "model_version": "1",
        "latency_ms": 12.5,
        "metadata": {"locale": "en-GB"},
        **kw,
    }
    return InferenceResult.model_validate(fields)


@cache
def _screener() -> Screener:
    """The default checks but the two that take seconds to build (tests of the features)."""
    config = load_config()
    enabled = [n for n in config.checks.enabled if n not in ("novelty", "pii_leakage")]
    config = config.model_copy(
        update={"checks": config.checks.model_copy(update={"enabled": enabled})}
    )
    return Screener(build_checks(config, use_entry_points=False).checks, config)


def features(r: InferenceResult) -> dict[str, Any]:
    [judged] = Verdicts(_screener()).judge([r])
    return extract_features(judged.result, judged.outcome)


def test_features_of_a_result() -> None:
    row = features(result())
    assert row["step_count"] == 2
    assert row["annotation_count"] == 2
    assert row["reasoning_chars"] == len(OUTPUT)
    assert row["answer_format"] == "integer"
    assert row["answer_log_magnitude"] == pytest.approx(math.log10(73))
    assert row["latency_ms"] == 12.5
    assert row["model_version"] == "1"
    assert row["segments"] == {"locale": "en-GB"}
    # The screening checks' scores, one column each, and their summary.
    checks = [c for c in row if c.startswith("check_")]
    assert "check_step_verification" in checks
    assert row["flagged"] == 0.0 and 0.0 <= row["risk_score"] <= 1.0
    assert math.isnan(row["self_consistency"])  # no samples: unknown, not "agrees"
    assert numerical_columns(list(row))[-len(checks) :] == sorted(checks)


def test_a_wrong_step_and_a_missing_answer_show_in_the_features() -> None:
    row = features(result("2 + 2 = <<2+2=5>>5 apples\nso many apples, and then some more"))
    assert row["flagged"] == 1.0 and row["check_step_verification"] >= 0.5
    assert row["answer_format"] == "missing"
    assert math.isnan(row["answer_log_magnitude"])


def test_self_consistency_is_the_share_of_samples_that_agree() -> None:
    agree, disagree = "x\nA: 72", "y\nA: 70"
    assert self_consistency(OUTPUT, [agree, disagree]) == 0.5
    assert self_consistency(OUTPUT, [agree, agree]) == 1.0
    assert self_consistency("no answer", [agree]) == 0.0
    assert features(result(samples=[agree, disagree]))["self_consistency"] == 0.5


@pytest.mark.parametrize(
    ("written", "fmt"),
    [
        ("72", "integer"),
        ("-4", "integer"),
        ("7.5", "decimal"),
        ("90,000", "thousands"),
        ("$5", "currency"),
        ("25%", "percent"),
        ("1/2", "fraction"),
        ("5 apples", "text"),
        (None, "missing"),
    ],
)
def test_answer_formats(written: str | None, fmt: str) -> None:
    assert answer_format(written) == fmt


def test_log_magnitude_keeps_the_sign_and_ignores_non_numbers() -> None:
    assert log_magnitude(-999.0) == pytest.approx(-3.0)
    assert math.isnan(log_magnitude(None))
    assert math.isnan(log_magnitude(math.inf))


def test_count_window_closes_at_its_size_and_keeps_a_bounded_sample() -> None:
    w: TumblingWindow[InferenceResult] = TumblingWindow(size=5, seconds=0, keep_samples=2, seed=1)
    closed = [w.add({"i": i}, result(), now=float(i)) for i in range(12)]
    done = [c for c in closed if c is not None]
    assert [len(c.rows) for c in done] == [5, 5]
    assert all(c.reason == "count" and len(c.samples) == 2 for c in done)
    assert done[0].opened_at == 0.0 and done[1].opened_at == 5.0
    assert len(w) == 2


def test_time_window_closes_when_due_and_an_empty_one_never_does() -> None:
    w: TumblingWindow[InferenceResult] = TumblingWindow(size=0, seconds=10)
    assert not w.due(1000.0) and w.close(1000.0, "time") is None
    w.add({"i": 1}, result(), now=100.0)
    assert not w.due(105.0)
    assert w.due(110.0)
    closed = w.close(110.0, "time")
    assert closed is not None and closed.reason == "time" and len(closed.rows) == 1
    assert not w.due(10_000.0)


def test_a_window_needs_a_limit() -> None:
    with pytest.raises(ValueError, match="size"):
        TumblingWindow(size=0, seconds=0)
