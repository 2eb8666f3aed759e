"""Per-segment disparity: four-fifths rule plus a significance test (pure)."""

from __future__ import annotations

import random

from vigil.streams.monitoring.bias import BiasTracker
from vigil_client.contracts import ReviewDecision


def rows(n: int, flag_rate: float, locale: str, rng: random.Random, chars: float = 300.0):
    return [
        {
            "flagged": 1.0 if rng.random() < flag_rate else 0.0,
            "reasoning_chars": rng.gauss(chars, 60.0),
            "segments": {"locale": locale, "plan": rng.choice(["free", "pro"])},
        }
        for _ in range(n)
    ]


def evaluate(tracker: BiasTracker, min_rows: int = 50):
    return tracker.evaluate(alpha=0.001, min_rows=min_rows, ratio_limit=0.8)


def test_a_segment_with_a_much_higher_flag_rate_is_named() -> None:
    rng = random.Random(3)
    tracker = BiasTracker(windows=3)
    for _ in range(3):
        window = rows(150, 0.05, "en-GB", rng) + rows(150, 0.05, "en-US", rng)
        window += rows(150, 0.25, "de-DE", rng)
        tracker.add_window(window)
    found = [f for f in evaluate(tracker) if f.disparate]
    assert [(f.attribute, f.value, f.metric) for f in found] == [("locale", "de-DE", "flag_rate")]
    f = found[0]
    assert f.ratio < 0.8 and f.p_value < 1e-6
    assert f.segment_rows == 450 and f.rest_rows == 900


def test_equal_service_gives_no_finding() -> None:
    rng = random.Random(4)
    tracker = BiasTracker(windows=5)
    for _ in range(5):
        tracker.add_window(
            rows(100, 0.06, "en-GB", rng)
            + rows(100, 0.06, "de-DE", rng)
            + rows(100, 0.06, "fr-FR", rng)
        )
    findings = evaluate(tracker)
    assert findings and not [f for f in findings if f.disparate]


def test_a_small_segment_does_not_alarm_even_at_a_bad_ratio() -> None:
    rng = random.Random(5)
    tracker = BiasTracker(windows=1)
    tracker.add_window(rows(300, 0.05, "en-GB", rng) + rows(12, 0.25, "is-IS", rng))
    findings = evaluate(tracker, min_rows=10)
    small = [f for f in findings if f.value == "is-IS" and f.metric == "flag_rate"]
    # 3 flags in 12 is a ratio far under 0.8, but not significant: no alarm.
    assert small and small[0].ratio < 0.8 and not small[0].disparate
    assert not [f for f in evaluate(tracker, min_rows=50) if f.value == "is-IS"]


def test_much_shorter_answers_for_one_segment_are_a_disparity() -> None:
    rng = random.Random(6)
    tracker = BiasTracker(attributes=["locale"], windows=2)
    for _ in range(2):
        tracker.add_window(rows(200, 0.05, "en-GB", rng) + rows(200, 0.05, "de-DE", rng, chars=150))
    found = {(f.value, f.metric) for f in evaluate(tracker) if f.disparate}
    assert ("de-DE", "answer_length") in found
    # Only the configured attribute is a segment.
    assert all(f.attribute == "locale" for f in evaluate(tracker))


def test_reviewer_overturns_count_per_segment() -> None:
    tracker = BiasTracker(attributes=["locale"], windows=2)

    def decide(locale: str, kind: str) -> None:
        tracker.add_decision(
            ReviewDecision(
                request_id="r",
                decision=kind,  # type: ignore[arg-type]
                reviewer="ann",
                model_name="m",
                model_version="1",
                metadata={"locale": locale},
            )
        )

    for i in range(100):
        decide("en-GB", "correct" if i % 10 == 0 else "approve")
        decide("de-DE", "correct" if i % 2 == 0 else "approve")
        decide("de-DE", "comment")  # not a verdict: not counted
    tracker.add_window([])
    found = [f for f in evaluate(tracker) if f.metric == "overturn_rate"]
    de = next(f for f in found if f.value == "de-DE")
    assert de.segment_rows == 100 and de.segment_value == 0.5 and de.disparate
    assert not next(f for f in found if f.value == "en-GB").disparate


def test_identifier_like_attributes_and_probe_markers_are_not_segments() -> None:
    rng = random.Random(7)
    tracker = BiasTracker(windows=1)
    window = rows(300, 0.05, "en-GB", rng) + rows(300, 0.05, "de-DE", rng)
    for i, row in enumerate(window):
        probe = "gender" if i % 2 else "nationality"
        row["segments"] = {**row["segments"], "user_id": f"u{i}", "vigil_probe": probe}
    tracker.add_window(window)
    assert {f.attribute for f in evaluate(tracker)} == {"locale", "plan"}
