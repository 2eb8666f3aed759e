"""The gateway under a slow and then a dead Triton, on its own real Kafka + Triton + gateway.

A dedicated :class:`Supervisor` (not the shared session stack, which other tests use): the
replay model gets 20 ms of simulated generation time per call, the gateway small bounds
(4 in flight, 16 pending) so back-pressure shows quickly. The gateway's status file
(``gateway-stats.json``) and the consumer group's committed offsets are what we observe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from tests.conftest import GPT3_REPLAY, isolated_settings
from vigil.inference.replay_data import ReplayBook
from vigil.inference.runner import GROUP_ID, STATS_FILE
from vigil.inference.server import triton_process
from vigil.settings import VigilSettings
from vigil.stack import SERVICE_ENV, VIGIL
from vigil.streams import topics
from vigil.streams.kafka_broker import broker_process
from vigil.streams.topics import ensure_topics
from vigil.supervisor import ProcessSpec, Supervisor, marker_ready
from vigil_client.client import VigilClient
from vigil_client.contracts import DeadLetter

pytestmark = [pytest.mark.kafka, pytest.mark.triton]

MAX_PENDING = 16


@pytest.fixture(scope="module")
def fault_settings(tmp_path_factory: pytest.TempPathFactory) -> VigilSettings:
    return isolated_settings(
        tmp_path_factory.mktemp("vigil-faults"),
        topic_partitions=2,
        replay_delay_ms=20.0,
        gateway_max_in_flight=4,
        gateway_max_pending=MAX_PENDING,
        gateway_batch_size=8,
        gateway_commit_interval_s=0.5,
        gateway_breaker_failures=3,
        gateway_breaker_open_s=0.5,
        gateway_breaker_max_open_s=4.0,
        triton_timeout_s=10.0,
        **GPT3_REPLAY,
    )


def gateway_process(sup: Supervisor, settings: VigilSettings) -> ProcessSpec:
    return ProcessSpec(
        name="gateway",
        argv=[*VIGIL, "gateway"],
        env={**SERVICE_ENV, **settings.as_env()},
        ready=marker_ready(settings.ready_dir, "gateway", lambda: sup.pid("gateway")),
    )


@pytest.fixture(scope="module")
def fault_stack(fault_settings: VigilSettings) -> Iterator[Supervisor]:
    s = fault_settings
    with Supervisor(s.logs_dir) as sup:
        sup.start(broker_process(s))
        ensure_topics(s.kafka_bootstrap, s.topic_partitions)
        sup.start(triton_process(s, VIGIL))
        sup.start(gateway_process(sup, s))
        yield sup


def stats(settings: VigilSettings) -> dict[str, Any]:
    try:
        return dict(orjson.loads((Path(settings.run_dir) / STATS_FILE).read_bytes()))
    except (OSError, orjson.JSONDecodeError):
        return {}


def waiting_in_kafka(settings: VigilSettings) -> int:
    """Requests published but not yet committed by the gateway's group (its lag)."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        committed = admin.list_group_offsets(GROUP_ID).get(GROUP_ID, {})
        tps = consumer.partitions_for_topic(topics.REQUESTS) or set()
        parts = [TopicPartition(topics.REQUESTS, p) for p in tps]
        ends = consumer.end_offsets(parts)
        done = {tp: (committed[tp].offset if tp in committed else 0) for tp in parts}
        return sum(ends[tp] - max(done[tp], 0) for tp in parts)
    finally:
        consumer.close()
        admin.close()


def outcomes(settings: VigilSettings, ids: set[str], timeout_s: float) -> dict[str, list[str]]:
    """request id -> the topics its outputs landed on (one entry per record, duplicates kept)."""
    ended: dict[str, list[str]] = {}
    consumer = KafkaConsumer(
        topics.RESULTS,
        topics.REQUESTS_DLQ,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
        isolation_level="read_committed",
    )
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not ids.issubset(ended):
            for msg in consumer:
                rid = msg.key.decode() if msg.key else None
                if rid in ids:
                    ended.setdefault(rid, []).append(msg.topic)
                if msg.topic == topics.REQUESTS_DLQ and rid in ids:
                    letter = DeadLetter.from_json(msg.value)
                    print(f"dead letter {rid}: {letter.reason} after {letter.attempts} calls:")
                    print(f"    {letter.error}")
    finally:
        consumer.close()
    return ended


