"""Publishes the review outbox (a Redis stream written by the same Lua script as each state
change) to Kafka: ``review.events``, ``review.decisions`` and ``review.releases``, keyed by
``request_id``, at-least-once, with the outbox dedupe key as the ``dedupe`` header.

An entry is acknowledged in Redis only after the broker acknowledged the record (acks=all,
idempotent producer), so a crash re-sends instead of losing; consumers dedupe on the key.
Entries go out in outbox order, so an item's events keep their order on its partition.

The relay reads as one consumer name of the outbox's group (``VIGIL_RELAY_CONSUMER``, the
same on every host), so a relay that died between reading a batch and acking it finds the
batch again when it, or its replacement in a recreated container, starts, and sends it
before anything new. Entries held under any other name (a relay configured differently, or
one from before the name was stable) are claimed once idle for ``VIGIL_RELAY_CLAIM_IDLE_S``
and sent like fresh ones; until they are, the relay sends nothing new, because they are
older than anything unread and the rebuild (reviewers/rebuild.py) folds an item's events
in the order it reads them.

The same process runs the review SLA clock (reviewers/sla.py) in a thread: it only talks to
Redis, and its breaches and fallback releases come out through this outbox.
"""

from __future__ import annotations

import logging
import signal
import threading
import time

from vigil.exceptions import ConfigError
from vigil.reviewers.outbox import OutboxEntry
from vigil.reviewers.queue import ReviewQueue
from vigil.reviewers.sla import run_sla_clock
from vigil.settings import VigilSettings
from vigil.streams import kafka_clients
from vigil.streams.kafka_clients import KafkaProducer
from vigil.supervisor import mark_ready

log = logging.getLogger("vigil.relay")

BATCH = 500
# The longest a send may block (waiting for a topic's metadata or for buffer room) and the
# longest a flush may wait for the broker. So a live relay holds a batch read but unacked
# for little more than twice this: by then it has acked, or failed and re-reads the batch,
# and a re-read restarts the entries' idle time. A claim idle time above that never takes entries
# from a relay still publishing them (run_relay refuses a shorter one).
PUBLISH_TIMEOUT_S = 15.0
# How often to look for entries stranded under another consumer name.
SWEEP_EVERY_S = 5.0


def relay_producer(settings: VigilSettings) -> KafkaProducer:
    return kafka_clients.producer(
        settings.kafka_bootstrap,
        settings.kafka_security,
        client_id="vigil-relay",
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        max_block_ms=int(PUBLISH_TIMEOUT_S * 1000),
    )


def publish(queue: ReviewQueue, producer: KafkaProducer, entries: list[OutboxEntry]) -> int:
    """Sends ``entries`` in order and acks them once the broker has them all; returns how many."""
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
    producer.flush(timeout=PUBLISH_TIMEOUT_S)
    for f in futures:
        f.get(timeout=PUBLISH_TIMEOUT_S)  # raises if the broker didn't take it: still pending
    queue.outbox_ack([e.entry_id for e in entries])
    return len(entries)


def relay_once(queue: ReviewQueue, producer: KafkaProducer, consumer: str, block_ms: int) -> int:
    """Moves one batch from the outbox to Kafka; returns how many entries were published."""
    return publish(queue, producer, queue.outbox_read(consumer, count=BATCH, block_ms=block_ms))


def reclaim(queue: ReviewQueue, producer: KafkaProducer, consumer: str, min_idle_s: float) -> int:
    """Publishes, oldest first, the entries any consumer left unacked for ``min_idle_s``;
    returns how many entries other consumers still hold (not idle long enough yet)."""
    min_idle_ms = int(min_idle_s * 1000)
    while entries := queue.outbox_claim(consumer, min_idle_ms=min_idle_ms, count=BATCH):
        log.warning("publishing %d outbox entries left unacked by a relay", len(entries))
        publish(queue, producer, entries)
    return queue.outbox_held_elsewhere(consumer)


def relay_loop(
    queue: ReviewQueue,
    producer: KafkaProducer,
    consumer: str,
    claim_idle_s: float,
    stop: threading.Event,
) -> None:
    """Publishes the outbox as ``consumer`` until ``stop`` is set, sweeping for stranded
    entries before the first read and every few seconds after."""
    # Sweeping at half the idle time at most: a stranded entry waits under 1.5 x that.
    sweep_s = min(SWEEP_EVERY_S, claim_idle_s / 2)
    next_sweep = 0.0
    held_elsewhere = 0
    while not stop.is_set():
        try:
            if time.monotonic() >= next_sweep:
                held_elsewhere = reclaim(queue, producer, consumer, claim_idle_s)
                next_sweep = time.monotonic() + sweep_s
            if held_elsewhere:
                # Older than anything unread: wait until their holder acks them or they are
                # idle long enough to claim, so that the outbox order holds.
                stop.wait(max(0.0, next_sweep - time.monotonic()))
                continue
            n = relay_once(queue, producer, consumer, block_ms=500)
            if n:
                log.debug("published %d outbox entries", n)
        except Exception:
            # Redis or Kafka away for a moment: the entries stay in the outbox; retry.
            log.exception("relay batch failed; retrying")
            stop.wait(1.0)


def run_relay(settings: VigilSettings, *, sla_clock: bool = True) -> None:
    config = settings.relay
    if config.claim_idle_s <= 2 * PUBLISH_TIMEOUT_S:
        raise ConfigError(
            f"VIGIL_RELAY_CLAIM_IDLE_S must exceed {2 * PUBLISH_TIMEOUT_S:g} s, the longest a "
            "live relay holds a batch; less would claim entries a relay is still publishing"
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    queue = ReviewQueue.connect(settings.redis_connection)
    producer = relay_producer(settings)
    clock: threading.Thread | None = None
    if sla_clock:
        clock = threading.Thread(
            target=run_sla_clock,
            args=(ReviewQueue.connect(settings.redis_connection), stop, settings.review.tick_s),
            name="sla-clock",
            daemon=True,
        )
        clock.start()
    mark_ready(settings.ready_dir, "relay")
    try:
        relay_loop(queue, producer, config.consumer, config.claim_idle_s, stop)
    finally:
        stop.set()
        if clock is not None:
            clock.join(timeout=5)
        producer.close(timeout=10)
