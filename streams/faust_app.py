"""The settings every Vigil Faust app shares, and the raw topics they read and write.

Apps are built by their process's entry point, never at import: a Faust app belongs to one
event loop and opens sockets when it starts, so importing a module must not make one.

- ``at_least_once``: offsets are committed after an agent is done with a message, so a crash
  re-delivers rather than loses; consumers dedupe by request id. Agents run with
  concurrency 1 (Faust can commit past an unfinished message otherwise, stack notes #606):
  scale by partitions and worker processes instead.
- ``producer_acks=-1``: a record counts as sent once every in-sync replica has it.
- Commits every second: bounds what a crash re-delivers.
- ``earliest``: a new consumer group starts from the beginning of its topics, so nothing
  written before the app first ran is skipped.
- ``read_committed``: the gateway writes ``llm.results`` in transactions; what a killed
  gateway left in an aborted one is never read. Faust reads committed only under its own
  ``exactly_once`` guarantee (which would also make its commits transactional), so the
  apps' transport sets the isolation level of the consumer it builds.
- ``memory://`` store: tables are rebuilt from their changelog topics (Kafka is the record).
- No web server: readiness is a file (``vigil.supervisor.mark_ready``), not an HTTP port.

Topics are raw bytes in and out: values are validated by the pydantic contracts in our code
(a Faust Record would fail to deserialize bad input before our code could dead-letter it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any, cast

import faust
from faust.transport.consumer import Consumer
from faust.transport.drivers import aiokafka as faust_kafka
from faust.types import TP

from vigil.settings import VigilSettings
from vigil.streams import kafka_clients
from vigil_client.security import KafkaSecurity

ISOLATION_LEVEL = "read_committed"


class _ReadCommittedThread(faust_kafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka hands this to its fetcher in start(), which has not run yet.
        consumer._isolation_level = ISOLATION_LEVEL
        return consumer


class _ReadCommittedConsumer(faust_kafka.Consumer):
    def _new_consumer_thread(self) -> faust_kafka.AIOKafkaConsumerThread:
        return _ReadCommittedThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_kafka.Transport):
    Consumer = _ReadCommittedConsumer


class VigilApp(faust.App):
    """A Faust app whose agents read only committed records."""

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)


def new_app(app_id: str, settings: VigilSettings, **overrides: Any) -> faust.App:
    """A Faust app with the shared settings; ``overrides`` are an app's own (Faust keywords)."""
    conf: dict[str, Any] = {
        "broker": f"kafka://{settings.kafka_bootstrap}",
        # Every client Faust makes (consumer, producer, its admin) logs in with these.
        "broker_credentials": broker_credentials(settings.kafka_security),
        "store": "memory://",
        "web_enabled": False,
        "processing_guarantee": "at_least_once",
        "consumer_auto_offset_reset": "earliest",
        "topic_partitions": settings.topic_partitions,
        "producer_acks": -1,
        "broker_commit_interval": 1.0,
    }
    conf.update(overrides)
    return VigilApp(app_id, **conf)


def broker_credentials(security: KafkaSecurity) -> Any:
    """The settings' Kafka security as Faust's credentials (None: an open broker).

    Faust derives the protocol from the credentials: SASL with an SSL context is SASL_SSL,
    without one SASL_PLAINTEXT; an SSL context alone is SSL."""
    context = security.ssl_context()
    if security.sasl:
        return faust.SASLCredentials(
            username=security.sasl_username,
            password=security.sasl_password.get_secret_value(),
            ssl_context=context,
            mechanism=security.sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def check_broker_access(settings: VigilSettings) -> None:
    """Log in once before a Faust app starts: a refused login or TLS handshake raises
    ``KafkaConnectError`` now, with what was tried, where Faust would retry it in its
    background tasks."""
    admin = kafka_clients.admin(settings.kafka_bootstrap, settings.kafka_security)
    try:
        admin.list_topics()
    finally:
        admin.close()


def raw_topic(app: faust.App, name: str) -> Any:
    """Topic ``name`` with bytes keys and values, passed through unparsed."""
    return app.topic(
        name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )


class ProgressCommitter:
    """Commits what an agent has finished, by the offset guard's count (``OffsetGuard.done``
    passes each batch's next offsets: contiguous, since the guard fills every hole), at most
    every ``interval_s``.

    Faust's own commits cannot be relied on for this: it commits a partition only up to the
    end of a run of acknowledged offsets, and steps over offsets it was never handed only
    where it saw the jump itself. Where a consumer resumes past its committed offset (the
    records the guard reads back), it never sees the jump, and its commits for that partition
    stop for good (faust-streaming 0.15 ``Consumer._new_offset``): in the kill -9 test three
    of four partitions were 1,700-2,400 records behind at the end, and every restart
    re-delivers all of that. Faust's commit timer still runs; a commit of ours moves its
    committed offset on, so it never commits behind us.
    """

    def __init__(self, app: faust.App, interval_s: float) -> None:
        self.app = app
        self.interval_s = interval_s
        self._pending: dict[tuple[str, int], int] = {}
        self._due = 0.0
        # The agent's and the timer's flushes, one at a time: a commit never goes backwards.
        self._lock = asyncio.Lock()

    def reset(self) -> None:
        """An assignment: what was pending may belong to another member now."""
        self._pending.clear()

    async def __call__(self, following: Mapping[tuple[str, int], int]) -> None:
        self._pending.update(following)
        if time.monotonic() >= self._due:
            await self.flush()

    async def flush(self) -> None:
        """Commit what is pending now (also from a timer: the last batches before a quiet
        spell must not wait for the next batch)."""
        async with self._lock:
            await self._flush()

    async def _flush(self) -> None:
        self._due = time.monotonic() + self.interval_s
        if not self._pending:
            return
        consumer = cast(Consumer, self.app.consumer)
        offsets = {
            TP(topic, partition): offset
            for (topic, partition), offset in self._pending.items()
            if consumer._should_commit(TP(topic, partition), offset)
        }
        self._pending.clear()
        if offsets:
            # Flushes the producer, commits what is still assigned, updates Faust's own
            # committed offsets (and its tables' bookkeeping) as Faust's commits do.
            await consumer._commit_offsets(offsets)
