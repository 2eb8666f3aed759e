"""The screening worker under faults, on a dedicated real Kafka and Redis (not the session stack).

- kill -9 of the worker three times while it works through 20,000 pre-produced results:
  every result id still ends on ``llm.screened`` or the dead-letter topic, with one verdict,
  and the review queue holds exactly one item per queued id;
- a check plugin that raises dead-letters only the results it raised on (``check_failed``,
  naming the plugin), and the worker goes on;
- Redis down for a few seconds: results wait and retry instead of being dead-lettered;
- records the consumer skipped (a hole in a partition's offsets) are read back in order.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.structs import OffsetAndMetadata

from tests.conftest import free_port
from tests.topic_reader import TopicReader
from vigil.reviewers.queue import ReviewQueue
from vigil.reviewers.redis_server import redis_process
from vigil.settings import VARIANTS, VigilSettings, load_settings
from vigil.streams import topics
from vigil.streams.checks.base import BaseCheck, CheckInput
from vigil.streams.checks.routing import RANDOM_SAMPLE
from vigil.streams.kafka_broker import broker_process
from vigil.streams.offset_guard import Hole, HoleReader, OffsetGuard, OffsetTracker
from vigil.streams.topics import ensure_topics
from vigil.supervisor import ProcessSpec, Supervisor, marker_ready
from vigil_client.contracts import CheckResult, DeadLetter, InferenceResult, ScreeningOutcome

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

EXPLODE = "[explode]"
TOTAL = 20_000


class ExplodingCheck(BaseCheck):
    """A third-party check with a bug: it raises on prompts carrying the marker."""

    name = "exploding"

    def check(self, item: CheckInput) -> CheckResult:
        if EXPLODE in item.result.prompt:
            raise RuntimeError("plugin bug")
        return CheckResult(check=self.name, score=0.0, flagged=False)


def make_exploding_check(options: Mapping[str, Any]) -> ExplodingCheck:
    return ExplodingCheck()


@pytest.fixture(scope="module")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Supervisor, VigilSettings]]:
    run_dir: Path = tmp_path_factory.mktemp("vigil-screening-faults")
    config = run_dir / "checks.toml"
    config.write_text(
        "[checks.plugins]\n"
        'exploding = "tests.integration.test_screening_faults:make_exploding_check"\n'
    )
    settings = load_settings(
        run_dir=run_dir,
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        kafka_controller_port=free_port(),
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        topic_partitions=4,
        checks_config=str(config),
        worker_session_timeout_s=6.0,
        worker_queue_retry_s=120.0,
    )
    with Supervisor(settings.logs_dir) as sup:
        sup.start(redis_process(settings))
        sup.start(broker_process(settings))
        ensure_topics(settings.kafka_bootstrap, settings.topic_partitions)
        yield sup, settings


def _worker_spec(sup: Supervisor, settings: VigilSettings) -> ProcessSpec:
    return ProcessSpec(
        name="worker",
        argv=[sys.executable, "-m", "vigil.cli", "worker"],
        env={"DO_NOT_TRACK": "1", "PYTHONUNBUFFERED": "1", **settings.as_env()},
        ready=marker_ready(settings.ready_dir, "worker", lambda: sup.pid("worker")),
        ready_timeout_s=120.0,
        cwd=Path(__file__).resolve().parents[2],
    )


def _results(settings: VigilSettings, prefix: str, n: int) -> list[InferenceResult]:
    """Real recorded GSM8K outputs, the other variants as the k samples; 1 % explode."""
    rows = [orjson.loads(line) for line in settings.gsm8k_path.read_bytes().splitlines()]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    out = []
    for i, (row, variant) in enumerate(zip(itertools.cycle(rows), itertools.cycle(VARIANTS))):
        if i == n:
            break
        prompt = row["question"] + (f" {EXPLODE}" if i % 100 == 7 else "")
        out.append(
            InferenceResult(
                request_id=f"{prefix}-{i}",
                created_at=start + timedelta(milliseconds=i),
                request_created_at=start,
                prompt=prompt,
                output=row[variant]["solution"],
                samples=[row[v]["solution"] for v in VARIANTS if v != variant],
                model_name="replay-reasoner",
                model_version=variant,
                latency_ms=12.0,
            )
        )
    return out


def _produce(settings: VigilSettings, results: list[InferenceResult], garbage: int = 0) -> None:
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=20, batch_size=262144
    )
    sent = [producer.send(topics.RESULTS, r.to_json(), key=r.request_id.encode()) for r in results]
    for i in range(garbage):
        sent.append(producer.send(topics.RESULTS, b"{not json", key=f"garbage-{i}".encode()))
    producer.flush()
    # flush() does not raise for a failed send: each delivery is checked, so that a result
    # missing at the end is the worker's doing, not the producer's.
    for future in sent:
        future.get(timeout=30)
    producer.close()


class Outcomes(TopicReader):
    """llm.screened and the results DLQ, parsed: request id -> records."""

    def __init__(self, settings: VigilSettings, prefix: str) -> None:
        self.screened: dict[str, list[ScreeningOutcome]] = defaultdict(list)
        self.dead: dict[str, list[DeadLetter]] = defaultdict(list)
        super().__init__(settings, (topics.SCREENED, topics.RESULTS_DLQ), prefix)

    def keep(self, topic: str, rid: str, value: bytes) -> None:
        if topic == topics.SCREENED:
            self.screened[rid].append(ScreeningOutcome.from_json(value))
        else:
            self.dead[rid].append(DeadLetter.from_json(value))

    def done(self) -> int:
        with self.lock:
            return len(set(self.screened) | set(self.dead))

    def wait_for_outcomes(self, count: int, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while self.done() < count and time.monotonic() < deadline:
            time.sleep(0.2)
        return self.done()


def _kill9(sup: Supervisor, name: str) -> None:
    pid = sup.pid(name)
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)
    sup.stop(name)  # reaps it (it is dead already)


def test_kill9_worker_three_times_loses_nothing_and_queues_once(
    infra: tuple[Supervisor, VigilSettings],
) -> None:
    sup, settings = infra
    t0 = time.monotonic()
    results = _results(settings, "kill", TOTAL)
    _produce(settings, results, garbage=5)
    ids = {r.request_id for r in results}
    exploding = {r.request_id for r in results if EXPLODE in r.prompt}
    outcomes = Outcomes(settings, "kill")
    try:
        sup.start(_worker_spec(sup, settings))
        for kill, share in enumerate((0.15, 0.4, 0.65), 1):
            got = outcomes.wait_for_outcomes(int(share * TOTAL), timeout_s=240)
            assert got >= share * TOTAL, f"stalled at {got} of {TOTAL} before kill {kill}"
            _kill9(sup, "worker")
            sup.start(_worker_spec(sup, settings))
        outcomes.wait_for_outcomes(TOTAL, timeout_s=300)
    finally:
        outcomes.close()
    print(f"\n20k results with 3 kill -9: {time.monotonic() - t0:.0f}s")

    ended = set(outcomes.screened) | set(outcomes.dead)
    missing = ids - ended
    assert not missing, f"{len(missing)} results lost, e.g. {sorted(missing)[:5]}"
    # Exactly one final state per id: dead-lettered ones were never screened and vice versa.
    assert not set(outcomes.screened) & set(outcomes.dead)
    assert set(outcomes.dead) == exploding
    for rid in exploding:
        letter = outcomes.dead[rid][0]
        assert letter.reason == "check_failed" and "exploding" in (letter.error or "")
    # Re-delivered results got the verdict they got the first time.
    for rid, records in outcomes.screened.items():
        assert len({r.verdict for r in records}) == 1, f"{rid}: {[r.verdict for r in records]}"
    redelivered = sum(len(v) - 1 for v in outcomes.screened.values())
    print(f"re-delivered outcomes (deduped by request id): {redelivered}")

    queue = ReviewQueue.connect(settings.redis_connection)
    queued = {rid for rid, r in outcomes.screened.items() if r[0].verdict == "queued"}
    assert queued, "the checks queued nothing"
    # Clean results sampled for review (the default 2 %) are in the queue too, verdict clean.
    sampled = {rid for rid, r in outcomes.screened.items() if r[0].route == RANDOM_SAMPLE}
    assert sampled and not sampled & queued
    assert all(outcomes.screened[rid][0].verdict == "clean" for rid in sampled)
    assert queue.count_pending() == len(queued) + len(sampled)
    for rid in sorted(queued | sampled)[:: max(1, len(queued) // 200)]:
        item = queue.get(rid)
        assert item is not None and item.request_id == rid and item.route is not None
    for rid in sorted(set(outcomes.screened) - queued - sampled)[:200]:
        assert queue.get(rid) is None


def test_redis_down_for_a_moment_delays_results_instead_of_dead_lettering_them(
    infra: tuple[Supervisor, VigilSettings],
) -> None:
    from vigil.reviewers.redis_server import redis_process as redis_spec

    sup, settings = infra
    if sup.pid("worker") is None:
        sup.start(_worker_spec(sup, settings))
    results = [r for r in _results(settings, "outage", 600) if EXPLODE not in r.prompt]
    outcomes = Outcomes(settings, "outage")
    try:
        sup.stop("redis")
        _produce(settings, results)
        time.sleep(4.0)  # the worker meets the outage: it must wait, not dead-letter
        with outcomes.lock:
            dead_during = dict(outcomes.dead)
        sup.start(redis_spec(settings))
        outcomes.wait_for_outcomes(len(results), timeout_s=180)
    finally:
        outcomes.close()
    assert not dead_during
    assert not outcomes.dead, {k: v[0].reason for k, v in list(outcomes.dead.items())[:5]}
    assert {r.request_id for r in results} <= set(outcomes.screened)
    queue = ReviewQueue.connect(settings.redis_connection)
    queued = [rid for rid, r in outcomes.screened.items() if r[0].verdict == "queued"]
    assert queued and all(queue.get(rid) is not None for rid in queued)


def _one_partition_of_records(settings: VigilSettings, topic: str) -> None:
    """``topic`` with one partition holding ``r0`` to ``r9`` at offsets 0 to 9."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    for future in [producer.send(topic, f"r{i}".encode()) for i in range(10)]:
        future.get(timeout=30)
    producer.close()


