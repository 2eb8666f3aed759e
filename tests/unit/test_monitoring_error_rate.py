"""The monitor's error-rate estimate end to end on recorded GSM8K traffic, with a real
redis-server for its store and the review queue: each window stores what it screened, the
settled reviews of its results correct the risk scores, a rise raises one alert, and
``vigil monitor-report`` prints the estimate."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import redis
from click.testing import CliRunner

from tests.redis_fixtures import redis_client, redis_server
from tests.reviewers.helpers import decision
from tests.unit.test_monitoring_monitor import HEALTHY, Recorder, W, traffic, worker_screener
from vigil.cli import main
from vigil.reviewers.queue import ReviewQueue
from vigil.settings import CalibrationSettings, MonitorSettings
from vigil.streams import review_items
from vigil.streams.monitoring.monitor import Monitor
from vigil.streams.monitoring.store import MonitorStore
from vigil.streams.triage import Triage
from vigil_client.contracts import RANDOM_SAMPLE

__all__ = ["redis_client", "redis_server"]

STEP = 100.0  # fake seconds per window


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def _window(
    monitor: Monitor, queue: ReviewQueue, clock: Clock, wrong_share: Callable[[int], bool]
) -> list[str]:
    """One window of healthy traffic; ten of its clean results (the random sample) and ten
    queued ones are settled by reviewers, ``wrong_share(i)`` saying which are found wrong."""
    results = [traffic().result(HEALTHY) for _ in range(W)]
    screened = monitor.verdicts.screener.screen_batch(results)
    chosen = {"clean": 0, "queued": 0}
    clock.now += STEP
    at = datetime.fromtimestamp(clock.now, UTC)
    for result, t in zip(results, screened, strict=True):
        assert isinstance(t, Triage)
        verdict = t.outcome.verdict
        if chosen[verdict] >= 10:
            continue
        route = RANDOM_SAMPLE if verdict == "clean" else "reasoning"
        item = review_items.review_item(
            result, t.outcome.checks, risk_score=t.outcome.risk_score, route=route, tags=[]
        ).model_copy(update={"enqueued_at": at})
        queue.enqueue(item)
        kind = "reject" if wrong_share(chosen[verdict]) else "approve"
        queue.decide(decision(item, kind, reviewer="r1"))
        chosen[verdict] += 1
    out = []
    for report in await monitor.on_results(results):
        out += [f"{a.kind}:{a.status}" for a in report.alerts]
    return out


async def test_the_error_rate_is_estimated_per_window_and_a_rise_raises_an_alert(
    redis_server: str, redis_client: redis.Redis
) -> None:
    app_id = f"err-{uuid.uuid4().hex[:8]}"
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    store = MonitorStore(redis_client, app_id)  # the CLI's namespace: prefix "vigil"
    queue = ReviewQueue(redis_client, prefix=prefix)
    config = MonitorSettings(
        app_id=app_id, window_size=W, window_s=0, min_window_rows=50, reference_rows=5 * W,
        calibration_resamples=10, text_drift=False, probe_share=0.0, raise_after=2,
        bias_attributes=["locale"],
    )  # fmt: skip
    calibration = CalibrationSettings(lookback_s=100 * STEP, recent_s=2.5 * STEP)
    clock = Clock()
    publisher = Recorder()
    monitor = Monitor(
        config, store, queue, publisher, worker_screener(), calibration=calibration, clock=clock
    )
    await monitor.start()
    for _ in range(5):  # the baseline
        assert await _window(monitor, queue, clock, lambda i: False) == []
    # Reviewers find 1 in 10 wrong, then 9 in 10: one alert, once the rise is clear.
    alerts = []
    for _ in range(4):
        alerts += await _window(monitor, queue, clock, lambda i: i == 0)
    assert alerts == []
    latest = store.windows(1)[0]
    block = latest["error_rate"]
    overall = block["groups"][0]
    assert overall["group"] == "all" and overall["screened"] == 4 * W
    assert overall["labelled"] == 80 and block["model"] == {"version": "prior"}
    assert 0.05 < overall["ppi"]["value"] < 0.2  # 10 % of the reviewed, both strata
    assert overall["ppi"]["low"] <= 0.1 <= overall["ppi"]["high"]
    assert overall["classical"]["value"] == overall["ppi"]["value"] or overall["ppi"]["lam"] > 0
    assert f"model:{traffic().result(HEALTHY).model_version}" in [
        g["group"] for g in block["groups"]
    ]
    for _ in range(3):
        alerts += await _window(monitor, queue, clock, lambda i: i < 9)
    assert alerts == ["error_rate:raised"], alerts
    [alert] = publisher.alerts
    assert alert.kind == "error_rate" and "Error rate rose" in alert.title
    assert store.windows(1)[0]["error_rate"]["risen"]
    # The estimate is in `vigil monitor-report` too.
    env = {"VIGIL_REDIS_URL": redis_server, "VIGIL_MONITOR_APP_ID": app_id}
    listing = CliRunner().invoke(main, ["monitor-report"], env=env)
    assert listing.exit_code == 0, listing.output
    assert "error rate at w" in listing.output and "RISEN" in listing.output
    assert "error_rate" in listing.output  # the alert line
