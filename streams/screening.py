"""The Faust screening worker: ``llm.results`` -> checks -> review queue + ``llm.screened``.

Every result ends in exactly one known state: ``clean`` or ``queued`` (an outcome record on
``llm.screened``), or dead-lettered on ``llm.results.dlq`` with the reason (``invalid_schema``,
``check_failed`` naming the check, ``queue_unavailable`` after the retry budget). Values are
raw bytes validated by the pydantic contracts (a Faust Record would fail to deserialize bad
input before our code could dead-letter it). The agent stays thin: the checks, the risk and
the routing are ``streams.triage.Screener`` (pure, also run offline by ``vigil eval``).

Batches: ``stream.take_events`` hands over up to ``worker.batch_size`` results, with their
offsets (records the consumer skipped are read back first: ``streams/offset_guard.py``); the
checks run on the batch, then each result's request id is settled with its outcome and the
review items stored, in one Redis script per chunk (``ReviewQueue.settle``), and the batch's
outcome and dead-letter records are all handed to the producer and their deliveries awaited
together once, before the next batch, which is when Faust acks (commits) its offsets.

One outcome per request id: a crash before that re-delivers the batch, and a re-delivered
result may be screened differently the second time (the answer history and the random
review sample are not what they were), so the outcome published for a request id is always
the one it was first settled with, kept in Redis for ``worker.settled_ttl_s``. A result the
worker could not settle (Redis gone past ``worker.queue_retry_s``) is dead-lettered.

The answer history of the stability check is a Faust table keyed by prompt key (changelog
partitioned by that key), bounded per prompt and in the number of prompts (the least
recently answered prompts are forgotten first).

Throughput: outcome records go straight to the producer (the raw values need none of
``Topic.send``'s serialising and callbacks), each prompt's key and history are computed
and decoded once per batch, and the objects built at start-up (the checks' indexes and
recognizers, Faust) are frozen out of the garbage collector's sight, which otherwise walks
them all again and again as batches come and go. ``bench/screening_bench.py`` measures it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import faust

from vigil.exceptions import ContractError
from vigil.reviewers.exceptions import transient_errors
from vigil.reviewers.policy import ReviewPolicy
from vigil.reviewers.queue import ReviewQueue
from vigil.settings import VigilSettings
from vigil.streams import topics
from vigil.streams.calibration.scoring import ModelWatcher
from vigil.streams.calibration.store import RiskModelStore
from vigil.streams.checks.base import AnswerRecord, prompt_key
from vigil.streams.checks.exceptions import CheckFailed
from vigil.streams.checks.stability import (
    MAX_PROMPTS,
    RecentPrompts,
    append_history,
    decode_history,
    encode_history,
)
from vigil.streams.faust_app import (
    ProgressCommitter,
    check_broker_access,
    new_app,
    raw_topic,
)
from vigil.streams.offset_guard import OffsetGuard
from vigil.streams.triage import Screener, Triage
from vigil.streams.verification.join import VerificationJoin
from vigil.streams.verification.pending import PendingVerifications
from vigil.supervisor import mark_ready
from vigil_client.contracts import DeadLetter, InferenceResult, is_shadow

log = logging.getLogger("vigil.screening")

APP_ID = "vigil-screening"
HISTORY_TABLE = "answer-history"
SWEEP_INTERVAL_S = 60.0
# How often results past their wait for the verifier are settled without it.
VERIFY_SWEEP_S = 1.0
_RETRY_FIRST_S = 0.1
_RETRY_CAP_S = 5.0


async def _retrying(what: str, step: Callable[..., Awaitable[None]], *args: Any) -> None:
    """Run ``step`` until it succeeds: only Kafka or Redis can fail it, and leaving would
    let Faust ack what it was given (what it did twice is settled once)."""
    delay = _RETRY_FIRST_S
    while True:
        try:
            await step(*args)
            return
        except Exception:
            log.exception("%s failed; retrying in %.1fs", what, delay)
            await asyncio.sleep(delay)
            delay = min(_RETRY_CAP_S, delay * 2)


def _error_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(exc)).strip()


def create_app(settings: VigilSettings, screener: Screener | None = None) -> faust.App:
    """Built at the entry point, never at import (one event loop, no import-time sockets)."""
    config = settings.worker
    session = config.session_timeout_s
    app = new_app(
        APP_ID,
        settings,
        # A killed worker's partitions move to the others after this long.
        broker_session_timeout=session,
        broker_heartbeat_interval=min(3.0, session / 3),
        stream_buffer_maxsize=max(4096, 2 * config.batch_size),
    )
    checks = screener or Screener.from_files(settings.checks_config, settings.novelty_reference)
    log.info("checks: %s", ", ".join(c.name for c in checks.checks))
    # The fitted risk model in use (streams/calibration/), followed without a restart.
    watcher = ModelWatcher(RiskModelStore.connect(settings.redis_connection), checks)

    @app.task
    async def load_risk_model() -> None:
        watcher.apply(await asyncio.to_thread(watcher.fetch))

    @app.timer(settings.calibration.poll_s)
    async def follow_risk_model() -> None:
        watcher.apply(await asyncio.to_thread(watcher.fetch))

    results_topic = raw_topic(app, topics.RESULTS)
    # The review policy (SLA, retention, rules) applies when an item is queued.
    queue = ReviewQueue.connect(
        settings.redis_connection, policy=ReviewPolicy.from_settings(settings.review)
    )
    transient = transient_errors()
    history = app.Table(
        HISTORY_TABLE,
        key_type=bytes,
        value_type=bytes,
        partitions=settings.topic_partitions,
        # Changelog partitioned by the prompt key (results are keyed by request id).
        use_partitioner=True,
        schema=faust.Schema(key_serializer="raw", value_serializer="raw"),
    )

    async def send(topic: str, key: str | None, value: bytes) -> Awaitable[Any]:
        """Hand one record to the producer; the returned future settles on delivery."""
        raw_key = key.encode() if key else None
        return await app.producer.send(topic, raw_key, value, None, None, None)

    async def dead_letter(value: bytes, rid: str | None, reason: str, error: str) -> Awaitable[Any]:
        letter = DeadLetter(
            request_id=rid,
            source_topic=topics.RESULTS,
            stage="screening",
            reason=reason,
            error=error,
            payload=value[:65536].decode("utf-8", errors="replace"),
        )
        return await send(topics.RESULTS_DLQ, rid, letter.to_json())

    async def settle(
        done: list[tuple[Triage, bytes]],
    ) -> tuple[dict[str, bytes], dict[str, BaseException]]:
        """Settle each result's request id with its outcome and store the review items, once
        (``ReviewQueue.settle``); retries transient Redis errors with backoff. Returns the
        ids settled before (with their first outcome), and the ids that could not be
        settled, with the error."""
        if not done:
            return {}, {}
        outcomes = [(t.outcome.request_id, payload) for t, payload in done]
        items = [t.item for t, _ in done if t.item is not None]
        delay = _RETRY_FIRST_S
        started = time.monotonic()
        while True:
            try:
                # One thread hop for the whole batch: a hung Redis must not freeze the loop
                # (Kafka heartbeats run on it).
                earlier = await asyncio.to_thread(
                    queue.settle, outcomes, items, config.settled_ttl_s
                )
                return earlier, {}
            except transient as exc:
                waited = time.monotonic() - started
                if waited >= config.queue_retry_s:
                    log.error("review queue unavailable for %.0fs: giving up on a batch", waited)
                    return {}, {rid: exc for rid, _ in outcomes}
                log.warning("review queue unavailable (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(_RETRY_CAP_S, delay * 2)
            except Exception as exc:
                if len(done) == 1:
                    return {}, {outcomes[0][0]: exc}
                # Find the result(s) it fails on; the others are settled.
                earlier, failed = {}, {}
                for one in done:
                    e, f = await settle([one])
                    earlier.update(e)
                    failed.update(f)
                return earlier, failed

    async def publish_outcome(rid: str, payload: bytes) -> Awaitable[Any]:
        return await send(topics.SCREENED, rid, payload)

    verification = VerificationJoin(
        checks,
        PendingVerifications.connect(settings.redis_connection),
        settle,
        publish_outcome,
    )

    # The least recently answered prompts are forgotten past MAX_PROMPTS.
    recent = RecentPrompts(MAX_PROMPTS)

    def remember(done: Sequence[Triage], stored: dict[str, tuple[AnswerRecord, ...]]) -> None:
        updated: dict[str, tuple[AnswerRecord, ...]] = {}
        for t in done:
            key = t.prompt_key
            past = updated.get(key)
            if past is None:
                past = stored[key]
            updated[key] = append_history(past, t.answer, checks.max_history)
        for key, records in updated.items():
            raw_key = key.encode()
            history[raw_key] = encode_history(records)
            for oldest in recent.touch(raw_key):
                if oldest in history:
                    del history[oldest]

    async def screen_batch(values: Sequence[bytes]) -> None:
        deliveries: list[Awaitable[Any]] = []
        parsed: list[tuple[bytes, InferenceResult]] = []
        for value in values:
            try:
                parsed.append((value, InferenceResult.from_json(value)))
            except ContractError as exc:
                deliveries.append(await dead_letter(value, None, "invalid_schema", str(exc)))
        # Shadow results (the monitor's counterfactual probes) are judged by the monitor only.
        parsed = [(v, r) for v, r in parsed if not is_shadow(r.product, r.metadata)]
        results = [r for _, r in parsed]
        keys = [prompt_key(r.prompt) for r in results]
        # Each prompt's history as stored before this batch, decoded once.
        stored = {k: decode_history(history.get(k.encode())) for k in dict.fromkeys(keys)}
        outcomes = checks.screen_batch(results, [stored[k] for k in keys], keys)
        letters: list[tuple[bytes, str, str, str]] = []
        screened: list[tuple[bytes, Triage, bytes]] = []
        for (value, result), out in zip(parsed, outcomes, strict=True):
            if isinstance(out, CheckFailed):
                log.warning("result %s dead-lettered: %s", result.request_id, out)
                text = f"{out}: {_error_text(out.error)}"
                letters.append((value, result.request_id, "check_failed", text))
            else:
                screened.append((value, out, out.outcome.to_json()))
        # Those the verifier judges wait for it (streams/verification/join.py): their
        # outcome is settled when the judgement comes, or their wait ends.
        waiting, verify = (
            await asyncio.to_thread(
                verification.select,
                [
                    (r, t)
                    for (_, r), t in zip(parsed, outcomes, strict=True)
                    if isinstance(t, Triage)
                ],
            )
            if verification.enabled
            else (set(), [])
        )
        to_settle = [
            (t, payload) for _, t, payload in screened if t.outcome.request_id not in waiting
        ]
        earlier, not_settled = await settle(to_settle)
        done: list[Triage] = []
        publish: list[tuple[str, bytes]] = []
        for value, t, payload in screened:
            rid = t.outcome.request_id
            if rid in waiting:
                done.append(t)
            elif rid in not_settled:
                failure = not_settled[rid]
                reason = "queue_unavailable" if isinstance(failure, transient) else "queue_failed"
                letters.append((value, rid, reason, _error_text(failure)))
            elif rid in earlier:
                # Settled before (a re-delivery, or the same id twice): its first outcome
                # again, never a second, different one.
                publish.append((rid, earlier[rid]))
            else:
                done.append(t)
                publish.append((rid, payload))
        # The answers are recorded before the outcomes go out, so that a re-delivered result
        # finds its own answer and is compared with what it was compared with the first time.
        remember(done, stored)
        for value, rid, reason, text in letters:
            deliveries.append(await dead_letter(value, rid, reason, text))
        for rid, payload in publish:
            deliveries.append(await send(topics.SCREENED, rid, payload))
        for rid, request in verify:
            deliveries.append(await send(topics.VERIFY, rid, request))
        # Every record of the batch is acknowledged before ``take`` acks the batch's offsets.
        await asyncio.gather(*deliveries)

    # Records Faust skipped (streams/offset_guard.py) are read back and screened first.
    # Commits by the guard's count of finished records (faust_app.ProgressCommitter).
    committer = ProgressCommitter(app, app.conf.broker_commit_interval)

    @app.timer(app.conf.broker_commit_interval)
    async def commit_progress() -> None:
        await committer.flush()

    guard = OffsetGuard(
        settings.kafka_bootstrap, APP_ID, topics.RESULTS, committer, settings.kafka_security
    )

    # concurrency=1: Faust can commit past an unfinished message otherwise (stack notes #606);
    # scale by partitions and worker processes instead.
    @app.agent(results_topic, concurrency=1)
    async def screen(stream: Any) -> None:
        async for events in stream.take_events(config.batch_size, within=config.batch_window_s):
            delay = _RETRY_FIRST_S
            while True:
                try:
                    guarded = await guard.values_of(events)
                    await screen_batch(guarded.values)
                    await guard.done(guarded)
                    break
                except Exception:
                    # Only Kafka can fail here (the sends, reading a hole; everything else is
                    # routed per result). Leaving the loop would let ``take_events`` ack the
                    # batch, so the batch is retried: outcomes sent twice are the same
                    # outcome (settled once per request id).
                    log.exception("screening batch failed; retrying in %.1fs", delay)
                    await asyncio.sleep(delay)
                    delay = min(_RETRY_CAP_S, delay * 2)

    if verification.enabled:
        judgements_topic = raw_topic(app, topics.JUDGEMENTS)

        @app.agent(judgements_topic, concurrency=1)
        async def join_judgements(stream: Any) -> None:
            async for values in stream.take(config.batch_size, within=config.batch_window_s):
                await _retrying("joining judgements", verification.on_judgements, values)

        @app.timer(VERIFY_SWEEP_S)
        async def settle_overdue() -> None:
            await _retrying("settling results past their wait", verification.sweep)

    @app.timer(SWEEP_INTERVAL_S)
    async def forget_old_prompts() -> None:
        # ``recent`` bounds what this process answers; prompts recovered from the changelog
        # after a restart are not in it: this sweep bounds those (it does nothing otherwise).
        excess = len(history) - MAX_PROMPTS
        if excess <= 0:
            return
        last_seen = []
        for key, raw in history.items():
            records = decode_history(raw)
            last_seen.append((records[-1].at if records else 0.0, key))
        last_seen.sort()
        for _, key in last_seen[:excess]:
            del history[key]

    async def _ready(sender: Any, assigned: Any, **kwargs: Any) -> None:
        committer.reset()
        await guard.on_assigned(assigned or ())
        if assigned:
            mark_ready(settings.ready_dir, "worker")

    app.on_partitions_assigned.connect(_ready)  # type: ignore[arg-type]

    return app


def run_worker(settings: VigilSettings) -> None:
    check_broker_access(settings)
    app = create_app(settings)
    # Everything built so far lives as long as the process: out of the collector's sight,
    # so that collections triggered by the batches' short-lived objects do not walk it.
    gc.collect()
    gc.freeze()
    # Worker owns the loop and the signal handlers; SIGTERM stops it cleanly.
    worker = faust.Worker(app, loglevel="info", quiet=True)
    worker.execute_from_commandline()
