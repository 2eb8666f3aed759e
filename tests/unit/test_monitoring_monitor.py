"""The monitor's logic end to end on recorded GSM8K traffic, with a real redis-server for its
store and the review queue; Kafka is replaced by a recording publisher (the Kafka side is
tested in tests/integration/test_monitoring_*.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from tests.recorded_traffic import RecordedTraffic
from tests.redis_fixtures import redis_client, redis_server
from vigil.cli import main
from vigil.reviewers.queue import ReviewQueue
from vigil.settings import MonitorSettings, load_settings
from vigil.streams.monitoring.monitor import Monitor, sample_item
from vigil.streams.monitoring.probes import counterfactuals
from vigil.streams.monitoring.store import MonitorStore
from vigil.streams.monitoring.verdicts import Judged
from vigil.streams.triage import Screener, Triage
from vigil_client.contracts import (
    PROBE_KEY,
    SHADOW_PRODUCT,
    Alert,
    DeadLetter,
    InferenceRequest,
    InferenceResult,
)

__all__ = ["redis_client", "redis_server"]

HEALTHY, WEAK = "175b_verification", "6b_finetuning"
W = 100


@cache
def traffic() -> RecordedTraffic:
    return RecordedTraffic(load_settings().gsm8k_path, seed=5)


@pytest.fixture(autouse=True)
def _same_traffic_whatever_ran_before() -> None:
    """Every test draws the same questions, whichever tests (here or in modules importing
    ``traffic``) drew from the shared generator before it."""
    traffic().rng.seed(5)


@cache
def worker_screener() -> Screener:
    """The checks as the worker builds them with the default settings (one build: seconds)."""
    settings = load_settings()
    return Screener.from_files(settings.checks_config, settings.novelty_reference)


@dataclass
class Recorder:
    alerts: list[Alert] = field(default_factory=list)
    requests: list[InferenceRequest] = field(default_factory=list)

    async def alert(self, alert: Alert) -> None:
        self.alerts.append(alert)

    async def request(self, request: InferenceRequest) -> None:
        self.requests.append(request)


@dataclass
class Rig:
    store: MonitorStore
    queue: ReviewQueue
    publisher: Recorder
    make: Callable[..., Monitor]


@pytest.fixture
def rig(redis_client: redis.Redis) -> Iterator[Rig]:
    prefix = f"t-{uuid.uuid4().hex[:10]}"
    store = MonitorStore(redis_client, "mon", prefix=prefix)
    queue = ReviewQueue(redis_client, prefix=prefix)
    publisher = Recorder()

    def make(
        clock: Callable[[], float] | None = None,
        screener: Screener | None = None,
        **overrides: object,
    ) -> Monitor:
        fields: dict[str, object] = {
            "app_id": "mon",
            "window_size": W,
            "window_s": 0.0,
            "min_window_rows": 50,
            "reference_rows": 5 * W,
            "calibration_resamples": 15,
            "text_drift": False,
            "probe_share": 0.0,
            "raise_after": 2,
            "clear_after": 2,
            "alert_samples": 3,
            "bias_attributes": ("locale",),
            "bias_windows": 3,
            "bias_min_rows": 30,
        }
        fields.update(overrides)
        kw = {"clock": clock} if clock else {}
        assert set(fields) <= set(MonitorSettings.model_fields), fields  # no typo ignored
        config = MonitorSettings.model_validate(fields)
        checks = screener or worker_screener()
        return Monitor(config, store, queue, publisher, checks, **kw)  # type: ignore[arg-type]

    yield Rig(store, queue, publisher, make)


async def feed(monitor: Monitor, variant: str, n: int, batch: int = 50, **kw: object) -> list[str]:
    """Feed n results in batches; returns the alert transitions of the windows they closed."""
    out = []
    results = [traffic().result(variant, **kw) for _ in range(n)]  # type: ignore[arg-type]
    for start in range(0, n, batch):
        for report in await monitor.on_results(results[start : start + batch]):
            out += [f"{a.kind}:{a.status}" for a in report.alerts]
    return out


async def test_a_model_swap_raises_one_drift_alert_and_routes_samples_to_review(rig: Rig) -> None:
    monitor = rig.make()
    await monitor.start()
    assert await feed(monitor, HEALTHY, 5 * W) == []  # the baseline: no window judged
    meta = rig.store.reference_meta()
    assert meta is not None and meta["source"] == "baseline" and meta["rows"] == 5 * W
    assert await feed(monitor, HEALTHY, 3 * W) == []
    # 175B -> 6B: raised at the 2nd drifted window, then quiet however long it lasts.
    assert await feed(monitor, WEAK, W) == []
    assert await feed(monitor, WEAK, W) == ["drift:raised"]
    assert await feed(monitor, WEAK, 2 * W) == []
    [alert] = rig.publisher.alerts
    moved = [f.name for f in alert.features]
    assert {"self_consistency", "flagged", "answer_format"} & set(moved), moved
    weak_version = traffic().version(WEAK)
    assert alert.model_versions == [weak_version] and alert.window_rows == W
    # Its samples are in the review queue, tagged with the alert.
    assert len(alert.sample_request_ids) == 3
    for rid in alert.sample_request_ids:
        item = rig.queue.get(rid)
        assert item is not None and item.alert_id == alert.alert_id and "drift" in item.tags
        assert item.model_version == weak_version
    assert alert.links[0].endswith(f"?item={alert.sample_request_ids[0]}")
    # Back to 175B: resolved once, same alert id.
    assert await feed(monitor, HEALTHY, 2 * W) == ["drift:resolved"]
    assert rig.publisher.alerts[-1].alert_id == alert.alert_id
    # Everything is stored for the console.
    windows = rig.store.windows(100)
    assert len(windows) == 9 and windows[0]["window_id"] > windows[-1]["window_id"]
    weak = [w for w in windows if w["model_versions"] == {weak_version: W}]
    assert len(weak) == 4 and all(w["drift"]["drifted"] for w in weak)
    assert rig.store.snapshot(windows[0]["window_id"])
    assert [a.status for a in rig.store.alerts()] == ["resolved"]  # one record per alert id


async def test_a_restarted_monitor_keeps_its_reference_and_raised_alerts(rig: Rig) -> None:
    first = rig.make()
    await first.start()
    await feed(first, HEALTHY, 5 * W)
    assert await feed(first, WEAK, 2 * W) == ["drift:raised"]
    second = rig.make()
    await second.start()
    assert second.reference is not None and second.baseline == []
    assert second.reference.calibration == first.reference.calibration  # type: ignore[union-attr]
    # Still drifted after the restart: no second alert for the same shift.
    assert await feed(second, WEAK, 2 * W) == []
    assert len(rig.publisher.alerts) == 1


async def test_a_segment_served_worse_raises_a_bias_alert_naming_it(rig: Rig) -> None:
    monitor = rig.make(raise_after=1)
    await monitor.start()
    await feed(monitor, HEALTHY, 5 * W, metadata={"locale": "en-GB"})
    transitions = []
    for i in range(4 * W):
        weak = i % 3 == 0
        r = traffic().result(
            WEAK if weak else HEALTHY, metadata={"locale": "de-DE" if weak else "en-GB"}
        )
        for report in await monitor.on_results([r]):
            transitions += [a for a in report.alerts if a.kind == "bias"]
    assert transitions, "no bias alert"
    first = transitions[0]
    assert first.segment is not None
    assert (first.segment.attribute, first.segment.value) == ("locale", "de-DE")
    assert first.segment.ratio < 0.8 and first.segment.p_value < 0.001
    for rid in first.sample_request_ids:
        item = rig.queue.get(rid)
        assert item is not None and item.metadata["locale"] == "de-DE"
        assert item.alert_id == first.alert_id


async def test_probes_go_out_as_shadow_requests_and_end_in_a_known_state(rig: Rig) -> None:
    now = [1000.0]
    monitor = rig.make(clock=lambda: now[0], probe_share=1.0, probe_timeout_s=60.0)
    await monitor.start()
    # A question with names and pronouns, so that several axes apply.
    prompt = next(q for q in traffic().questions if len(counterfactuals(q)) == 3)
    original = traffic().result(HEALTHY, question=prompt, samples=0)
    await monitor.on_results([original])
    sent = rig.publisher.requests
    assert sent and all(r.product == SHADOW_PRODUCT and PROBE_KEY in r.metadata for r in sent)
    # Shadow results are never product traffic: not in the baseline, not in a window.
    assert len(monitor.baseline) == 1
    changed, same, failed, *_ = [*sent, None, None, None]

    def shadow(req: InferenceRequest, output: str) -> InferenceResult:
        return InferenceResult(
            request_id=req.request_id,
            request_created_at=req.created_at,
            prompt=req.prompt,
            output=output,
            model_name="replay-reasoner",
            model_version="1",
            latency_ms=3.0,
            product=SHADOW_PRODUCT,
            metadata=req.metadata,
        )

    await monitor.on_results([shadow(changed, "Different.\nA: -1")])
    await monitor.on_results([shadow(changed, "Re-delivered.\nA: -1")])  # counted once
    assert len(monitor.baseline) == 1
    states = {p["probe_id"]: p["state"] for p in rig.store.probes()}
    assert states == {changed.request_id: "changed"}
    item = rig.queue.get(changed.request_id)
    assert item is not None and "counterfactual" in item.tags and item.samples == [original.output]
    [alert] = [a for a in rig.publisher.alerts if a.kind == "counterfactual"]
    assert item.alert_id == alert.alert_id and changed.metadata[PROBE_KEY] in alert.title
    if same is not None:
        await monitor.on_results([shadow(same, original.output)])
        assert rig.store.probe(same.request_id)["state"] == "same"  # type: ignore[index]
        assert rig.queue.get(same.request_id) is None
    if failed is not None:
        letter = DeadLetter(
            request_id=failed.request_id,
            source_topic="llm.requests",
            stage="gateway",
            reason="model_error",
            payload="{}",
        )
        await monitor.on_dead_letter(letter)
        probe = rig.store.probe(failed.request_id)
        assert probe is not None and probe["state"] == "failed" and probe["reason"] == "model_error"
    # A probe that never gets an answer expires.
    await monitor.on_results([traffic().result(HEALTHY, question=prompt, samples=0)])
    late = rig.publisher.requests[-1]
    now[0] += 61.0
    await monitor.tick()
    assert rig.store.probe(late.request_id)["state"] == "expired"  # type: ignore[index]
    assert rig.store.pending_probes(now[0]) == []
    counts = rig.store.probe_counts()
    assert counts["sent"] == len(rig.publisher.requests) and counts["changed"] == 1


async def test_a_time_window_closes_on_the_clock_and_a_short_one_is_not_judged(rig: Rig) -> None:
    now = [0.0]
    monitor = rig.make(clock=lambda: now[0], window_size=0, window_s=60.0, min_window_rows=50)
    await monitor.start()
    await feed(monitor, HEALTHY, 5 * W // 5 * 5)
    await feed(monitor, HEALTHY, 20)
    now[0] += 61
    report = await monitor.tick()
    assert report is not None and report.summary["closed_by"] == "time"
    assert report.summary["rows"] == 20 and not report.summary["judged"]
    await feed(monitor, HEALTHY, 120)
    now[0] += 61
    report = await monitor.tick()
    assert (
        report is not None and report.summary["judged"] and not report.summary["drift"]["drifted"]
    )


async def test_html_is_rendered_when_asked_for(rig: Rig) -> None:
    monitor = rig.make()
    await monitor.start()
    await feed(monitor, HEALTHY, 6 * W)
    [window] = rig.store.window_ids()
    rig.store.request_html(window)
    await monitor.tick()
    html = rig.store.html(window)
    assert html is not None and "reasoning_chars" in html
    assert rig.store.html_requests() == []


async def test_monitor_report_lists_windows_and_writes_a_windows_html(
    redis_server: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    app_id = f"report-{uuid.uuid4().hex[:8]}"
    store = MonitorStore(redis_client, app_id)  # the CLI's namespace: prefix "vigil"
    config = MonitorSettings(
        app_id=app_id, window_size=W, window_s=0, min_window_rows=50, reference_rows=5 * W,
        calibration_resamples=10, text_drift=False, probe_share=0.0,
    )  # fmt: skip
    monitor = Monitor(config, store, None, Recorder(), worker_screener())
    await monitor.start()
    await feed(monitor, HEALTHY, 5 * W)
    await feed(monitor, WEAK, 2 * W)
    env = {"VIGIL_REDIS_URL": redis_server, "VIGIL_MONITOR_APP_ID": app_id}
    listing = CliRunner().invoke(main, ["monitor-report"], env=env)
    assert listing.exit_code == 0, listing.output
    assert "reference: baseline, 500 rows" in listing.output
    assert "w00000002" in listing.output and "raised   drift" in listing.output
    out = tmp_path / "w2.html"
    one = CliRunner().invoke(main, ["monitor-report", "w00000002", "--html", str(out)], env=env)
    assert one.exit_code == 0, one.output
    assert '"drifted": true' in one.output and out.stat().st_size > 100_000
    missing = CliRunner().invoke(main, ["monitor-report", "w99999999"], env=env)
    assert missing.exit_code == 1


# The worker's checks changed by VIGIL_CHECKS_CONFIG: self-consistency off, other weights.
CHANGED_CHECKS = """
[checks]
enabled = ["step_verification", "question_coverage", "answer_stability"]
[risk]
default_weight = 0.1
[risk.weights]
step_verification = 0.35
question_coverage = 0.9
answer_stability = 0.8
"""


async def test_flags_and_risk_are_the_worker_screeners_under_a_changed_config(
    rig: Rig, tmp_path: Path
) -> None:
    path = tmp_path / "checks.toml"
    path.write_text(CHANGED_CHECKS)
    novelty = load_settings().novelty_reference
    # Built as streams/monitoring/agent.py builds the monitor's: the worker's call, same file.
    monitor = rig.make(screener=Screener.from_files(str(path), novelty))
    worker = Screener.from_files(str(path), novelty)
    await monitor.start()
    # Wrong and right answers, with samples, and a prompt answered twice, differently.
    first = traffic().result(WEAK)
    again = first.model_copy(update={"request_id": "asked-again", "output": "So.\nA: 999999"})
    results = [
        *(traffic().result(v) for v in (HEALTHY, WEAK, HEALTHY, WEAK) for _ in range(10)),
        first,
        again,
    ]
    await monitor.on_results(results)
    assert [r["request_id"] for r in monitor.baseline] == [r.request_id for r in results]
    outcomes = worker.screen_batch(results)
    assert all(isinstance(o, Triage) for o in outcomes)
    expected = [o.outcome for o in outcomes if isinstance(o, Triage)]
    for row, outcome in zip(monitor.baseline, expected, strict=True):
        assert row["flagged"] == float(any(c.flagged for c in outcome.checks))
        assert row["risk_score"] == outcome.risk_score
        assert {k for k in row if k.startswith("check_")} == {
            "check_step_verification",
            "check_question_coverage",
            "check_answer_stability",
        }
    # The config matters: the built-in checks and weights give other risks.
    builtin = [o for o in worker_screener().screen_batch(results) if isinstance(o, Triage)]
    assert [o.outcome.risk_score for o in builtin] != [r["risk_score"] for r in monitor.baseline]
    assert any(r["flagged"] for r in monitor.baseline)
    assert monitor.baseline[-1]["check_answer_stability"] == 1.0  # its one earlier answer


def test_an_alert_sample_is_masked_for_roles_without_pii_access() -> None:
    result = traffic().result(HEALTHY)
    prompt = "Ask Ann at ann.lee@example.com or +44 20 7946 0958. " + result.prompt
    output = "Reply to ann.lee@example.com, call +44 20 7946 0958\n" + result.output
    result = result.model_copy(update={"prompt": prompt, "output": output})
    [judged] = [t for t in worker_screener().screen_batch([result]) if isinstance(t, Triage)]
    item = sample_item(Judged(result, judged.outcome), "alert-1", "drift")
    assert (item.alert_id, item.route, item.prompt, item.output) == (
        "alert-1", "drift-alert", prompt, output
    )  # fmt: skip
    for masked in (item.redacted_prompt, item.redacted_output):
        assert masked is not None
        assert "ann.lee@example.com" not in masked and "7946 0958" not in masked
        assert "<EMAIL_ADDRESS>" in masked and "<PHONE_NUMBER>" in masked
