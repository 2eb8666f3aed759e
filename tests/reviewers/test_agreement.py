"""Agreement statistics (pure), checked against published worked examples."""

from __future__ import annotations

import pytest

from vigil.reviewers.agreement import (
    agreement_report,
    cohen_kappa,
    format_report,
    krippendorff_alpha,
)


def test_cohen_kappa_textbook_example() -> None:
    # 50 items: both yes 20, A yes/B no 5, A no/B yes 10, both no 15 -> p_o 0.7, p_e 0.5.
    pairs = [("y", "y")] * 20 + [("y", "n")] * 5 + [("n", "y")] * 10 + [("n", "n")] * 15
    assert cohen_kappa(pairs) == pytest.approx(0.4)
    assert cohen_kappa([("a", "a"), ("b", "b")]) == pytest.approx(1.0)
    assert cohen_kappa([("a", "a"), ("a", "a")]) is None  # one label only: undefined
    assert cohen_kappa([]) is None


def test_krippendorff_alpha_nominal_worked_example() -> None:
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 coders, 12 units
    # with missing values; nominal alpha = 0.743.
    units = [
        [1, 1, 1],
        [2, 2, 3, 2],
        [3, 3, 3, 3],
        [3, 3, 3, 3],
        [2, 2, 2, 2],
        [1, 2, 3, 4],
        [4, 4, 4, 4],
        [1, 1, 2, 1],
        [2, 2, 2, 2],
        [5, 5, 5],
        [1, 1],
        [3],
    ]
    alpha = krippendorff_alpha([[str(v) for v in u] for u in units])
    assert alpha == pytest.approx(0.743, abs=0.0005)
    assert krippendorff_alpha([["a", "a"], ["a", "a"]]) is None
    assert krippendorff_alpha([["a"]]) is None


def test_report_per_reviewer_pair_and_check() -> None:
    ratings = {
        "1": {"labels": {"ann": "approve", "bob": "approve"}, "checks": ["arithmetic"]},
        "2": {"labels": {"ann": "correct", "bob": "correct"}, "checks": ["arithmetic", "pii"]},
        "3": {"labels": {"ann": "approve", "bob": "reject"}, "checks": ["pii"]},
        "4": {"labels": {"ann": "reject", "cy": "reject"}, "checks": []},
        "5": {"labels": {"ann": "approve"}, "checks": []},  # one rater: not a unit
    }
    report = agreement_report(ratings)
    assert report.items == 4 and report.disagreements == 1
    assert report.items_by_check == {"arithmetic": 2, "pii": 2}
    assert report.alpha_by_check["arithmetic"] == pytest.approx(1.0)
    assert set(report.kappa_by_pair) == {("ann", "bob"), ("ann", "cy")}
    assert report.pairs_by_reviewer == {"ann": 4, "bob": 3, "cy": 1}
    assert report.kappa_by_reviewer["cy"] is None  # one pair, one label
    assert report.alpha is not None and 0 < report.alpha < 1
    text = format_report(report)
    assert "Krippendorff" in text and "ann / bob" in text
