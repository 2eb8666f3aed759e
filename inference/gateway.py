"""One hop of the record path: a raw request in, a result or a dead letter out, via Triton.

Transport-free on purpose: ``inference/runner.py`` owns Kafka and calls :meth:`handle`
for each consumed record; everything that can go wrong here ends as a :class:`DeadLetter`
with its reason, never as an exception that would stall the consumer.

Failure policy, per generation:

* ``unavailable`` (connection refused, UNAVAILABLE) and ``not_ready`` (model not loaded):
  retried with full-jitter exponential backoff, up to ``RetryPolicy.attempts`` calls, then
  ``model_unavailable``.
* ``timeout``: never retried (the generation may still be running): ``model_timeout``.
* ``model`` (the model refused the input): not retried: ``model_error``.
* The circuit breaker counts unavailable and timeout outcomes (not ``not_ready``, which a
  single misrouted model would cause: it must not stop all traffic); while it is open no call goes
  out and the generation waits (the runner pauses consumption meanwhile), up to
  ``max_wait_s``, after which the request is dead-lettered as ``model_unavailable``. When it
  turns half-open one waiting generation makes the trial call; a failed trial does not spend
  that request's retry budget (the outage is not the request's fault).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import traceback
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import orjson

from vigil.exceptions import ContractError
from vigil.inference.adapters import GenerationParams
from vigil.inference.breaker import BreakerState, CircuitBreaker
from vigil.inference.client import Generation, ModelRoute
from vigil.inference.exceptions import CircuitOpen, ModelCallError
from vigil.inference.sample_budget import SampleBudget, SamplePlan
from vigil_client.contracts import DeadLetter, InferenceRequest, InferenceResult

# A request naming the contract's default model means "the gateway's default model", so
# products keep working when an operator serves another model by default.
CONTRACT_DEFAULT_MODEL = str(InferenceRequest.model_fields["model"].default)

_REASONS = {
    "unavailable": "model_unavailable",
    "not_ready": "model_unavailable",
    "timeout": "model_timeout",
    "model": "model_error",
}


class Reasoner(Protocol):
    async def generate(
        self, route: ModelRoute, prompt: str, params: GenerationParams, request_id: str
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


class Routes:
    """Which Triton model (and contract) serves a request's ``model``."""

    def __init__(self, default: ModelRoute, others: Mapping[str, ModelRoute] | None = None) -> None:
        self.default = default
        self.by_name = {default.model_name: default, **dict(others or {})}

    def resolve(self, model: str) -> ModelRoute | None:
        route = self.by_name.get(model)
        if route is None and model == CONTRACT_DEFAULT_MODEL:
            return self.default
        return route


