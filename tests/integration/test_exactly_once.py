"""One request, one result, one outcome: the record path under kill -9, on its own real stack.

Redis, Kafka, Triton (the TensorRT-LLM-shaped replay model), the gateway and the screening
worker; 20,000 requests published up front, some asking for self-consistency samples (half
of those granted, by request id). While they flow, the gateway and the worker are each
killed with SIGKILL three times and restarted. Then, read as Vigil's consumers read
(``read_committed``):

- every request id has exactly one record on ``llm.results`` or ``llm.requests.dlq``: the
  gateway's transactions leave nothing of a killed gateway's unfinished work visible, and
  the requests delivered again produce their outputs once;
- every result has one distinct outcome on ``llm.screened`` (re-deliveries to the worker
  repeat the outcome the id was settled with) or a dead letter, never both; no id is lost;
- the review queue holds exactly the queued and sampled ids.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Iterator

import orjson
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from tests.conftest import GPT3_REPLAY, isolated_settings
from tests.topic_reader import TopicReader
from vigil.inference.runner import GROUP_ID as GATEWAY_GROUP
from vigil.inference.server import triton_process
from vigil.reviewers.queue import ReviewQueue
from vigil.reviewers.redis_server import redis_process
from vigil.settings import VigilSettings
from vigil.stack import VIGIL, service_process
from vigil.streams import topics
from vigil.streams.checks.routing import RANDOM_SAMPLE
from vigil.streams.kafka_broker import broker_process
from vigil.streams.screening import APP_ID as WORKER_GROUP
from vigil.streams.topics import ensure_topics
from vigil.supervisor import Supervisor
from vigil_client.contracts import InferenceRequest, InferenceResult, ScreeningOutcome

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.triton]

TOTAL = 20_000
PREFIX = "once"
WATCHED = (topics.RESULTS, topics.REQUESTS_DLQ, topics.SCREENED, topics.RESULTS_DLQ)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Supervisor, VigilSettings]]:
    settings = isolated_settings(
        tmp_path_factory.mktemp("vigil-exactly-once"),
        topic_partitions=4,
        worker_session_timeout_s=6.0,
        gateway_sample_share=0.5,
        gateway_extra_samples_per_s=10_000.0,
        **GPT3_REPLAY,
    )
    with Supervisor(settings.logs_dir) as sup:
        sup.start(redis_process(settings))
        sup.start(broker_process(settings))
        ensure_topics(settings.kafka_bootstrap, settings.topic_partitions)
        sup.start(triton_process(settings, VIGIL))
        yield sup, settings


def _publish(settings: VigilSettings) -> set[str]:
    rows = [orjson.loads(line) for line in settings.gsm8k_path.read_bytes().splitlines()]
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=20, batch_size=262144
    )
    sent, ids = [], set()
    for i, row in zip(range(TOTAL), itertools.cycle(rows), strict=False):
        request = InferenceRequest(
            request_id=f"{PREFIX}-{i}",
            prompt=row["question"],
            model=settings.trtllm_model_name,
            samples=3 if i % 5 == 0 else 1,
            product="exactly-once",
        )
        ids.add(request.request_id)
        key = request.request_id.encode()
        sent.append(producer.send(topics.REQUESTS, request.to_json(), key=key))
    producer.flush()
    for future in sent:  # flush() does not raise for a failed send
        future.get(timeout=30)
    producer.close()
    return ids


def _uncommitted_results(settings: VigilSettings) -> int:
    """Records on llm.results read without isolation: aborted transactions' ones included."""
    consumer = KafkaConsumer(
        topics.RESULTS,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    try:
        return sum(1 for m in consumer if m.key is not None and m.key.startswith(PREFIX.encode()))
    finally:
        consumer.close()


def _lag(settings: VigilSettings, group: str, topic: str) -> dict[int, int]:
    """Per partition, records past the group's committed offset (commit markers included)."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        committed = admin.list_group_offsets(group).get(group, {})
        parts = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
        ends = consumer.end_offsets(parts)
        return {
            tp.partition: ends[tp] - (committed[tp].offset if tp in committed else 0)
            for tp in parts
        }
    finally:
        consumer.close()
        admin.close()


def _kill9_and_restart(sup: Supervisor, settings: VigilSettings, name: str) -> None:
    pid = sup.pid(name)
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)
    sup.stop(name)  # reaps it (it is dead already)
    sup.start(service_process(sup, settings, name))


def test_kill9_gateway_and_worker_mid_stream_one_result_and_one_outcome_per_id(
    stack: tuple[Supervisor, VigilSettings],
) -> None:
    sup, settings = stack
    t0 = time.monotonic()
    ids = _publish(settings)
    records = TopicReader(settings, WATCHED, PREFIX)
    gateway_out = (topics.RESULTS, topics.REQUESTS_DLQ)
    worker_out = (topics.SCREENED, topics.RESULTS_DLQ)
    try:
        sup.start(service_process(sup, settings, "gateway"))
        sup.start(service_process(sup, settings, "worker"))
        # Alternate: the gateway by its committed results, the worker by its outcomes.
        plan = [(gateway_out, "gateway", 0.1), (worker_out, "worker", 0.2)]
        plan += [(gateway_out, "gateway", 0.35), (worker_out, "worker", 0.45)]
        plan += [(gateway_out, "gateway", 0.6), (worker_out, "worker", 0.7)]
        for names, service, share in plan:
            got = records.wait_for(names, int(share * TOTAL), timeout_s=300)
            assert got >= share * TOTAL, f"stalled at {got} of {TOTAL} before killing {service}"
            _kill9_and_restart(sup, settings, service)
        records.wait_for(worker_out, TOTAL, timeout_s=420)
        results_ended = records.wait_for(gateway_out, TOTAL, timeout_s=30)
        # Both groups commit up to the end of what they read (at most a commit marker
        # short): a commit stuck behind a gap would re-deliver all that follows it.
        deadline = time.monotonic() + 30
        lags: dict[str, dict[int, int]] = {}
        while time.monotonic() < deadline:
            lags = {
                "gateway": _lag(settings, GATEWAY_GROUP, topics.REQUESTS),
                "worker": _lag(settings, WORKER_GROUP, topics.RESULTS),
            }
            if all(n <= 1 for lag in lags.values() for n in lag.values()):
                break
            time.sleep(1)
    finally:
        records.close()
    took = time.monotonic() - t0
    print(f"\n{TOTAL} requests, gateway and worker each killed 3 times: {took:.0f}s")

    by = records.by_topic
    results, request_dlq = by[topics.RESULTS], by[topics.REQUESTS_DLQ]
    screened, results_dlq = by[topics.SCREENED], by[topics.RESULTS_DLQ]
    assert results_ended == TOTAL
    print(f"uncommitted records per partition at the end: {lags}")
    assert all(n <= 1 for lag in lags.values() for n in lag.values()), lags
    assert not request_dlq, f"dead letters at the gateway: {list(request_dlq.items())[:2]}"
    # One committed result per request id, whatever was cut off by the kills.
    assert set(results) == ids
    twice = {rid: len(v) for rid, v in results.items() if len(v) > 1}
    assert not twice, f"{len(twice)} ids with more than one result, e.g. {list(twice.items())[:3]}"
    aborted = _uncommitted_results(settings) - TOTAL
    print(f"results in aborted transactions (invisible to read_committed): {aborted}")
    # The samples decision is the request's: share 0.5 of the k=3 asks got their extras.
    asked = [InferenceResult.from_json(v[0]) for v in results.values()]
    with_samples = [r for r in asked if r.samples_requested == 3]
    granted = sum(1 for r in with_samples if len(r.samples) == 2)
    assert 0.35 < granted / len(with_samples) < 0.65

    # Every result ends screened or dead-lettered, never both, with one distinct outcome.
    assert set(screened) | set(results_dlq) == ids, "results lost between gateway and worker"
    assert not set(screened) & set(results_dlq)
    differing = {rid: len(set(v)) for rid, v in screened.items() if len(set(v)) > 1}
    assert not differing, f"{len(differing)} ids with different outcomes: {list(differing)[:3]}"
    repeated = sum(len(v) - 1 for v in screened.values())
    print(f"outcomes repeated after worker re-deliveries (identical records): {repeated}")

    outcomes = {rid: ScreeningOutcome.from_json(v[0]) for rid, v in screened.items()}
    queued = {rid for rid, o in outcomes.items() if o.verdict == "queued"}
    sampled = {rid for rid, o in outcomes.items() if o.route == RANDOM_SAMPLE}
    assert queued and sampled
    queue = ReviewQueue.connect(settings.redis_connection)
    assert queue.count_pending() == len(queued | sampled)
    for rid in sorted(set(outcomes) - queued - sampled)[:300]:
        assert queue.get(rid) is None
