"""The fitted risk model against a real redis-server: settled reviews in, ``vigil calibrate``
fits and adopts, a worse fit is refused, and a running screener follows the model in use."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis
from click.testing import CliRunner

from tests.redis_fixtures import redis_client, redis_server, review_item
from tests.reviewers.helpers import decision
from vigil.cli import main
from vigil.reviewers.queue import ReviewQueue
from vigil.streams.calibration.fit import Labelled, fit_model
from vigil.streams.calibration.model import PRIOR_VERSION
from vigil.streams.calibration.scoring import ModelWatcher
from vigil.streams.calibration.store import RiskModelStore
from vigil.streams.checks.config import ChecksConfig
from vigil.streams.triage import Screener
from vigil_client.contracts import RANDOM_SAMPLE, CheckResult, InferenceResult

__all__ = ["redis_client", "redis_server"]

DB = 7  # a database of its own: `vigil calibrate` uses the default prefix


@pytest.fixture
def db_url(redis_server: str) -> Iterator[str]:
    url = redis_server.rsplit("/", 1)[0] + f"/{DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


def _settle_synthetic(queue: ReviewQueue, n: int, seed: int) -> None:
    """n settled items whose "probe" check score predicts a wrong answer; a third of them are
    the random sample of clean results."""
    rng = random.Random(seed)
    for i in range(n):
        score = rng.random()
        sampled = i % 3 == 0
        item = review_item(
            f"it-{seed}-{i}",
            prompt=f"Question {i // 2}: how many?",
            route=RANDOM_SAMPLE if sampled else "reasoning",
            checks=[
                CheckResult(check="probe", score=score, flagged=score > 0.6),
                CheckResult(check="other", score=rng.random(), flagged=False),
            ],
        )
        queue.enqueue(item)
        wrong = rng.random() < 0.1 + 0.8 * score
        queue.decide(decision(item, "reject" if wrong else "approve", reviewer="r1"))


def test_vigil_calibrate_fits_from_the_review_store_and_adopts(db_url: str) -> None:
    queue = ReviewQueue.connect(db_url)
    _settle_synthetic(queue, 300, seed=1)
    env = {"VIGIL_REDIS_URL": db_url, "VIGIL_CALIBRATION_MIN_LABELS": "100"}
    out = CliRunner().invoke(main, ["calibrate"], env=env)
    assert out.exit_code == 0, out.output
    assert "review store: 300 settled items as labels" in out.output
    assert "before: prior" in out.output and "after:  fit-" in out.output
    assert "adopted fit-" in out.output
    store = RiskModelStore.connect(db_url)
    model = store.current()
    assert model is not None and model.version == store.current_version()
    assert model.spec.checks == ("other", "probe") and model.heldout.auroc > 0.6
    assert model.baseline_version == PRIOR_VERSION and model.n_train > 150
    [entry] = store.log()
    assert entry["adopted"] and entry["version"] == model.version
    # Too few labels: the hand weights stay, and the command says so.
    queue.client.flushdb()
    _settle_synthetic(queue, 20, seed=2)
    out = CliRunner().invoke(main, ["calibrate"], env=env)
    assert out.exit_code == 3 and "not enough labels" in out.output, out.output


def _labels(n: int, seed: int, *, informative: bool) -> list[Labelled]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        score = rng.random()
        p = 0.1 + 0.8 * score if informative else 0.4
        checks = (CheckResult(check="probe", score=score, flagged=False),)
        rows.append(Labelled(checks, 0.5, rng.random() < p, 1.0, f"q{seed}-{i}"))
    return rows


def test_a_worse_fit_is_stored_but_not_adopted(db_url: str) -> None:
    store = RiskModelStore.connect(db_url)
    good = fit_model(_labels(2000, 1, informative=True), min_labels=100, version="good")
    assert store.propose(good).adopt
    assert store.current_version() == "good"
    # Fitted on noise: on its own held-out labels (still informative ones, as production's
    # are), the model in use ranks better; the new one is kept for the record only.
    noise = fit_model(_labels(2000, 2, informative=False), min_labels=100, version="noise")
    real = fit_model(_labels(2000, 3, informative=True), min_labels=100, version="real")
    worse = type(real)(model=noise.model, train=noise.train, heldout=real.heldout)
    decision_ = store.propose(worse)
    assert not decision_.adopt, decision_.reason
    assert store.current_version() == "good"
    assert store.model("noise") is not None  # stored, not used
    newest = store.log()[0]
    assert newest["version"] == "noise" and not newest["adopted"]
    assert [v for v, _ in store.adopted()] == ["good"]


def _result(rid: str) -> InferenceResult:
    now = datetime.now(UTC)
    return InferenceResult(
        request_id=rid,
        request_created_at=now,
        prompt="Tom has 3 apples and buys 4 more. How many apples does he have?",
        output="Tom has 3 + 4 = 8 apples.\nA: 8",
        model_name="m",
        model_version="v",
        latency_ms=1.0,
    )


def test_a_running_screener_follows_the_model_in_use(db_url: str) -> None:
    """What the worker's timer does (streams/screening.py): the next batch after an adoption
    is scored by the new model, without building the checks again; a reset goes back to
    the hand weights."""
    config = ChecksConfig.model_validate(
        {"checks": {"enabled": ["step_verification", "question_coverage"]}}
    )
    screener = Screener.from_config(config, use_entry_points=False)
    store = RiskModelStore.connect(db_url)
    watcher = ModelWatcher(store, screener)
    before = screener.screen(_result("r1")).outcome.risk_score
    assert not watcher.refresh() and screener.risk_version == PRIOR_VERSION
    # A fit over these very checks, adopted while the screener runs.
    outcome = screener.screen(_result("r2")).outcome
    rng = random.Random(4)
    rows = [
        Labelled(
            tuple(
                c.model_copy(update={"score": rng.random()})
                if c.check == "step_verification"
                else c
                for c in outcome.checks
            ),
            0.5,
            rng.random() < 0.5,
            1.0,
            f"q{i}",
        )
        for i in range(400)
    ]
    fit = fit_model(rows, min_labels=100, version="live-1")
    assert store.propose(fit, tolerance=1.0).adopt
    assert watcher.refresh() and screener.risk_version == "live-1"
    after = screener.screen(_result("r3")).outcome.risk_score
    expected = fit.model.p_wrong(outcome.checks, before)
    assert after == expected and after != before
    assert not watcher.refresh()  # nothing new: nothing loaded
    store.reset()
    assert watcher.refresh() and screener.risk_model is None
    assert screener.screen(_result("r4")).outcome.risk_score == before
