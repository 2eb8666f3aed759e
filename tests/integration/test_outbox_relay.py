"""The outbox relay taking over from a relay that died mid-batch under another consumer name,
on a real Redis and a real Kafka of this module's own.

The dead relay is the relay's own code run in-process as consumer ``relay-old-host`` and
stopped at the two points that matter: after Kafka acknowledged a batch but before the
outbox ack (the ack raises), and after reading a batch but before sending it. A relay under
the stable name then runs its loop in a thread. What reaches Kafka: every outbox entry, once
after dedupe on the ``dedupe`` header, each item's events in order.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NoReturn

import pytest
from kafka import KafkaConsumer, TopicPartition

from tests.conftest import isolated_settings
from tests.redis_fixtures import review_item
from tests.reviewers.helpers import decision, outbox
from vigil.reviewers.queue import ReviewQueue
from vigil.reviewers.redis_server import redis_process
from vigil.settings import VigilSettings
from vigil.streams import topics
from vigil.streams.kafka_broker import broker_process
from vigil.streams.outbox_relay import BATCH, relay_loop, relay_once, relay_producer
from vigil.streams.topics import ensure_topics
from vigil.supervisor import Supervisor
from vigil_client.contracts import ReviewEvent

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

DEAD = "relay-old-host"
# Short, so the test does not wait a minute; only the dead relay's entries are pending.
CLAIM_IDLE_S = 2.0
ITEMS = 20


@pytest.fixture(scope="module")
def relay_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilSettings]:
    settings = isolated_settings(tmp_path_factory.mktemp("relay-run"), topic_partitions=2)
    with Supervisor(settings.logs_dir, echo=lambda _line: None) as sup:
        sup.start(redis_process(settings))
        sup.start(broker_process(settings))
        ensure_topics(settings.kafka_bootstrap, settings.topic_partitions)
        yield settings


class Killed(BaseException):
    """The relay process dying: not an ``Exception``, so nothing on the way catches it."""


def _die(_entry_ids: list[str]) -> NoReturn:
    raise Killed


@dataclass(frozen=True)
class Record:
    topic: str
    key: str
    dedupe: str
    value: bytes


def _read_all(settings: VigilSettings, names: list[str]) -> list[Record]:
    """Every record now on ``names``, per partition in offset order."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    try:
        parts = [
            TopicPartition(t, p)
            for t in names
            for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        got: list[Record] = []
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            assert time.monotonic() < deadline, "could not read the topics to their end"
            for tp, msgs in consumer.poll(timeout_ms=500).items():
                for m in msgs:
                    headers = dict(m.headers)
                    got.append(
                        Record(tp.topic, m.key.decode(), headers["dedupe"].decode(), m.value)
                    )
        return got
    finally:
        consumer.close()


def test_a_relay_under_another_name_publishes_what_a_dead_one_left_once_and_in_order(
    relay_settings: VigilSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = relay_settings
    run = uuid.uuid4().hex[:8]
    queue = ReviewQueue.connect(s.redis_connection, prefix=f"relay-{run}")
    dead_producer = relay_producer(s)

    # 1. The dead relay sent these to Kafka and died before its ack.
    sent = [review_item(f"{run}-sent-{n}") for n in range(ITEMS)]
    queue.enqueue_many(sent)
    with monkeypatch.context() as m:
        m.setattr(queue, "outbox_ack", _die)
        with pytest.raises(Killed):
            relay_once(queue, dead_producer, DEAD, block_ms=100)
    dead_producer.close(timeout=10)
    # 2. ...having read these too, in its next batch, never sent.
    read = [review_item(f"{run}-read-{n}") for n in range(ITEMS)]
    queue.enqueue_many(read)
    assert len(queue.outbox_read(DEAD, count=BATCH, block_ms=100)) == 2 * ITEMS
    # 3. Newer events of those items, that nobody read: they must not overtake step 2's.
    for item in read:
        queue.decide(decision(item, "approve"))
    written = outbox(queue)
    assert queue.outbox_held_elsewhere(s.relay.consumer) == 2 * ITEMS

    stop = threading.Event()
    producer = relay_producer(s)
    relay = threading.Thread(
        target=relay_loop, args=(queue, producer, s.relay.consumer, CLAIM_IDLE_S, stop)
    )
    relay.start()
    try:
        deadline = time.monotonic() + 60
        while queue.outbox_length():
            assert time.monotonic() < deadline, f"{queue.outbox_length()} entries left"
            time.sleep(0.1)
    finally:
        stop.set()
        relay.join(timeout=30)
        producer.close(timeout=10)
    assert not relay.is_alive()
    assert queue.outbox_held_elsewhere(s.relay.consumer) == 0

    records = [
        r for r in _read_all(s, [topics.REVIEW_EVENTS, topics.DECISIONS]) if r.key.startswith(run)
    ]
    # Every entry reached Kafka, on its topic; after dedupe once, and nothing else came.
    assert {(r.topic, r.dedupe) for r in records} == {(e.topic, e.dedupe) for e in written}
    # Only what the dead relay had sent came twice: at-least-once, made exactly-once by dedupe.
    seen: dict[str, int] = {}
    for r in records:
        seen[r.dedupe] = seen.get(r.dedupe, 0) + 1
    twice = {d for d, n in seen.items() if n > 1}
    assert twice == {e.dedupe for e in written if e.key.startswith(f"{run}-sent-")}
    assert max(seen.values()) == 2
    # Each item's events, first copies, in their order (what the rebuild needs).
    first: dict[str, list[int]] = {}
    done: set[str] = set()
    for r in records:
        if r.topic == topics.REVIEW_EVENTS and r.dedupe not in done:
            done.add(r.dedupe)
            first.setdefault(r.key, []).append(ReviewEvent.from_json(r.value).seq)
    assert len(first) == 2 * ITEMS
    assert all(seqs == sorted(seqs) for seqs in first.values()), first
    assert all(len(first[item.request_id]) > 1 for item in read)
