"""The verifier worker (``vigil verifier``): ``llm.verify`` -> the model -> ``llm.judgements``.

One request at a time (agent concurrency 1, stack notes #606; a CPU-bound model serves one
judgement at a time anyway): each ``VerifyRequest`` gets exactly one ``Judgement``, verified
or "not verified" with the reason (``judge.py``), published before the offset is committed.
A request whose deadline passed while it waited here is answered "not verified" without a
model call: its result was settled without it, and the judgement would be wasted work. A
record that is not a VerifyRequest is dead-lettered (``llm.results.dlq``, stage
``verifier``). A worker killed mid-judgement leaves the request uncommitted: the next worker
judges it; a second judgement for an id changes nothing (the outcome is settled once).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust

from vigil.exceptions import ContractError
from vigil.inference.client import TritonClient
from vigil.settings import VigilSettings
from vigil.streams import topics
from vigil.streams.checks.config import VerifierSection, load_config
from vigil.streams.faust_app import check_broker_access, new_app, raw_topic
from vigil.streams.verification.judge import Judge
from vigil.streams.verification.opinion import not_verified
from vigil.supervisor import mark_ready
from vigil_client.contracts import DeadLetter, Judgement, VerifyRequest

log = logging.getLogger("vigil.verifier")

APP_ID = "vigil-verifier"


def verifier_config(settings: VigilSettings) -> VerifierSection:
    return load_config(Path(settings.checks_config) if settings.checks_config else None).verifier


def create_verifier_app(
    settings: VigilSettings, config: VerifierSection | None = None
) -> faust.App:
    """Built at the entry point, never at import."""
    config = config or verifier_config(settings)
    app = new_app(APP_ID, settings)
    requests = raw_topic(app, topics.VERIFY)
    # Made on the app's loop (a gRPC aio channel belongs to the loop that made it).
    judges: list[Judge] = []

    def judge() -> Judge:
        if not judges:
            client = TritonClient(
                settings.triton_grpc_url, timeout_s=config.timeout_s, tls=settings.triton_tls
            )
            judges.append(Judge(config, client))
        return judges[0]

    async def answer(value: bytes, original_key: str | None) -> tuple[str | None, bytes, str]:
        """(key, value, topic) of what this request gets: its judgement, or a dead letter."""
        try:
            request = VerifyRequest.from_json(value)
        except ContractError as exc:
            letter = DeadLetter(
                request_id=None,
                source_topic=topics.VERIFY,
                stage="verifier",
                reason="invalid_schema",
                error=str(exc),
                payload=value[:65536].decode("utf-8", errors="replace"),
            )
            # Keyed as it came (the dead-letter topics' key: request id or original key).
            return original_key, letter.to_json(), topics.RESULTS_DLQ
        rid = request.request_id
        judgement: Judgement
        if request.deadline <= datetime.now(UTC):
            judgement = not_verified(rid, config, "its wait ended before it was judged")
        else:
            judgement = await judge().judge(request.result)
        if judgement.status == "not_verified":
            log.info("result %s not verified: %s", rid, judgement.not_verified)
        return rid, judgement.to_json(), topics.JUDGEMENTS

    @app.agent(requests, concurrency=1)
    async def verify(stream: Any) -> None:
        async for event in stream.events():
            raw = event.key
            original = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else None
            key, out, topic = await answer(event.value, original)
            raw_key = key.encode() if key else None
            delay = 0.1
            while True:
                try:
                    # Delivered before the next record, so before this one's offset is
                    # committed (Faust acks a record whose handler raised: never leave).
                    delivery = await app.producer.send(topic, raw_key, out, None, None, None)
                    await delivery
                    break
                except Exception:
                    log.exception("judgement of %s not delivered; retrying in %.1fs", key, delay)
                    await asyncio.sleep(delay)
                    delay = min(5.0, delay * 2)

    async def _ready(sender: Any, assigned: Any, **kwargs: Any) -> None:
        if assigned:
            mark_ready(settings.ready_dir, "verifier")

    app.on_partitions_assigned.connect(_ready)  # type: ignore[arg-type]
    return app


def run_verifier(settings: VigilSettings) -> None:
    check_broker_access(settings)
    app = create_verifier_app(settings)
    worker = faust.Worker(app, loglevel="info", quiet=True)
    worker.execute_from_commandline()
