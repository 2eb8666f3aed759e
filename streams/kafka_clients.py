"""The kafka-python clients of ``streams/`` (topic creation, the relay, the offset guard, the
CLI readers), made here and only here, each with the settings' Kafka security applied.

The other modules of the package import the kafka-python names they need from this one, so
a client can not be made without the security settings (TLS, SASL) by mistake. A broker that
refuses the credentials, or a TLS handshake that fails, surfaces as
:class:`~vigil_client.exceptions.KafkaConnectError` at once, not as a bootstrap retried until
its timeout.
"""

from __future__ import annotations

from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from vigil_client.security import KafkaSecurity, explain_kafka_errors

__all__ = [
    "KafkaAdminClient",
    "KafkaConsumer",
    "KafkaError",
    "KafkaProducer",
    "NewTopic",
    "TopicAlreadyExistsError",
    "TopicPartition",
    "admin",
    "consumer",
    "producer",
]


def _options(
    bootstrap: str, security: KafkaSecurity | None, config: dict[str, Any]
) -> dict[str, Any]:
    return {
        "bootstrap_servers": bootstrap,
        **(security or KafkaSecurity()).kafka_python_kwargs(),
        **config,
    }


def consumer(
    bootstrap: str, security: KafkaSecurity | None, *topics: str, **config: Any
) -> KafkaConsumer:
    """A KafkaConsumer (``config``: kafka-python's keywords) subscribed to ``topics``."""
    with explain_kafka_errors(bootstrap, security or KafkaSecurity()):
        return KafkaConsumer(*topics, **_options(bootstrap, security, config))


def producer(bootstrap: str, security: KafkaSecurity | None, **config: Any) -> KafkaProducer:
    with explain_kafka_errors(bootstrap, security or KafkaSecurity()):
        return KafkaProducer(**_options(bootstrap, security, config))


def admin(bootstrap: str, security: KafkaSecurity | None, **config: Any) -> KafkaAdminClient:
    with explain_kafka_errors(bootstrap, security or KafkaSecurity()):
        return KafkaAdminClient(**_options(bootstrap, security, config))