def test_a_slow_triton_slows_consumption_and_memory_stays_bounded(
    fault_stack: Supervisor, fault_settings: VigilSettings
) -> None:
    s = fault_settings
    questions = ReplayBook.load(s.gsm8k_path).questions()
    with VigilClient(s.kafka_bootstrap, product="backpressure-it") as client:
        ids = {client.submit(q) for q in questions[:150]}
        client.flush()
    # Triton does ~40 generations/s here; Kafka delivers 150 at once. Watch while it drains.
    max_waiting = 0
    paused_for: set[str] = set()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        st = stats(s)
        if st.get("paused"):
            paused_for.add(st["paused"])
        max_waiting = max(max_waiting, waiting_in_kafka(s))
        if st.get("results", 0) >= len(ids) and not st.get("pending"):
            break
        time.sleep(0.2)
    st = stats(s)
    ended = outcomes(s, ids, timeout_s=60)
    assert set(ended) == ids and all(t == [topics.RESULTS] for t in ended.values())
    assert "pending" in paused_for and st["pauses"] >= 1
    assert st["max_pending_seen"] <= MAX_PENDING  # memory bounded by the setting...
    assert max_waiting > 2 * MAX_PENDING  # ...while the rest waited in Kafka


def test_triton_down_for_30s_under_load_every_request_ends_exactly_once(
    fault_stack: Supervisor, fault_settings: VigilSettings
) -> None:
    s = fault_settings
    questions = ReplayBook.load(s.gsm8k_path).questions()[200:]
    ids: list[str] = []
    stop_publishing = threading.Event()

    def publish() -> None:  # ~10 requests/s for the whole test, the outage included
        with VigilClient(s.kafka_bootstrap, product="faults-it") as client:
            i = 0
            while not stop_publishing.is_set():
                ids.append(client.submit(questions[i % len(questions)], samples=1 + i % 2))
                i += 1
                time.sleep(0.1)
            client.flush()

    publisher = threading.Thread(target=publish)
    publisher.start()
    try:
        time.sleep(4)
        fault_stack.stop("triton")
        down_at = time.monotonic()
        seen: dict[str, Any] = {"breaker": set(), "paused": set(), "max_pending": 0}
        consumed_at_start = stats(s)["consumed"]
        while time.monotonic() - down_at < 30:
            st = stats(s)
            seen["breaker"].add(st.get("breaker"))
            seen["paused"].add(st.get("paused"))
            time.sleep(0.25)
        consumed_during = stats(s)["consumed"] - consumed_at_start
        fault_stack.start(triton_process(s, VIGIL))
        time.sleep(5)
    finally:
        stop_publishing.set()
        publisher.join()

    wanted = set(ids)
    ended = outcomes(s, wanted, timeout_s=180)
    final = stats(s)
    lost = wanted - set(ended)
    assert not lost, f"{len(lost)} of {len(wanted)} request ids never ended"
    both = [rid for rid, where in ended.items() if len(set(where)) > 1]
    assert not both, f"{len(both)} ids ended both as a result and a dead letter"
    dead = [rid for rid, where in ended.items() if where[0] == topics.REQUESTS_DLQ]
    duplicates = sum(len(where) - 1 for where in ended.values())
    print(
        f"\n{len(wanted)} requests: {len(wanted) - len(dead)} results, {len(dead)} dead letters, "
        f"{duplicates} duplicate records; consumed during the outage: {consumed_during}; "
        f"gateway: {final}"
    )
    # While Triton was down the breaker opened and consumption paused: requests waited in
    # Kafka (about 300 were published meanwhile) instead of being dead-lettered.
    assert "open" in seen["breaker"] and "circuit_open" in seen["paused"]
    assert final["breaker_opened"] >= 1 and final["breaker"] == "closed"
    assert final["max_pending_seen"] <= MAX_PENDING
    assert consumed_during < 100
    assert len(dead) <= len(wanted) // 10
