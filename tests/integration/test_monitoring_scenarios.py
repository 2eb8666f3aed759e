"""The monitor as a real process on the session stack's Kafka and Redis.

A dedicated ``vigil monitor`` (own app id, so its own consumer group and Redis namespace)
reads its own results topic, fed with real ``InferenceResult`` records built from the recorded
GSM8K outputs (what the gateway publishes for the replay reasoner; no Triton needed, so the
scenario stays fast). Alerts are read back from the real ``monitor.alerts`` topic and from a
real webhook receiver on 127.0.0.1.

- no change: 175b_verification traffic, 20 windows after the reference: no alert at all;
- equal service across locales (the same 20 windows): no bias finding;
- segment disparity: then de-DE is served by 6b_finetuning: a bias alert names locale=de-DE,
  signed on the webhook, with de-DE samples in the review queue tagged with it.

Plus: the screening worker leaves shadow (probe) results alone.
"""

from __future__ import annotations

import http.server
import itertools
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from tests.recorded_traffic import RecordedTraffic
from vigil.reviewers.queue import ReviewQueue
from vigil.settings import VigilSettings
from vigil.streams import topics
from vigil.streams.monitoring.store import MonitorStore
from vigil.streams.monitoring.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from vigil.supervisor import ProcessSpec, Supervisor, marker_ready
from vigil_client.contracts import (
    PROBE_KEY,
    SHADOW_PRODUCT,
    Alert,
    InferenceResult,
    ScreeningOutcome,
)

W = 200
REFERENCE = 5 * W
QUIET_WINDOWS = 20
LOCALES = ("en-GB", "en-US", "de-DE", "fr-FR")
SECRET = "it-secret"


