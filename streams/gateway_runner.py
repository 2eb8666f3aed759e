"""The gateway's Kafka side: consume ``llm.requests`` in batches, call the gateway, produce.

Offsets are committed only after every result or dead letter of the batch is acknowledged by
the broker (acks=all, idempotent producer), so a crash re-delivers rather than loses; the
results are keyed by ``request_id``, which consumers use to drop the duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.structs import TopicPartition

from inference.client import ReasonerClient
from inference.gateway import Gateway, Handled
from streams import topics
from vigil.settings import VigilSettings
from vigil.supervisor import mark_ready

log = logging.getLogger("vigil.gateway")

GROUP_ID = "vigil-gateway"


def producer_config(settings: VigilSettings) -> dict[str, object]:
    """Durable producer settings (asserted in tests): acks from every replica, idempotent."""
    return {
        "bootstrap_servers": settings.kafka_bootstrap,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "client_id": "vigil-gateway",
    }


def consumer_config(settings: VigilSettings) -> dict[str, object]:
    return {
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": GROUP_ID,
        "client_id": "vigil-gateway",
        # Commit by hand, after the batch's output is durable.
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": settings.gateway_batch_size,
        # Each batch may wait on Triton; give it room before the group evicts us.
        "max_poll_interval_ms": 300_000,
    }


class _ReadyOnAssign(ConsumerRebalanceListener):
    def __init__(self, settings: VigilSettings) -> None:
        self.settings = settings

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if assigned:
            mark_ready(self.settings.ready_dir, "gateway")


async def _produce(
    producer: AIOKafkaProducer, handled: Handled, record_key: bytes | None
) -> asyncio.Future[object]:
    # A request too broken to carry a request_id keeps the key it was published with.
    key = handled.key.encode() if handled.key else record_key
    if handled.result is not None:
        return await producer.send(topics.RESULTS, handled.result.to_json(), key=key)
    assert handled.dead_letter is not None
    return await producer.send(topics.REQUESTS_DLQ, handled.dead_letter.to_json(), key=key)


async def serve(settings: VigilSettings, stop: asyncio.Event) -> None:
    reasoner = ReasonerClient(
        settings.triton_grpc_url, settings.model_name, timeout_s=settings.triton_timeout_s
    )
    gateway = Gateway(
        reasoner, source_topic=topics.REQUESTS, max_prompt_chars=settings.max_prompt_chars
    )
    consumer = AIOKafkaConsumer(**consumer_config(settings))
    producer = AIOKafkaProducer(**producer_config(settings))
    in_flight = asyncio.Semaphore(settings.gateway_max_in_flight)

    async def bounded(raw: bytes) -> Handled:
        async with in_flight:
            return await gateway.handle(raw)

    await producer.start()
    consumer.subscribe([topics.REQUESTS], listener=_ReadyOnAssign(settings))
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            records = [m for batch in batches.values() for m in batch]
            if not records:
                continue
            handled = await asyncio.gather(*(bounded(m.value or b"") for m in records))
            # Queue every send first, then wait for all acks: no per-message round trip.
            pending = [
                await _produce(producer, h, m.key) for h, m in zip(handled, records, strict=True)
            ]
            await asyncio.gather(*pending)
            await consumer.commit(
                {tp: batch[-1].offset + 1 for tp, batch in batches.items() if batch}
            )
            dead = sum(1 for h in handled if h.dead_letter is not None)
            log.info("batch: %d results, %d dead letters", len(handled) - dead, dead)
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
        with contextlib.suppress(Exception):
            await producer.stop()
        await reasoner.close()


def run_gateway(settings: VigilSettings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    asyncio.run(main())
