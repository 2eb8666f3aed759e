"""``vigil monitor``: the Faust app of the drift and bias monitor, a process of its own.

Agents (each concurrency 1: Faust can commit past an unfinished message otherwise, stack
notes #606): product results from ``llm.results`` in batches, as the screening worker takes
them (its checks, features, windows, probes), dead letters from ``llm.requests.dlq`` (failed
probes) and reviewers' decisions from ``review.decisions`` (overturn rates per segment); a
one-second timer closes time windows, expires probes and renders HTML reports the console
asked for. Its consumer group is its app id, so it reads the same topics as the screening
worker without taking anything from it.

At-least-once: a re-delivered result is dropped by request id; records Faust skipped are read
back from Kafka before a batch is acknowledged (``streams/offset_guard.py``, as in the
worker), so a window misses none. A crash loses the open window's rows (a partial window of
statistics; every request still ends in its known state through screening).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from vigil.exceptions import ContractError
from vigil.reviewers.policy import ReviewPolicy
from vigil.reviewers.queue import ReviewQueue
from vigil.settings import VigilSettings
from vigil.streams import topics
from vigil.streams.calibration.scoring import ModelWatcher
from vigil.streams.calibration.store import RiskModelStore
from vigil.streams.faust_app import (
    ProgressCommitter,
    check_broker_access,
    new_app,
    raw_topic,
)
from vigil.streams.monitoring.monitor import Monitor
from vigil.streams.monitoring.store import MonitorStore
from vigil.streams.offset_guard import Guarded, OffsetGuard
from vigil.streams.triage import Screener
from vigil.supervisor import mark_ready
from vigil_client.contracts import (
    Alert,
    DeadLetter,
    InferenceRequest,
    InferenceResult,
    ReviewDecision,
)

log = logging.getLogger("vigil.monitor")

TICK_S = 1.0
_RETRY_FIRST_S = 0.1
_RETRY_CAP_S = 5.0


def create_app(settings: VigilSettings, *, rebuild_reference: bool = False) -> faust.App:
    """Built at the entry point, never at import (one event loop, no import-time sockets)."""
    config = settings.monitor
    app = new_app(config.app_id, settings)

    source = raw_topic(app, config.source_topic)
    dead_letters = raw_topic(app, topics.REQUESTS_DLQ)
    decisions = raw_topic(app, topics.DECISIONS)
    alerts_topic = raw_topic(app, topics.ALERTS)
    requests_topic = raw_topic(app, topics.REQUESTS)

    class KafkaPublisher:
        async def alert(self, alert: Alert) -> None:
            fut = await alerts_topic.send(key=alert.alert_id.encode(), value=alert.to_json())
            await fut

        async def request(self, request: InferenceRequest) -> None:
            fut = await requests_topic.send(
                key=request.request_id.encode(), value=request.to_json()
            )
            await fut

    store = MonitorStore.connect(
        settings.redis_connection, config.app_id, keep_windows=config.keep_windows
    )
    if rebuild_reference:
        store.drop_reference()
    queue = ReviewQueue.connect(
        settings.redis_connection, policy=ReviewPolicy.from_settings(settings.review)
    )
    # The worker's checks, options and weights (VIGIL_CHECKS_CONFIG), built as the worker builds
    # them: the monitor's flags and risk are the queue's (verdicts.py).
    screener = Screener.from_files(settings.checks_config, settings.novelty_reference)
    monitor = Monitor(
        config,
        store,
        queue,
        KafkaPublisher(),
        screener,
        console_url=settings.console.url,
        train_path=settings.gsm8k_train_path,
        calibration=settings.calibration,
    )
    # The risk model in use, as the worker follows it (its risk scores are the worker's).
    watcher = ModelWatcher(RiskModelStore.connect(settings.redis_connection), screener)

    @app.timer(settings.calibration.poll_s)
    async def follow_risk_model() -> None:
        watcher.apply(await asyncio.to_thread(watcher.fetch))

    # Commits by the guard's count of finished records (faust_app.ProgressCommitter).
    committer = ProgressCommitter(app, app.conf.broker_commit_interval)

    @app.timer(app.conf.broker_commit_interval)
    async def commit_progress() -> None:
        await committer.flush()

    guard = OffsetGuard(
        settings.kafka_bootstrap,
        config.app_id,
        config.source_topic,
        committer,
        settings.kafka_security,
    )
    started = asyncio.Event()
    partitions = asyncio.Event()

    def maybe_ready() -> None:
        if started.is_set() and partitions.is_set():
            mark_ready(settings.ready_dir, "monitor")

    @app.task
    async def start() -> None:
        watcher.apply(await asyncio.to_thread(watcher.fetch))
        await monitor.start()
        started.set()
        maybe_ready()

    async def values_of(events: Any) -> Guarded:
        """The batch's values with the records Faust skipped; retried while Kafka fails:
        returning would let ``take_events`` acknowledge records never read."""
        delay = _RETRY_FIRST_S
        while True:
            try:
                return await guard.values_of(events)
            except Exception:
                log.exception("reading skipped records failed; retrying in %.1fs", delay)
                await asyncio.sleep(delay)
                delay = min(_RETRY_CAP_S, delay * 2)

    @app.agent(source, concurrency=1)
    async def watch(stream: Any) -> None:
        # The worker's batch knobs: batched, its checks cost less than half as much per result.
        async for events in stream.take_events(
            settings.worker.batch_size, within=settings.worker.batch_window_s
        ):
            await started.wait()
            guarded = await values_of(events)
            results = []
            for value in guarded.values:
                try:
                    results.append(InferenceResult.from_json(value))
                except ContractError:
                    # Screening dead-letters it (reason invalid_schema); here it is only counted.
                    monitor.stats["invalid"] += 1
            try:
                await monitor.on_results(results)
            except Exception:  # one bad window must not stop the monitor
                log.exception("monitoring failed on a batch of %d results", len(results))
                monitor.stats["errors"] += 1
            await guard.done(guarded)

    @app.agent(dead_letters, concurrency=1)
    async def probe_failures(stream: Any) -> None:
        async for value in stream:
            await started.wait()
            try:
                await monitor.on_dead_letter(DeadLetter.from_json(value))
            except Exception:
                log.exception("could not read a dead letter")

    @app.agent(decisions, concurrency=1)
    async def reviewer_decisions(stream: Any) -> None:
        async for value in stream:
            try:
                monitor.on_decision(ReviewDecision.from_json(value))
            except Exception:
                log.exception("could not read a review decision")

    @app.timer(interval=TICK_S)
    async def tick() -> None:
        if not started.is_set():
            return
        try:
            await monitor.tick()
        except Exception:
            log.exception("monitor tick failed")

    async def _assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        committer.reset()
        await guard.on_assigned(assigned or ())
        if assigned:
            partitions.set()
            maybe_ready()

    app.on_partitions_assigned.connect(_assigned)  # type: ignore[arg-type]
    return app


def run_monitor(settings: VigilSettings, *, rebuild_reference: bool = False) -> None:
    check_broker_access(settings)
    app = create_app(settings, rebuild_reference=rebuild_reference)
    worker = faust.Worker(app, loglevel="info", quiet=True)
    worker.execute_from_commandline()
