"""The risk model's fit and the error rate's interval, on synthetic data with a known answer."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest

from vigil.streams.calibration.features import PER_CHECK, FeatureSpec, spec_for
from vigil.streams.calibration.fit import (
    Labelled,
    decide,
    expected_calibration_error,
    fit_model,
    heldout_group,
    measure,
    model_scorer,
    review_weight,
)
from vigil.streams.calibration.model import PRIOR_VERSION, RiskModel
from vigil.streams.calibration.ppi import LabelSums, Pool, classical, combine, ppi
from vigil.streams.calibration.production import (
    LabelledRow,
    estimate_groups,
    merge_pools,
    window_pools,
)
from vigil_client.contracts import RANDOM_SAMPLE, CheckResult, Evidence


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def _truth(score: float) -> float:
    """The synthetic world: P(wrong) rises with the score of a check named "probe"."""
    return _sigmoid(-3.0 + 5.0 * score)


def _synthetic(n: int, seed: int, *, noise_labels: bool = False) -> list[Labelled]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        score = rng.random()
        checks = (
            CheckResult(check="probe", score=score, flagged=score > 0.7),
            CheckResult(check="noise", score=rng.random(), flagged=False),
        )
        p = 0.3 if noise_labels else _truth(score)
        rows.append(
            Labelled(checks, prior=0.5, wrong=rng.random() < p, weight=1.0, group=f"q{i // 2}")
        )
    return rows


def test_features_follow_whatever_checks_ran() -> None:
    checks = [
        CheckResult(
            check="b",
            score=0.4,
            flagged=True,
            evidence=[Evidence(message="x")],
            first_faulty_step=1,
        ),
        CheckResult(check="a", score=0.2, flagged=False),
    ]
    spec = spec_for([checks])
    assert spec.checks == ("a", "b")
    assert spec.names[:5] == ["prior_logit", "a:score", "a:flagged", "a:evidence", "a:faulty_step"]
    x = spec.vector(checks, prior=0.5)
    assert x == [0.0, 0.2, 0.0, 0.0, 0.0, 0.4, 1.0, math.log(2), 1.0]
    # A check the spec does not know is ignored; one that did not run gives zeros.
    later = FeatureSpec(("a", "z"))
    assert later.vector(checks, prior=0.5)[1 + len(PER_CHECK) :] == [0.0] * len(PER_CHECK)


def test_the_fit_recovers_a_known_risk_curve() -> None:
    fit = fit_model(_synthetic(4000, 1), min_labels=100, min_wrong=10, version="t1")
    model = fit.model
    names = model.spec.names
    coef = dict(zip(names, model.coef, strict=True))
    # The curve is sigmoid(-3 + 5 * score): the fit's probabilities follow it closely.
    for score in (0.1, 0.5, 0.9):
        checks = [CheckResult(check="probe", score=score, flagged=score > 0.7)]
        assert model.p_wrong(checks, 0.5) == pytest.approx(_truth(score), abs=0.08)
    assert abs(coef["noise:score"]) < 0.5
    assert model.heldout.auroc > 0.75 and model.heldout.ece < 0.05
    # The held-out questions are whole questions, the same ones each run.
    held = {r.group for r in fit.heldout}
    assert held.isdisjoint({r.group for r in fit.train})
    assert all(heldout_group(g, 0.3) for g in held)
    # JSON round trip: the stored model predicts the same.
    again = RiskModel.from_json(model.to_json())
    checks = [CheckResult(check="probe", score=0.6, flagged=False)]
    assert again.p_wrong(checks, 0.5) == model.p_wrong(checks, 0.5)


def test_a_worse_fit_is_not_adopted() -> None:
    good = fit_model(_synthetic(3000, 2), min_labels=100, min_wrong=10, version="good").model
    real = fit_model(_synthetic(3000, 4), min_labels=100, min_wrong=10, version="real")
    # A model fitted to noise, judged on the same held-out labels as ``real``: refused.
    noise = fit_model(
        _synthetic(3000, 3, noise_labels=True), min_labels=100, min_wrong=10, version="noise"
    ).model
    scorer = model_scorer(noise)
    noise = dataclasses.replace(
        noise, heldout=measure([scorer(r) for r in real.heldout], real.heldout)
    )
    decision, recorded = decide(dataclasses.replace(real, model=noise), good)
    assert not decision.adopt and "AUROC" in decision.reason
    assert recorded.baseline_version == "good" and recorded.baseline == decision.current
    # A fit as good as the one in use is adopted; against the hand weights (a constant prior
    # here: AUROC 0.5) a real fit is adopted too.
    assert decide(real, good)[0].adopt
    decision, _ = decide(real, None)
    assert decision.adopt and decision.current_version == PRIOR_VERSION


def test_too_few_labels_keep_the_prior() -> None:
    from vigil.streams.calibration.exceptions import NotEnoughLabels

    with pytest.raises(NotEnoughLabels):
        fit_model(_synthetic(50, 5), min_labels=200)


def test_inverse_probability_weights_recover_the_rate_of_all_traffic() -> None:
    """Reviewers see every flagged result but 5 % of the clean ones: unweighted, the labels
    say most answers are wrong; weighted by 1 / P(reviewed), they give the true rate."""
    rng = random.Random(7)
    rate = 0.05
    population, labels = [], []
    for i in range(40_000):
        flagged = rng.random() < 0.15
        wrong = rng.random() < (0.6 if flagged else 0.05)
        population.append(wrong)
        route = "reasoning" if flagged else (RANDOM_SAMPLE if rng.random() < rate else None)
        if route is not None:
            weight = review_weight(route, rate)
            assert weight is not None
            checks = (CheckResult(check="c", score=0.9 if flagged else 0.1, flagged=flagged),)
            labels.append(Labelled(checks, 0.5, wrong, weight, group=f"q{i}"))
    true_rate = sum(population) / len(population)
    naive = sum(r.wrong for r in labels) / len(labels)
    weighted = sum(r.weight * r.wrong for r in labels) / sum(r.weight for r in labels)
    assert naive > 2 * true_rate
    assert weighted == pytest.approx(true_rate, abs=0.01)
    # The fitted model, weighted the same way, is calibrated to all traffic, not the queue.
    fit = fit_model(labels, min_labels=100, min_wrong=10)
    model = fit.model
    clean = [CheckResult(check="c", score=0.1, flagged=False)]
    assert model.p_wrong(clean, 0.5) == pytest.approx(0.05, abs=0.02)
    assert review_weight("drift-alert", rate) is None
    assert review_weight("counterfactual-probe", rate) is None


def test_ece_of_a_calibrated_and_a_miscalibrated_score() -> None:
    rng = random.Random(3)
    p = [rng.random() for _ in range(20_000)]
    y = [rng.random() < q for q in p]
    w = [1.0] * len(p)
    assert expected_calibration_error(p, y, w) < 0.02
    assert expected_calibration_error([min(1.0, q + 0.2) for q in p], y, w) > 0.15


def _population(n: int, seed: int, quality: float) -> tuple[list[float], list[bool]]:
    """Predictions f and outcomes y: y ~ Bernoulli(p), f = p blurred (quality 1: f = p)."""
    rng = random.Random(seed)
    f, y = [], []
    for _ in range(n):
        p = rng.betavariate(1, 6)
        y.append(rng.random() < p)
        f.append(quality * p + (1 - quality) * rng.random() * 0.3)
    return f, y


@pytest.mark.parametrize("quality", [1.0, 0.0])
def test_ppi_covers_the_true_share_at_95_percent(quality: float) -> None:
    f, y = _population(20_000, 11, quality)
    truth = sum(y) / len(y)
    pool = Pool.of(f)
    rng = random.Random(12)
    covered = ppi_width = cls_width = 0.0
    draws = 400
    for _ in range(draws):
        idx = rng.sample(range(len(y)), 300)
        labels = LabelSums.of((1.0 if y[i] else 0.0, f[i]) for i in idx)
        est = ppi(pool, labels)
        base = classical(pool, labels)
        assert est is not None and base is not None
        covered += est.low <= truth <= est.high
        ppi_width += est.width
        cls_width += base.width
    assert 0.92 <= covered / draws <= 0.98
    if quality == 1.0:
        # Y - f keeps the coin flips: what narrows is the variance the model explains.
        assert ppi_width < 0.96 * cls_width
    else:
        assert ppi_width < 1.02 * cls_width  # a useless one costs (almost) nothing


def test_ppi_from_sums_and_strata() -> None:
    # Every result labelled: the estimate is the labels' share, without doubt.
    labels = LabelSums.of([(1.0, 0.2), (0.0, 0.1), (0.0, 0.3), (1.0, 0.9)])
    full = ppi(Pool.of([0.2, 0.1, 0.3, 0.9]), labels)
    assert full is not None and full.value == 0.5 and full.se == 0.0
    assert ppi(Pool.of([0.1]), LabelSums.of([(1.0, 0.1)])) is None  # one label: no variance
    both = combine([full, full])
    assert both is not None and both.n_total == 8 and both.value == 0.5


def test_estimates_per_group_from_window_sums() -> None:
    rows = [
        {
            "risk_score": 0.1,
            "verdict": "clean",
            "risk_version": "v1",
            "model_version": "m1",
            "product": "tutor",
            "segments": {"locale": "de"},
        }
        for _ in range(90)
    ] + [
        {"risk_score": 0.8, "verdict": "queued", "risk_version": "v1", "model_version": "m1"}
        for _ in range(10)
    ]
    pools = window_pools(rows, ["locale"])
    assert pools["v1"]["all"] == {
        "clean": [90, pytest.approx(9.0)],
        "queued": [10, pytest.approx(8.0)],
    }
    merged = merge_pools([pools["v1"], pools["v1"]])
    assert merged["locale=de"]["clean"].n == 180
    labels = [LabelledRow("clean", ("all", "model:m1"), i == 0, 0.1) for i in range(10)]
    labels += [LabelledRow("queued", ("all", "model:m1"), i < 8, 0.8) for i in range(10)]
    found = estimate_groups(merged, labels)
    overall = found["all"].ppi
    assert overall is not None and overall.n_total == 200
    # Clean: 10 % wrong over 180; queued: 80 % over 20 -> 17 %.
    assert overall.value == pytest.approx(0.9 * 0.1 + 0.1 * 0.8, abs=1e-9)
    assert found["all"].reviewed_wrong == pytest.approx(9 / 20)
    assert found["locale=de"].ppi is None  # no label in that segment
    assert found["product:tutor"].model_only == pytest.approx(0.1)
