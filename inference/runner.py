"""The gateway's Kafka side: ``llm.requests`` -> :class:`~inference.gateway.Gateway` -> produce.

A pipeline, not lock-step batches: records are fetched in batches (``getmany``) while there is
room, each runs as its own task under the in-flight bound (one shared gRPC client), and its
result or dead letter waits, ready, until every record before it in its partition is ready
too; a slow generation holds up nothing but the outputs behind it.

Exactly once, read-process-write: every ``gateway.commit_interval_s`` the ready outputs of
each partition's finished prefix and the consumed offsets that cover them are written in one
Kafka transaction (idempotent, transactional producer ``vigil-gateway-<instance>``;
``send_offsets_to_transaction``). A gateway killed at any point leaves either the whole
transaction or none of it: the next one (same transactional id) aborts what was open, the
requests past the committed offsets are delivered again, and their outputs are produced
again. Consumers of ``llm.results`` read committed (aborted outputs are never seen), and a
re-delivered request gets the same samples (``inference.sample_budget``), so each request id
has one result or one dead letter on Kafka.

Back-pressure: when records pile up (Triton slower than Kafka) or the circuit breaker is open
(Triton gone), the consumer pauses its partitions and resumes when there is room again, so
memory stays bounded and waiting requests wait in Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaConnectionError, KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition

from vigil.inference.adapters import load_adapter
from vigil.inference.backpressure import FlowControl, OffsetTracker
from vigil.inference.breaker import BreakerState, CircuitBreaker
from vigil.inference.client import ModelRoute, TritonClient
from vigil.inference.gateway import Gateway, Handled, Reasoner, RetryPolicy, Routes
from vigil.inference.sample_budget import SampleBudget
from vigil.settings import GatewaySettings, VigilSettings
from vigil.supervisor import mark_ready
from vigil_client import topics
from vigil_client.security import unreachable, watch_bootstrap

log = logging.getLogger("vigil.gateway")

GROUP_ID = "vigil-gateway"
STATS_FILE = "gateway-stats.json"
# How long shutdown and a revocation wait for in-flight records (under the supervisor's
# 15 s stop grace); what is unfinished then is simply re-delivered.
DRAIN_S = 10.0
# The broker aborts a transaction left open this long (a gateway that died and was not
# restarted): read_committed consumers wait at most this for the partitions it wrote.
TRANSACTION_TIMEOUT_MS = 30_000


def transactional_id(config: GatewaySettings) -> str:
    return f"{GROUP_ID}-{config.instance}"


def producer_config(settings: VigilSettings) -> dict[str, object]:
    """Durable, transactional producer settings (asserted in tests)."""
    return {
        # aiokafka takes kafka-python's security keywords (TLS as an SSL context).
        **settings.kafka_security.kafka_python_kwargs(),
        "bootstrap_servers": settings.kafka_bootstrap,
        "acks": "all",
        "enable_idempotence": True,
        "transactional_id": transactional_id(settings.gateway),
        "transaction_timeout_ms": TRANSACTION_TIMEOUT_MS,
        "linger_ms": 5,
        "client_id": "vigil-gateway",
    }


def consumer_config(settings: VigilSettings) -> dict[str, object]:
    return {
        # aiokafka takes kafka-python's security keywords (TLS as an SSL context).
        **settings.kafka_security.kafka_python_kwargs(),
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": GROUP_ID,
        "client_id": "vigil-gateway",
        # Offsets are committed in the gateway's transactions, never on their own.
        "enable_auto_commit": False,
        # A product that publishes transactionally: its aborted requests are not requests.
        "isolation_level": "read_committed",
        "auto_offset_reset": "earliest",
        "max_poll_records": settings.gateway.batch_size,
        "max_poll_interval_ms": 300_000,
    }


def routes_from_settings(settings: VigilSettings) -> Routes:
    """The default model with its adapter, the embedded replay models (the TensorRT-LLM-shaped
    one and ``VIGIL_REPLAY_MODELS``), and ``VIGIL_GATEWAY_MODELS``. Unknown adapters fail here,
    at start-up."""
    default = ModelRoute(settings.model_name, load_adapter(settings.model_adapter))
    others: dict[str, str] = {}
    if settings.embedded_triton:
        # The replay model answers a failed request alone in its batch through an extra
        # output (inference/replay_model.py); a real TensorRT-LLM ensemble has no such output.
        others[settings.trtllm_model_name] = "trtllm-pytriton"
        # Further replay models speak the vLLM contract (inference/replay_plan.py).
        others.update({name: "vllm" for name in settings.replay_models})
    others.update(settings.gateway.models)
    return Routes(default, {name: ModelRoute(name, load_adapter(a)) for name, a in others.items()})


def build_gateway(
    config: GatewaySettings, reasoner: Reasoner, routes: Routes, *, max_prompt_chars: int
) -> Gateway:
    return Gateway(
        reasoner,
        routes,
        source_topic=topics.REQUESTS,
        max_prompt_chars=max_prompt_chars,
        retry=RetryPolicy(
            attempts=config.retry_attempts, base_s=config.retry_base_s, cap_s=config.retry_cap_s
        ),
        breaker=CircuitBreaker(
            failure_threshold=config.breaker_failures,
            open_s=config.breaker_open_s,
            max_open_s=config.breaker_max_open_s,
        ),
        budget=SampleBudget(
            per_s=config.extra_samples_per_s, share=config.sample_share, rules=config.sample_rules
        ),
        max_wait_s=config.max_wait_s,
    )


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, runner: GatewayRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.runner.drain(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if assigned:
            mark_ready(self.runner.ready_dir, "gateway")


@dataclass
class _Ready:
    """A finished record's output, waiting for its transaction."""

    handled: Handled
    key: bytes | None  # the record's own key, for a request too broken to carry an id
    raw: bytes  # the request, for the dead letter of a result the broker refuses