class _Failed(Exception):
    """A generation that gave up, with what it cost."""

    def __init__(self, reason: str, error: str, attempts: int) -> None:
        super().__init__(error)
        self.reason = reason
        self.error = error
        self.attempts = attempts


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
        routes: Routes,
        *,
        source_topic: str,
        max_prompt_chars: int,
        max_request_bytes: int = 1_000_000,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        budget: SampleBudget | None = None,
        max_wait_s: float = 300.0,
    ) -> None:
        self.reasoner = reasoner
        self.routes = routes
        self.source_topic = source_topic
        self.max_prompt_chars = max_prompt_chars
        self.max_request_bytes = max_request_bytes
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker()
        self.budget = budget or SampleBudget(per_s=50.0, share=1.0)
        self.max_wait_s = max_wait_s
        self.counts: Counter[str] = Counter()
        self._changed = asyncio.Event()
        self._seen_generation = self.breaker.generation

    # -- parsing -----------------------------------------------------------------------------

    def _dead(
        self, raw: bytes, reason: str, error: str, *, rid: str | None = None, attempts: int = 1
    ) -> Handled:
        self.counts[f"dead_letter.{reason}"] += 1
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

    # -- the breaker gate --------------------------------------------------------------------

    def _notify_if_changed(self) -> None:
        if self.breaker.generation != self._seen_generation:
            self._seen_generation = self.breaker.generation
            self._changed.set()
            self._changed = asyncio.Event()

    async def _admit(self, deadline: float) -> bool:
        """Wait until the breaker lets a call out, or raise CircuitOpen at the deadline.

        Returns whether the call is the half-open trial."""
        loop = asyncio.get_running_loop()
        while True:
            trial = self.breaker.state is BreakerState.HALF_OPEN
            if self.breaker.try_acquire():
                return trial
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise CircuitOpen(
                    f"circuit open: model unavailable for {self.max_wait_s:.0f}s of waiting"
                )
            # Wake when it turns half-open, or when a trial call settles it either way.
            wait = min(remaining, max(self.breaker.retry_in(), 0.05))
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=wait)

    # -- generation --------------------------------------------------------------------------

    async def _generate(
        self, route: ModelRoute, request: InferenceRequest, seed: int
    ) -> Generation:
        s = request.sampling
        params = GenerationParams(
            max_tokens=s.max_tokens,
            temperature=s.temperature,
            seed=seed,
            top_p=s.top_p,
            top_k=s.top_k,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        attempts = 0  # calls made
        spent = 0  # of the retry budget: a failed half-open trial is the outage's, not ours
        while True:
            try:
                trial = await self._admit(deadline)
            except CircuitOpen as exc:
                raise _Failed("model_unavailable", str(exc), max(attempts, 1)) from exc
            attempts += 1
            spent += 0 if trial else 1
            settled = False
            try:
                gen = await self.reasoner.generate(
                    route, request.prompt, params, f"{request.request_id}-{seed}"
                )
                self.breaker.record_success()
                settled = True
                return gen
            except ModelCallError as exc:
                if exc.kind == "model":
                    self.breaker.record_success()  # the server is there; the input was bad
                elif exc.kind == "not_ready":
                    self.breaker.record_not_ready()
                else:
                    self.breaker.record_failure()
                settled = True
                if not exc.retryable or spent >= self.retry.attempts:
                    raise _Failed(_REASONS[exc.kind], str(exc), attempts) from exc
                self.counts["retries"] += 1
            finally:
                if not settled:
                    self.breaker.abandon()
                self._notify_if_changed()
            await asyncio.sleep(min(self.retry.delay(attempts), max(0.0, deadline - loop.time())))

    async def _extra(self, route: ModelRoute, request: InferenceRequest, seed: int) -> Generation:
        # Extras wait for the rate budget; the first generation never does.
        await self.budget.pace(1)
        return await self._generate(route, request, seed)

    async def handle(self, raw: bytes) -> Handled:
        parsed = self.parse(raw)
        if isinstance(parsed, Handled):
            return parsed
        request = parsed
        route = self.routes.resolve(request.model)
        if route is None:
            known = ", ".join(sorted(self.routes.by_name))
            return self._dead(
                raw,
                "unknown_model",
                f"no route for model {request.model!r} (served: {known})",
                rid=request.request_id,
            )
        plan = self.budget.plan(request)
        base_seed = request.sampling.seed or 0
        outcomes = await asyncio.gather(
            self._generate(route, request, base_seed),
            *(self._extra(route, request, base_seed + i) for i in range(1, plan.granted)),
            return_exceptions=True,
        )
        first = outcomes[0]
        if isinstance(first, BaseException):
            return self._failure(raw, request, first)
        extras = [g for g in outcomes[1:] if isinstance(g, Generation)]
        for o in outcomes[1:]:
            if isinstance(o, asyncio.CancelledError):
                raise o
        return Handled(result=self._result(request, route, plan, first, extras))

    def produce_failed(self, raw: bytes, handled: Handled, exc: BaseException) -> Handled:
        """The dead letter of a request whose result the broker refused."""
        error = "".join(traceback.format_exception_only(exc)).strip()
        return self._dead(raw, "result_rejected", error, rid=handled.key)

    def _failure(self, raw: bytes, request: InferenceRequest, exc: BaseException) -> Handled:
        if isinstance(exc, asyncio.CancelledError):
            raise exc
        if isinstance(exc, _Failed):
            return self._dead(
                raw, exc.reason, exc.error, rid=request.request_id, attempts=exc.attempts
            )
        # A bug here must not lose the request: dead-letter it with the exception.
        error = "".join(traceback.format_exception_only(exc)).strip()
        return self._dead(raw, "gateway_error", error, rid=request.request_id)

    def _result(
        self,
        request: InferenceRequest,
        route: ModelRoute,
        plan: SamplePlan,
        first: Generation,
        extras: list[Generation],
    ) -> InferenceResult:
        gens = [first, *extras]
        degraded = plan.degraded
        if len(gens) < plan.granted:
            degraded = "sample_failed"
        if degraded:
            self.counts[f"samples.{degraded}"] += 1
        counts = [g.output_tokens for g in gens]
        self.counts["results"] += 1
        return InferenceResult(
            request_id=request.request_id,
            request_created_at=request.created_at,
            prompt=request.prompt,
            output=first.text,
            samples=[g.text for g in extras],
            model_name=first.model_name,
            model_version=first.model_version,
            latency_ms=max(g.latency_ms for g in gens),
            output_tokens=first.output_tokens,
            max_tokens=request.sampling.max_tokens,
            input_tokens=first.input_tokens,
            total_output_tokens=sum(c for c in counts if c is not None)
            if all(c is not None for c in counts)
            else None,
            adapter=first.adapter or route.adapter.name,
            samples_requested=plan.requested,
            samples_degraded=degraded,
            product=request.product,
            tenant=request.tenant,
            metadata=request.metadata,
            hold_for_review=request.hold_for_review,
        )
