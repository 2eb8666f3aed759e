"""One hop of the record path: a raw request in, a result or a dead letter out, via Triton.

Transport-free on purpose: ``streams/gateway_runner.py`` owns Kafka and calls :meth:`handle`
for each consumed record; everything that can go wrong here ends as a :class:`DeadLetter`
with its reason, never as an exception that would stall the consumer.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Protocol

import orjson

from inference.client import Generation
from inference.exceptions import ModelCallError
from vigil.contracts import DeadLetter, InferenceRequest, InferenceResult
from vigil.exceptions import ContractError


class Reasoner(Protocol):
    async def generate(
        self, prompt: str, sampling: dict[str, object], request_id: str
    ) -> Generation: ...


@dataclass(frozen=True)
class RetryPolicy:
    """Jittered exponential backoff, for transport errors only."""

    attempts: int = 5
    base_s: float = 0.2
    cap_s: float = 5.0

    def delay(self, attempt: int) -> float:
        # "Full jitter": spreads retries of many in-flight requests after an outage.
        return random.uniform(0, min(self.cap_s, self.base_s * (2**attempt)))


@dataclass(frozen=True)
class Handled:
    """What to produce for one consumed record: exactly one of the two."""

    result: InferenceResult | None = None
    dead_letter: DeadLetter | None = None

    @property
    def key(self) -> str | None:
        if self.result is not None:
            return self.result.request_id
        return self.dead_letter.request_id if self.dead_letter else None


def _request_id_of(raw: bytes) -> str | None:
    """Best effort, for the dead letter of a request that failed validation."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    rid = obj.get("request_id") if isinstance(obj, dict) else None
    return rid if isinstance(rid, str) and 0 < len(rid) <= 128 else None


class Gateway:
    def __init__(
        self,
        reasoner: Reasoner,
        *,
        source_topic: str,
        max_prompt_chars: int,
        max_request_bytes: int = 1_000_000,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.reasoner = reasoner
        self.source_topic = source_topic
        self.max_prompt_chars = max_prompt_chars
        self.max_request_bytes = max_request_bytes
        self.retry = retry or RetryPolicy()

    def _dead(
        self, raw: bytes, reason: str, error: str, *, rid: str | None = None, attempts: int = 1
    ) -> Handled:
        return Handled(
            dead_letter=DeadLetter(
                request_id=rid if rid is not None else _request_id_of(raw),
                source_topic=self.source_topic,
                stage="gateway",
                reason=reason,
                error=error,
                payload=raw[:65536].decode("utf-8", errors="replace"),
                attempts=attempts,
            )
        )

    def parse(self, raw: bytes) -> InferenceRequest | Handled:
        if len(raw) > self.max_request_bytes:
            return self._dead(raw, "oversize", f"request is {len(raw)} bytes")
        try:
            request: InferenceRequest = InferenceRequest.from_json(raw)
        except ContractError as exc:
            reason = "malformed_json" if "json_invalid" in repr(exc.__cause__) else "invalid_schema"
            return self._dead(raw, reason, str(exc))
        if len(request.prompt) > self.max_prompt_chars:
            return self._dead(
                raw,
                "oversize",
                f"prompt is {len(request.prompt)} chars (max {self.max_prompt_chars})",
                rid=request.request_id,
            )
        return request

    async def _generate(self, request: InferenceRequest, seed: int) -> Generation:
        sampling = request.sampling.model_dump(exclude_none=True)
        sampling["seed"] = seed
        attempt = 0
        while True:
            try:
                return await self.reasoner.generate(
                    request.prompt, sampling, f"{request.request_id}-{seed}"
                )
            except ModelCallError as exc:
                attempt += 1
                if not exc.retryable or attempt >= self.retry.attempts:
                    raise
                await asyncio.sleep(self.retry.delay(attempt))

    async def handle(self, raw: bytes) -> Handled:
        parsed = self.parse(raw)
        if isinstance(parsed, Handled):
            return parsed
        request = parsed
        base_seed = request.sampling.seed or 0
        try:
            gens = await asyncio.gather(
                *(self._generate(request, base_seed + i) for i in range(request.samples))
            )
        except ModelCallError as exc:
            reason = "model_unavailable" if exc.retryable else "model_error"
            attempts = self.retry.attempts if exc.retryable else 1
            return self._dead(raw, reason, str(exc), rid=request.request_id, attempts=attempts)
        first = gens[0]
        return Handled(
            result=InferenceResult(
                request_id=request.request_id,
                request_created_at=request.created_at,
                prompt=request.prompt,
                output=first.text,
                samples=[g.text for g in gens[1:]],
                model_name=first.model_name,
                model_version=first.model_version,
                latency_ms=max(g.latency_ms for g in gens),
                product=request.product,
                tenant=request.tenant,
                metadata=request.metadata,
                hold_for_review=request.hold_for_review,
            )
        )