class GatewayRunner:
    def __init__(
        self,
        config: GatewaySettings,
        gateway: Gateway,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        *,
        ready_dir: Path,
        stats_path: Path,
    ) -> None:
        self.config = config
        self.gateway = gateway
        self.consumer = consumer
        self.producer = producer
        self.ready_dir = ready_dir
        self.in_flight = asyncio.Semaphore(config.max_in_flight)
        self.tracker: OffsetTracker[TopicPartition] = OffsetTracker()
        self.ready: dict[TopicPartition, dict[int, _Ready]] = {}
        self.flow = FlowControl(config.max_pending)
        self.tasks: set[asyncio.Task[None]] = set()
        self.paused_for: str | None = None
        self.stats: dict[str, int] = {
            "consumed": 0,
            "results": 0,
            "dead_letters": 0,
            "transactions": 0,
            "aborted": 0,
            "pauses": 0,
            "max_pending_seen": 0,
        }
        self._fatal: BaseException | None = None
        # One transaction at a time: the loop's flushes and a revocation's.
        self._flushing = asyncio.Lock()
        # Set once shutdown has drained (and cancelled) what it could: revocations that
        # follow (consumer.stop) need not wait again.
        self.stopping = False
        self.stats_path = stats_path

    # -- one record --------------------------------------------------------------------------

    async def _process(self, tp: TopicPartition, record: ConsumerRecord[Any, Any]) -> None:
        raw = record.value or b""
        try:
            async with self.in_flight:
                handled = await self.gateway.handle(raw)
        except asyncio.CancelledError:
            raise  # unfinished: its offset stays uncommitted and it is re-delivered
        except Exception as exc:
            # handle() routes every failure to a dead letter; anything else is a bug that
            # must stop the gateway before it commits past this record.
            log.exception("could not handle %s@%d", tp, record.offset)
            self._fatal = exc
            return
        self.ready.setdefault(tp, {})[record.offset] = _Ready(handled, record.key, raw)
        self.tracker.finish(tp, record.offset)

    async def _send(self, handled: Handled, record_key: bytes | None) -> asyncio.Future[Any]:
        # A request too broken to carry a request_id keeps the key it was published with.
        key = handled.key.encode() if handled.key else record_key
        if handled.result is not None:
            return await self.producer.send(topics.RESULTS, handled.result.to_json(), key=key)
        assert handled.dead_letter is not None
        return await self.producer.send(topics.REQUESTS_DLQ, handled.dead_letter.to_json(), key=key)

    def _dead_letter_refused(self, ready: _Ready, exc: KafkaError) -> None:
        """A result Kafka refused becomes its request's dead letter (``result_rejected``)."""
        log.warning("result of %s refused (%s): dead-lettering", ready.handled.key, exc)
        ready.handled = self.gateway.produce_failed(ready.raw, ready.handled, exc)

    async def _send_ready(self, ready: _Ready) -> asyncio.Future[Any]:
        try:
            return await self._send(ready.handled, ready.key)
        except KafkaError as exc:
            if ready.handled.result is None:
                raise
            # A result the producer refuses before sending (e.g. larger than a request may
            # be) must not wedge the partition: dead-letter the request instead.
            self._dead_letter_refused(ready, exc)
            return await self._send(ready.handled, ready.key)

    # -- transactions ------------------------------------------------------------------------

    def _covered(self, offsets: dict[TopicPartition, int]) -> list[tuple[TopicPartition, int]]:
        """The ready outputs below each partition's offset to commit, in offset order."""
        out = []
        for tp, upto in offsets.items():
            ready = self.ready.get(tp, {})
            out += [(tp, o) for o in sorted(o for o in ready if o < upto)]
        return out

    async def flush(self, only: set[TopicPartition] | None = None) -> None:
        """One transaction: the outputs of every partition's finished prefix and the offsets
        past them. A failure aborts it all (the records stay ready, for the next flush)."""
        async with self._flushing:
            offsets = self.tracker.committable()
            if only is not None:
                offsets = {tp: o for tp, o in offsets.items() if tp in only}
            if not offsets:
                return
            covered = self._covered(offsets)
            await self.producer.begin_transaction()
            try:
                deliveries = [await self._send_ready(self.ready[tp][o]) for tp, o in covered]
                refused = await self._refused(covered, deliveries)
                if refused:
                    raise KafkaError(f"the broker refused {refused} output(s)")
                await self.producer.send_offsets_to_transaction(offsets, GROUP_ID)
            except (CommitFailedError, KafkaError) as exc:
                # Aborted whole: nothing of it is visible; the next flush tries again (with
                # the refused results dead-lettered). If aborting fails, the producer is
                # unusable (e.g. fenced by a newer gateway): stop, the records re-deliver.
                log.warning("transaction aborted (%s); retrying", exc)
                self.stats["aborted"] += 1
                await self.producer.abort_transaction()
                return
            await self.producer.commit_transaction()
            self.stats["transactions"] += 1
            for tp, o in covered:
                done = self.ready[tp].pop(o)
                self.stats["results" if done.handled.result is not None else "dead_letters"] += 1
            self.tracker.committed(offsets)

    async def _refused(
        self, covered: list[tuple[TopicPartition, int]], deliveries: list[asyncio.Future[Any]]
    ) -> int:
        """Waits for every delivery; a result the broker refused becomes a dead letter for
        the retry (a refused dead letter is the broker's problem: raised)."""
        settled = await asyncio.gather(*deliveries, return_exceptions=True)
        refused = 0
        for (tp, o), outcome in zip(covered, settled, strict=True):
            if not isinstance(outcome, BaseException):
                continue
            ready = self.ready[tp][o]
            if ready.handled.result is None or not isinstance(outcome, KafkaError):
                raise outcome
            self._dead_letter_refused(ready, outcome)
            refused += 1
        return refused

    def _apply_flow(self) -> None:
        breaker_open = self.gateway.breaker.state is BreakerState.OPEN
        decision = self.flow.decide(self.tracker.pending, breaker_open)
        assigned = self.consumer.assignment()
        if decision.pause:
            to_pause = assigned - self.consumer.paused()
            if to_pause:
                self.consumer.pause(*to_pause)
            if self.paused_for is None:
                self.stats["pauses"] += 1
                log.info("pausing consumption (%s, %d pending)", decision.reason, self.pending)
            self.paused_for = decision.reason
        elif self.paused_for is not None:
            self.consumer.resume(*self.consumer.paused())
            log.info("resuming consumption (%d pending)", self.pending)
            self.paused_for = None

    @property
    def pending(self) -> int:
        return self.tracker.pending

    async def drain(self, tps: set[TopicPartition]) -> None:
        """Before giving partitions up: let their records finish (bounded), commit, forget."""
        deadline = time.monotonic() + (0 if self.stopping else DRAIN_S)
        while self.tracker.pending_in(tps) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        try:
            await self.flush(only=tps)
        except Exception as exc:  # the new owner re-processes what was not committed
            log.warning("could not commit revoked partitions (%s)", exc)
        self.tracker.forget(tps)
        for tp in tps:
            self.ready.pop(tp, None)

    def write_stats(self) -> None:
        """A small status file for operators and tests (atomic replace)."""
        snapshot = {
            **self.stats,
            "pending": self.pending,
            "max_pending": self.flow.max_pending,
            "paused": self.paused_for,
            "breaker": str(self.gateway.breaker.state),
            "breaker_opened": self.gateway.breaker.times_opened,
            "counts": dict(self.gateway.counts),
            "extra_samples": {
                "granted": self.gateway.budget.extras_granted,
                "denied": self.gateway.budget.extras_denied,
                "paced_s": round(self.gateway.budget.paced_s, 3),
            },
            "at": time.time(),
        }
        tmp = self.stats_path.with_suffix(f".{os.getpid()}.tmp")
        with contextlib.suppress(OSError):
            tmp.write_bytes(orjson.dumps(snapshot))
            tmp.replace(self.stats_path)

    # -- the loop ----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_commit = loop.time() + self.config.commit_interval_s
        next_stats = loop.time()
        while not stop.is_set():
            if self._fatal is not None:
                raise self._fatal
            self._apply_flow()
            room = self.flow.room(self.pending)
            # Keep polling even while paused: it keeps the group membership alive, and paused
            # partitions return nothing.
            batches = await self.consumer.getmany(
                timeout_ms=100, max_records=max(1, min(room, self.config.batch_size))
            )
            for tp, records in batches.items():
                for record in records:
                    self.tracker.take(tp, record.offset)
                    task = asyncio.create_task(self._process(tp, record))
                    self.tasks.add(task)
                    task.add_done_callback(self.tasks.discard)
                self.stats["consumed"] += len(records)
            self.stats["max_pending_seen"] = max(self.stats["max_pending_seen"], self.pending)
            now = loop.time()
            if now >= next_commit:
                await self.flush()
                next_commit = now + self.config.commit_interval_s
            if now >= next_stats:
                self.write_stats()
                next_stats = now + 0.5
        await self._shutdown()

    async def _shutdown(self) -> None:
        if self.tasks:
            log.info("stopping: waiting for %d in-flight records", len(self.tasks))
            _, unfinished = await asyncio.wait(set(self.tasks), timeout=DRAIN_S)
            for task in unfinished:
                task.cancel()
        self.stopping = True
        await self.flush()
        self.write_stats()


