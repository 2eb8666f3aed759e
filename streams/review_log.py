"""``vigil rebuild``: the review state rebuilt from ``review.events`` on Kafka.

Reads every partition of the topic from its earliest retained offset up to the end offsets
seen at start (events published meanwhile are left for a later run), then folds them into
Redis with ``reviewers.rebuild``. Run it against an empty Redis (or prefix), e.g. after
losing Redis' data; stop the services that write to the queue while it runs.
"""

from __future__ import annotations

from collections.abc import Iterator

from vigil.reviewers.rebuild import RebuildStats, rebuild_at
from vigil.settings import VigilSettings
from vigil.streams import kafka_clients, topics
from vigil.streams.exceptions import StreamsError
from vigil.streams.kafka_clients import TopicPartition
from vigil_client.security import KafkaSecurity


def read_review_events(
    bootstrap: str, *, security: KafkaSecurity | None = None, timeout_s: float = 60.0
) -> Iterator[bytes]:
    """The values of ``review.events``, partition by partition, oldest first."""
    consumer = kafka_clients.consumer(
        bootstrap,
        security,
        client_id="vigil-rebuild",
        group_id=None,  # a reader, not a member: moves nobody's offsets
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=int(timeout_s * 1000),
    )
    try:
        parts = consumer.partitions_for_topic(topics.REVIEW_EVENTS)
        if not parts:
            raise StreamsError(f"topic {topics.REVIEW_EVENTS} not found on {bootstrap}")
        tps = [TopicPartition(topics.REVIEW_EVENTS, p) for p in sorted(parts)]
        ends = consumer.end_offsets(tps)
        # One partition at a time: an item's events all sit on one (keyed by request id).
        for tp in tps:
            if ends[tp] == 0:
                continue
            consumer.assign([tp])
            consumer.seek_to_beginning(tp)
            if consumer.position(tp) >= ends[tp]:
                continue
            for msg in consumer:
                if msg.value is not None:
                    yield msg.value
                if msg.offset + 1 >= ends[tp]:
                    break
            else:
                raise StreamsError(
                    f"timed out reading {tp.topic}[{tp.partition}] up to offset {ends[tp]}"
                )
    finally:
        consumer.close()


def run_rebuild(
    settings: VigilSettings, *, prefix: str = "vigil", force: bool = False
) -> RebuildStats:
    events = read_review_events(settings.kafka_bootstrap, security=settings.kafka_security)
    return rebuild_at(settings.redis_connection, prefix, events, force=force)
