"""``vigil monitor``: the Faust app of the drift and bias monitor, a process of its own.

Agents (each concurrency 1: Faust can commit past an unfinished message otherwise, stack
notes #606): product results from ``llm.results`` (features, windows, probes), dead letters
from ``llm.requests.dlq`` (failed probes) and reviewers' decisions from ``review.decisions``
(overturn rates per segment); a one-second timer closes time windows, expires probes and
renders HTML reports the console asked for. Its consumer group is its app id, so it reads
the same topics as the screening worker without taking anything from it.

At-least-once: a re-delivered result is dropped by request id; a crash loses the open
window's rows (a partial window of statistics; every request still ends in its known state
through screening).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from reviewers.monitor_store import MonitorStore
from reviewers.policy import ReviewPolicy
from reviewers.queue import ReviewQueue
from streams import topics
from streams.faust_app import new_app, raw_topic
from streams.monitoring.monitor import Monitor, MonitorConfig
from vigil.contracts import Alert, DeadLetter, InferenceRequest, InferenceResult, ReviewDecision
from vigil.exceptions import ContractError
from vigil.settings import VigilSettings
from vigil.supervisor import mark_ready

log = logging.getLogger("vigil.monitor")

TICK_S = 1.0


def create_app(settings: VigilSettings, *, rebuild_reference: bool = False) -> faust.App:
    """Built at the entry point, never at import (one event loop, no import-time sockets)."""
    app = new_app(settings.monitor_app_id, settings)

    source = raw_topic(app, settings.monitor_source_topic)
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

    store = MonitorStore.from_url(
        settings.redis_url, settings.monitor_app_id, keep_windows=settings.monitor_keep_windows
    )
    if rebuild_reference:
        store.drop_reference()
    queue = ReviewQueue.from_url(settings.redis_url, policy=ReviewPolicy.from_settings(settings))
    monitor = Monitor(MonitorConfig.from_settings(settings), store, queue, KafkaPublisher())
    started = asyncio.Event()
    partitions = asyncio.Event()

    def maybe_ready() -> None:
        if started.is_set() and partitions.is_set():
            mark_ready(settings.ready_dir, "monitor")

    @app.task
    async def start() -> None:
        await monitor.start()
        started.set()
        maybe_ready()

    @app.agent(source, concurrency=1)
    async def watch(stream: Any) -> None:
        async for value in stream:
            await started.wait()
            try:
                result = InferenceResult.from_json(value)
            except ContractError:
                # Screening dead-letters it (reason invalid_schema); here it is only counted.
                monitor.stats["invalid"] += 1
                continue
            try:
                await monitor.on_result(result)
            except Exception:  # one bad window must not stop the monitor
                log.exception("monitoring failed on %s", result.request_id)
                monitor.stats["errors"] += 1

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
        if assigned:
            partitions.set()
            maybe_ready()

    app.on_partitions_assigned.connect(_assigned)  # type: ignore[arg-type]
    return app


def run_monitor(settings: VigilSettings, *, rebuild_reference: bool = False) -> None:
    app = create_app(settings, rebuild_reference=rebuild_reference)
    worker = faust.Worker(app, loglevel="info", quiet=True)
    worker.execute_from_commandline()
