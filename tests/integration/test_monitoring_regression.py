"""Model regression through the real record path: a dedicated Kafka, Redis, Triton (replay
reasoner), gateway and ``vigil monitor``; Triton is restarted with another variant, so this
stack is not the session one.

GSM8K requests (3 self-consistency samples each) are served by 175b_verification until the
reference and two windows are judged, then Triton is restarted serving 6b_finetuning (a new
model version): a drift alert must fire within 2 windows of the switch, naming the features
that moved. Counterfactual probes ride along as shadow requests through the same gateway;
the replay reasoner only knows the recorded questions, so each ends ``failed`` with the
gateway's dead-letter reason: every probe ends in a known state.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator

import pytest
from kafka import KafkaConsumer

from tests.conftest import GPT3_REPLAY, isolated_settings
from vigil.inference.replay_plan import load_replay_book
from vigil.inference.server import triton_process
from vigil.reviewers.redis_server import redis_process
from vigil.settings import VigilSettings
from vigil.streams import topics
from vigil.streams.kafka_broker import broker_process
from vigil.streams.monitoring.store import MonitorStore
from vigil.streams.topics import ensure_topics
from vigil.supervisor import ProcessSpec, Supervisor, marker_ready
from vigil_client.client import VigilClient
from vigil_client.contracts import Alert

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.triton]

W = 200
REFERENCE = 5 * W
APP_ID = "vigil-monitor-regression"
VIGIL = [sys.executable, "-m", "vigil.cli"]


def service(sup: Supervisor, settings: VigilSettings, name: str) -> ProcessSpec:
    return ProcessSpec(
        name=name,
        argv=[*VIGIL, name],
        env={"DO_NOT_TRACK": "1", "PYTHONUNBUFFERED": "1", **settings.as_env()},
        ready=marker_ready(settings.ready_dir, name, lambda: sup.pid(name)),
        ready_timeout_s=120.0,
    )


@pytest.fixture(scope="module")
def regression_stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Supervisor, VigilSettings]]:
    run_dir = tmp_path_factory.mktemp("vigil-monitor-regression")
    settings = isolated_settings(
        run_dir,
        topic_partitions=2,
        **{**GPT3_REPLAY, "replay_variant": "175b_verification"},
        # Every request gets its samples: no budget cut in the middle of the test.
        gateway_extra_samples_per_s=1_000_000.0,
        monitor_app_id=APP_ID,
        monitor_window_size=W,
        monitor_window_s=0.0,
        monitor_min_window_rows=50,
        monitor_reference_rows=REFERENCE,
        monitor_probe_share=0.02,
        monitor_probe_timeout_s=600.0,
        # The replay reasoner answers a name-swapped question from the weakest variant: a
        # model that treats the altered prompt differently, so probes find real changes.
        replay_counterfactual_variant="6b_finetuning",
    )
    with Supervisor(settings.logs_dir, echo=lambda _l: None) as sup:
        sup.start(redis_process(settings))
        sup.start(broker_process(settings))
        ensure_topics(settings.kafka_bootstrap, settings.topic_partitions)
        sup.start(triton_process(settings, VIGIL))
        sup.start(service(sup, settings, "gateway"))
        sup.start(service(sup, settings, "monitor"))
        yield sup, settings


def wait_for(what: str, probe: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def test_a_model_swap_raises_a_drift_alert_within_two_windows(
    regression_stack: tuple[Supervisor, VigilSettings],
) -> None:
    sup, settings = regression_stack
    t0 = time.monotonic()
    store = MonitorStore.connect(settings.redis_connection, APP_ID)
    book = load_replay_book(settings)
    questions = book.questions(settings.replay_variant)
    healthy, weak = (str(book.variant(v).version) for v in ("175b_verification", "6b_finetuning"))
    assert healthy != weak
    sent = 0

    def publish(n: int) -> None:
        nonlocal sent
        with VigilClient(settings.kafka_bootstrap, product="it-regression") as client:
            for i in range(n):
                client.submit(questions[(sent + i * 7) % len(questions)], samples=3)
            client.flush()
        sent += n

    # 175B: the baseline reference, then two judged windows with no alert.
    publish(REFERENCE + 2 * W)
    wait_for("2 windows before the switch", lambda: len(store.window_ids()) >= 2, 300)
    before = store.windows()
    assert len(before) == 2 and [a for a in store.alerts() if a.kind == "drift"] == []
    assert all(w["model_versions"] == {healthy: W} for w in before)

    # The switch: Triton restarted serving 6b_finetuning, a new model version.
    sup.stop("triton")
    sup.start(
        triton_process(settings.model_copy(update={"replay_variant": "6b_finetuning"}), VIGIL)
    )
    t_switch = time.monotonic()
    publish(3 * W)
    wait_for("a drift alert", lambda: any(a.kind == "drift" for a in store.alerts()), 300)
    [alert] = [a for a in store.alerts() if a.kind == "drift"]
    # The monitor publishes a window's alerts, then stores the window (its summary lists them).
    wait_for("the alert's window", lambda: alert.window_id in store.window_ids(50), 60)
    after = sorted(w for w in store.window_ids(50) if w > before[0]["window_id"])
    assert alert.window_id in after[:2], (alert.window_id, after)
    # Within 2 windows of the switch, naming what moved (not only the version label).
    moved = {f.name for f in alert.features}
    assert moved - {"model_version"}, moved
    assert {"self_consistency", "flagged", "answer_format", "check_self_consistency"} & moved
    assert alert.model_versions == [weak]
    # The same record on monitor.alerts.
    consumer = KafkaConsumer(
        topics.ALERTS,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=2000,
    )
    on_kafka = [Alert.from_json(m.value) for m in consumer]
    consumer.close()
    assert [a.alert_id for a in on_kafka if a.kind == "drift"] == [alert.alert_id]

    # Probes: shadow requests through the gateway and the real Triton; every probe ends in a
    # known state, and a rewritten question answered differently is a finding.
    def probes_done() -> bool:
        counts = store.probe_counts()
        ended = sum(v for k, v in counts.items() if k != "sent")
        return counts.get("sent", 0) > 0 and ended == counts["sent"]

    wait_for("every probe to end", probes_done, 120)
    counts = store.probe_counts()
    assert counts.get("changed", 0) >= 1, counts
    # A changed answer is a counterfactual finding: an alert with the probe sampled for review.
    assert any(a.kind != "drift" for a in store.alerts())
    assert counts.get("changed", 0) + counts.get("same", 0) >= counts["sent"] // 2, counts
    failed_reasons = {p.get("reason") for p in store.probes(200) if p.get("state") == "failed"}
    assert failed_reasons <= {"model_error"}, failed_reasons
    print(
        f"\nregression: {sent} requests; alert at window {after.index(alert.window_id) + 1} "
        f"after the switch, {time.monotonic() - t_switch:.0f}s after it; {counts['sent']} probes; "
        f"total {time.monotonic() - t0:.0f}s"
    )
