"""The Kafka topics of the record path, and their explicit creation (auto-create is off).

The names are the SDK's (``vigil_client.topics``): products and server share one source.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from vigil.streams import kafka_clients
from vigil.streams.kafka_clients import KafkaAdminClient, NewTopic, TopicAlreadyExistsError
from vigil_client.security import KafkaSecurity
from vigil_client.topics import (
    ALERTS,
    DECISIONS,
    JUDGEMENTS,
    RELEASES,
    REQUESTS,
    REQUESTS_DLQ,
    RESULTS,
    RESULTS_DLQ,
    REVIEW_EVENTS,
    SCREENED,
    VERIFY,
)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    # Per-request topics are keyed by request_id and spread over partitions (the unit of
    # parallelism: agents keep concurrency 1). Dead letters are rare: one partition keeps order.
    partitioned: bool = True


TOPICS = (
    TopicSpec(REQUESTS),
    TopicSpec(RESULTS),
    TopicSpec(SCREENED),
    TopicSpec(DECISIONS),
    TopicSpec(REVIEW_EVENTS),
    TopicSpec(RELEASES),
    TopicSpec(VERIFY),
    TopicSpec(JUDGEMENTS),
    TopicSpec(REQUESTS_DLQ, partitioned=False),
    TopicSpec(RESULTS_DLQ, partitioned=False),
    TopicSpec(ALERTS, partitioned=False),
)


def _admin(
    bootstrap: str, security: KafkaSecurity | None, timeout_ms: int = 5000
) -> KafkaAdminClient:
    return kafka_clients.admin(
        bootstrap,
        security,
        client_id="vigil-admin",
        bootstrap_timeout_ms=timeout_ms,
        request_timeout_ms=timeout_ms * 2,
    )


def broker_ready(bootstrap: str, security: KafkaSecurity | None = None) -> bool:
    """True once the broker answers metadata requests (not merely accepts TCP)."""
    admin = _admin(bootstrap, security, timeout_ms=2000)
    try:
        admin.list_topics()
        return True
    finally:
        admin.close()


def ensure_topics(
    bootstrap: str, partitions: int, security: KafkaSecurity | None = None
) -> list[str]:
    """Create any missing topic; returns the names created. Idempotent."""
    admin = _admin(bootstrap, security)
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(
                t.name, num_partitions=partitions if t.partitioned else 1, replication_factor=1
            )
            for t in TOPICS
            if t.name not in existing
        ]
        if not wanted:
            return []
        # Another process may win the race: fine, the topic exists.
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics(wanted, timeout_ms=30000)
        return [t.name for t in wanted]
    finally:
        admin.close()