def test_records_the_consumer_skipped_are_read_back_in_order(
    infra: tuple[Supervisor, VigilSettings],
) -> None:
    """The worker's guard against Faust skipping a record (streams/offset_guard.py): where a
    partition's records do not follow on from the committed offset or from each other, the
    missing ones come back from Kafka, in order."""
    _, settings = infra
    topic, group = "offset-guard-test", "offset-guard-group"
    _one_partition_of_records(settings, topic)

    reader = HoleReader(settings.kafka_bootstrap, group)
    part = (topic, 0)
    tracker = OffsetTracker()
    tracker.start(part, reader.committed(part))  # no committed offset yet: the log start
    holes, following = tracker.plan([(part, 0), (part, 1), (part, 4), (part, 5)])
    assert holes == [Hole(topic, 0, 2, 4)]
    assert reader.read(holes[0]) == [b"r2", b"r3"]
    tracker.commit(following)

    # After an assignment the group resumes at its committed offset; a first record past it
    # means the consumer skipped the one at it.
    committer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group)
    committer.commit({TopicPartition(topic, 0): OffsetAndMetadata(6, "", -1)})
    committer.close()
    tracker.reset()
    tracker.start(part, reader.committed(part))
    holes, _ = tracker.plan([(part, 7), (part, 8)])
    assert holes == [Hole(topic, 0, 6, 7)]
    assert reader.read(holes[0]) == [b"r6"]
    reader.close()


