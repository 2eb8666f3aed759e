"""The Faust screening worker: ``llm.results`` -> checks -> review queue + ``llm.screened``.

Every result ends in exactly one known state: ``clean`` or ``queued`` (an outcome record on
``llm.screened``), or dead-lettered on ``llm.results.dlq`` with the reason. Faust acks a
message whose handler raised, so the agent never lets an exception escape: it routes it.
Values are raw bytes validated by the pydantic contracts (a Faust Record would fail to
deserialize bad input before our code could dead-letter it).
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

import faust

from reviewers.queue import ReviewQueue
from streams import topics
from streams.triage import triage
from vigil.contracts import DeadLetter, InferenceResult
from vigil.exceptions import ContractError
from vigil.settings import VigilSettings
from vigil.supervisor import mark_ready

log = logging.getLogger("vigil.screening")

APP_ID = "vigil-screening"


def create_app(settings: VigilSettings) -> faust.App:
    """Built at the entry point, never at import (one event loop, no import-time sockets)."""
    app = faust.App(
        APP_ID,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        web_enabled=False,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        topic_partitions=settings.topic_partitions,
        producer_acks=-1,
        broker_commit_interval=1.0,
    )

    def raw_topic(name: str) -> Any:
        return app.topic(
            name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        )

    results_topic = raw_topic(topics.RESULTS)
    screened_topic = raw_topic(topics.SCREENED)
    dlq_topic = raw_topic(topics.RESULTS_DLQ)
    queue = ReviewQueue.from_url(settings.redis_url)

    async def dead_letter(value: bytes, rid: str | None, reason: str, error: str) -> None:
        letter = DeadLetter(
            request_id=rid,
            source_topic=topics.RESULTS,
            stage="screening",
            reason=reason,
            error=error,
            payload=value[:65536].decode("utf-8", errors="replace"),
        )
        fut = await dlq_topic.send(key=(rid or "").encode() or None, value=letter.to_json())
        await fut

    async def screen_one(value: bytes) -> None:
        try:
            result: InferenceResult = InferenceResult.from_json(value)
        except ContractError as exc:
            await dead_letter(value, None, "invalid_schema", str(exc))
            return
        try:
            decision = triage(result)
            if decision.item is not None:
                # One loopback round trip (a Lua script): cheaper than a thread hop.
                queue.enqueue(decision.item)
        except Exception as exc:  # a check that raises must not lose the result
            log.exception("screening failed for %s", result.request_id)
            await dead_letter(
                value,
                result.request_id,
                "check_failed",
                "".join(traceback.format_exception_only(exc)).strip(),
            )
            return
        fut = await screened_topic.send(
            key=result.request_id.encode(), value=decision.outcome.to_json()
        )
        await fut

    # concurrency=1: Faust can commit past an unfinished message otherwise (stack notes #606);
    # scale by partitions and worker processes instead.
    @app.agent(results_topic, concurrency=1)
    async def screen(stream: Any) -> None:
        async for value in stream:
            await screen_one(value)

    async def _ready(sender: Any, assigned: Any, **kwargs: Any) -> None:
        if assigned:
            mark_ready(settings.ready_dir, "worker")

    app.on_partitions_assigned.connect(_ready)  # type: ignore[arg-type]

    return app


def run_worker(settings: VigilSettings) -> None:
    app = create_app(settings)
    # Worker owns the loop and the signal handlers; SIGTERM stops it cleanly.
    worker = faust.Worker(app, loglevel="info", quiet=True)
    worker.execute_from_commandline()