async def serve(settings: VigilSettings, stop: asyncio.Event) -> None:
    client = TritonClient(
        settings.triton_grpc_url, timeout_s=settings.triton_timeout_s, tls=settings.triton_tls
    )
    config = settings.gateway
    routes = routes_from_settings(settings)
    gateway = build_gateway(config, client, routes, max_prompt_chars=settings.max_prompt_chars)
    consumer = AIOKafkaConsumer(**consumer_config(settings))
    producer = AIOKafkaProducer(**producer_config(settings))
    runner = GatewayRunner(
        config,
        gateway,
        consumer,
        producer,
        ready_dir=settings.ready_dir,
        stats_path=settings.run_dir / STATS_FILE,
    )
    try:
        # aiokafka logs why each broker refused; the watch keeps the reason for the error.
        with watch_bootstrap("aiokafka", "bootstrap", fatal=False) as watch:
            await producer.start()
            consumer.subscribe([topics.REQUESTS], listener=_Rebalance(runner))
            await consumer.start()
    except KafkaConnectionError as exc:
        # A refused login or TLS handshake fails every bootstrap alike: say so and stop,
        # rather than be restarted into the same refusal.
        await client.close()
        for part in (consumer, producer):
            with contextlib.suppress(Exception):
                await part.stop()
        raise unreachable(settings.kafka_bootstrap, settings.kafka_security, watch.last) from exc
    log.info(
        "gateway: %s; in flight <= %d, pending <= %d",
        ", ".join(f"{n} ({r.adapter.name})" for n, r in gateway.routes.by_name.items()),
        config.max_in_flight,
        config.max_pending,
    )
    try:
        await runner.run(stop)
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
        with contextlib.suppress(Exception):
            await producer.stop()
        await client.close()


def run_gateway(settings: VigilSettings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    asyncio.run(main())