@dataclass
class _Message:
    tp: TopicPartition
    offset: int


@dataclass
class _Event:
    """The parts of a Faust event the guard reads."""

    message: _Message
    value: bytes


def test_the_guard_puts_skipped_records_back_in_their_place(
    infra: tuple[Supervisor, VigilSettings],
) -> None:
    """What the screening agent calls (``OffsetGuard``), on the batches a consumer that
    skipped records would hand it: the batch's values come back complete and in order."""
    _, settings = infra
    topic, group = "offset-guard-batches", "offset-guard-batches-group"
    _one_partition_of_records(settings, topic)
    tp = TopicPartition(topic, 0)

    def batch(*offsets: int) -> list[_Event]:
        return [_Event(_Message(tp, o), f"r{o}".encode()) for o in offsets]

    async def scenario() -> None:
        finished: list[dict[tuple[str, int], int]] = []

        async def on_done(following: dict[tuple[str, int], int]) -> None:
            finished.append(following)

        guard = OffsetGuard(settings.kafka_bootstrap, group, topic, on_done)
        await guard.on_assigned([tp, TopicPartition("another-topic", 0)])
        guarded = await guard.values_of(batch(0, 1, 4, 5))
        assert guarded.values == [b"r0", b"r1", b"r2", b"r3", b"r4", b"r5"]
        # Not screened (a retry): the same batch finds the same hole again.
        assert (await guard.values_of(batch(0, 1, 4, 5))) == guarded
        await guard.done(guarded)
        assert finished == [{(topic, 0): 6}]  # all of 0-5 finished, the hole included
        assert (await guard.values_of(batch(5, 6))).values == [b"r5", b"r6"]  # a re-delivery

        committer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group)
        committer.commit({tp: OffsetAndMetadata(7, "", -1)})
        committer.close()
        await guard.on_assigned([tp])  # resumes at 7: a first record at 8 skipped one
        assert (await guard.values_of(batch(8, 9))).values == [b"r7", b"r8", b"r9"]
        guard.close()

    asyncio.run(scenario())


def test_transaction_markers_and_aborted_records_are_gaps_with_nothing_to_read(
    infra: tuple[Supervisor, VigilSettings],
) -> None:
    """The gateway writes llm.results in transactions: each commit marker takes an offset
    that no consumer is handed, and an aborted transaction's records are not read (read
    committed). The guard reads such a gap once and finds nothing to screen."""
    _, settings = infra
    topic, group = "offset-guard-txn", "offset-guard-txn-group"
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    admin.close()
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, transactional_id="offset-guard-txn"
    )
    producer.init_transactions()
    for value, commit in ((b"t0", True), (b"aborted", False), (b"t4", True)):
        producer.begin_transaction()
        producer.send(topic, value).get(timeout=30)
        if commit:
            producer.commit_transaction()
        else:
            producer.abort_transaction()
    producer.close()
    # t0 at 0, its marker at 1, the aborted record at 2 and its marker at 3, t4 at 4.
    tp = TopicPartition(topic, 0)

    async def scenario() -> None:
        guard = OffsetGuard(settings.kafka_bootstrap, group, topic)
        await guard.on_assigned([tp])
        events = [_Event(_Message(tp, 0), b"t0"), _Event(_Message(tp, 4), b"t4")]
        guarded = await guard.values_of(events)
        assert guarded.values == [b"t0", b"t4"]
        assert guarded.following == {(topic, 0): 5}
        assert guarded.holes == [Hole(topic, 0, 1, 4)]
        guard.close()

    asyncio.run(scenario())