class Hook(http.server.BaseHTTPRequestHandler):
    bodies: list[tuple[bool, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        ok = verify(
            SECRET, self.headers[TIMESTAMP_HEADER] or "", body, self.headers[SIGNATURE_HEADER] or ""
        )
        Hook.bodies.append((ok, body))
        self.send_response(200 if ok else 401)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def webhook() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/vigil"
    finally:
        server.shutdown()
        server.server_close()


def wait_for(what: str, probe: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def alerts_of(settings: VigilSettings, monitor: str) -> list[Alert]:
    consumer = KafkaConsumer(
        topics.ALERTS,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=2000,
    )
    try:
        found = [Alert.from_json(m.value) for m in consumer]
    finally:
        consumer.close()
    return [a for a in found if a.monitor == monitor]


def test_no_change_gives_no_alert_and_a_served_worse_segment_is_named(
    stack: Supervisor, stack_settings: VigilSettings, webhook: str, tmp_path: Path
) -> None:
    t0 = time.monotonic()
    run = uuid.uuid4().hex[:8]
    app_id = f"it-monitor-{run}"
    source = f"it.monitor.{run}.results"
    admin = KafkaAdminClient(bootstrap_servers=stack_settings.kafka_bootstrap)
    admin.create_topics([NewTopic(source, num_partitions=2, replication_factor=1)])
    admin.close()
    settings = stack_settings.replace(
        run_dir=tmp_path,
        # The stack's Redis login lives in the stack's run folder, not in this one.
        redis_username=stack_settings.redis_connection.username,
        redis_password=stack_settings.redis_connection.password,
        monitor_app_id=app_id,
        monitor_source_topic=source,
        monitor_window_size=W,
        monitor_window_s=0.0,
        monitor_min_window_rows=50,
        monitor_reference_rows=REFERENCE,
        monitor_bias_attributes=["locale"],
        monitor_probe_share=0.0,
        monitor_webhook_urls=[webhook],
        monitor_webhook_secret=SECRET,
    )
    store = MonitorStore.connect(settings.redis_connection, app_id)
    queue = ReviewQueue.connect(settings.redis_connection)
    traffic = RecordedTraffic(settings.gsm8k_path, seed=23)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5)
    locales = itertools.cycle(LOCALES)

    def publish(n: int, weak_locale: str | None = None) -> None:
        for _ in range(n):
            locale = next(locales)
            variant = "6b_finetuning" if locale == weak_locale else "175b_verification"
            r = traffic.result(
                variant, samples=2, product="it-monitor", metadata={"locale": locale}
            )
            producer.send(source, r.to_json(), key=r.request_id.encode())
        producer.flush()

    with Supervisor(settings.logs_dir, echo=lambda _l: None) as sup:
        sup.start(
            ProcessSpec(
                name="monitor",
                argv=[sys.executable, "-m", "vigil.cli", "monitor"],
                env={"DO_NOT_TRACK": "1", "PYTHONUNBUFFERED": "1", **settings.as_env()},
                ready=marker_ready(settings.ready_dir, "monitor", lambda: sup.pid("monitor")),
            )
        )
        # No change, equal service: the reference, then 20 windows.
        publish(REFERENCE + QUIET_WINDOWS * W)
        wait_for("20 windows", lambda: len(store.window_ids(100)) >= QUIET_WINDOWS, 240)
        quiet = store.windows(100)
        assert store.reference_meta()["rows"] == REFERENCE  # type: ignore[index]
        assert alerts_of(settings, app_id) == [] and store.alerts() == []
        assert all(w["judged"] and not any(b["disparate"] for b in w["bias"]) for w in quiet)
        drifted_windows = sum(w["drift"]["drifted"] for w in quiet)
        assert Hook.bodies == []
        t_quiet = time.monotonic() - t0

        # de-DE now served by the weaker variant.
        publish(6 * W, weak_locale="de-DE")
        wait_for(
            "a bias alert",
            lambda: any(a.kind == "bias" for a in store.alerts()),
            240,
        )
    producer.close()
    bias = [a for a in alerts_of(settings, app_id) if a.kind == "bias"]
    assert bias, "the bias alert is not on monitor.alerts"
    named = {(a.segment.attribute, a.segment.value) for a in bias if a.segment}
    assert named == {("locale", "de-DE")}
    first = bias[0]
    assert first.status == "raised" and first.segment is not None
    assert first.segment.ratio < 0.8 and first.segment.p_value < 0.001
    # Signed, Slack-compatible, on the webhook.
    assert any(ok and first.alert_id.encode() in body for ok, body in Hook.bodies)
    assert all(ok for ok, _ in Hook.bodies)
    for rid in first.sample_request_ids:
        item = queue.get(rid)
        assert item is not None and item.alert_id == first.alert_id
        assert item.metadata["locale"] == "de-DE"
    print(
        f"\nmonitor scenarios: {QUIET_WINDOWS} quiet windows ({drifted_windows} drifted, 0 alerts) "
        f"in {t_quiet:.0f}s; bias alert after {time.monotonic() - t0 - t_quiet:.0f}s more"
    )


def test_screening_leaves_shadow_probe_results_to_the_monitor(
    stack: Supervisor, stack_settings: VigilSettings
) -> None:
    s = stack_settings
    traffic = RecordedTraffic(s.gsm8k_path, seed=3)
    shadow = traffic.result(
        "6b_finetuning",
        samples=0,
        product=SHADOW_PRODUCT,
        metadata={PROBE_KEY: "gender", "vigil_probe_of": "x"},
    )
    shadow = shadow.model_copy(update={"request_id": f"probe-{uuid.uuid4().hex}"})
    normal = traffic.result("175b_verification", samples=0, product="it-monitor")
    producer = KafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all")
    for r in (shadow, normal):
        producer.send(topics.RESULTS, r.to_json(), key=r.request_id.encode())
    producer.flush()
    producer.close()
    seen: dict[str, ScreeningOutcome] = {}
    consumer = KafkaConsumer(
        topics.SCREENED,
        bootstrap_servers=s.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    deadline = time.monotonic() + 120
    settle_until: float | None = None
    try:
        while time.monotonic() < deadline:
            for m in consumer:
                outcome = ScreeningOutcome.from_json(m.value)
                seen[outcome.request_id] = outcome
            if normal.request_id in seen and settle_until is None:
                settle_until = time.monotonic() + 3.0  # the other partition had its chance
            if settle_until is not None and time.monotonic() > settle_until:
                break
    finally:
        consumer.close()
    assert normal.request_id in seen
    assert shadow.request_id not in seen
    assert ReviewQueue.connect(s.redis_connection).get(shadow.request_id) is None
    assert isinstance(shadow, InferenceResult)
