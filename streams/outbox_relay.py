"""Publishes the review outbox (a Redis stream written by the same Lua script as each state
change) to Kafka: ``review.events``, ``review.decisions`` and ``review.releases``, keyed by
``request_id``, at-least-once, with the outbox dedupe key as the ``dedupe`` header.

An entry is acknowledged in Redis only after the broker acknowledged the record (acks=all,
idempotent producer), so a crash re-sends instead of losing; consumers dedupe on the key.
Entries go out in outbox order, so an item's events keep their order on its partition.

The same process runs the review SLA clock (reviewers/sla.py) in a thread: it only talks to
Redis, and its breaches and fallback releases come out through this outbox.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time

from kafka import KafkaProducer

from reviewers.queue import ReviewQueue
from reviewers.sla import run_sla_clock
from vigil.settings import VigilSettings
from vigil.supervisor import mark_ready

log = logging.getLogger("vigil.relay")


def relay_producer(settings: VigilSettings) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="vigil-relay",
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
    )


def relay_once(queue: ReviewQueue, producer: KafkaProducer, consumer: str, block_ms: int) -> int:
    """Moves one batch from the outbox to Kafka; returns how many entries were published."""
    entries = queue.outbox_read(consumer, count=500, block_ms=block_ms)
    if not entries:
        return 0
    futures = [
        producer.send(
            e.topic,
            value=e.value,
            key=e.key.encode(),
            headers=[("dedupe", e.dedupe.encode())],
        )
        for e in entries
    ]
    producer.flush(timeout=30)
    for f in futures:
        f.get(timeout=30)  # raises if the broker didn't take it: the entries stay pending
    queue.outbox_ack([e.entry_id for e in entries])
    return len(entries)


def run_relay(settings: VigilSettings, *, sla_clock: bool = True) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    queue = ReviewQueue.from_url(settings.redis_url)
    producer = relay_producer(settings)
    consumer = f"relay-{socket.gethostname()}"
    clock: threading.Thread | None = None
    if sla_clock:
        clock = threading.Thread(
            target=run_sla_clock,
            args=(ReviewQueue.from_url(settings.redis_url), stop, settings.review_tick_s),
            name="sla-clock",
            daemon=True,
        )
        clock.start()
    mark_ready(settings.ready_dir, "relay")
    try:
        while not stop.is_set():
            try:
                n = relay_once(queue, producer, consumer, block_ms=500)
                if n:
                    log.debug("published %d outbox entries", n)
            except Exception:
                # Redis or Kafka away for a moment: the entries stay in the outbox; retry.
                log.exception("relay batch failed; retrying")
                time.sleep(1.0)
    finally:
        stop.set()
        if clock is not None:
            clock.join(timeout=5)
        producer.close(timeout=10)
