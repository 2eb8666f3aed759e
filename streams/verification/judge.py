"""One judgement: the verifier model on Triton asked about one result, within budget.

Every way it can fail ends in a judgement that says so (``not_verified``), never in an
exception: over budget (``budget.py``), the circuit open (``inference/breaker.py``: the
model failed or timed out ``breaker_failures`` times in a row), the call timed out or failed,
or its answer could not be read (``critique.py``). The model is called through the model
adapters (``inference/adapters.py``), so any model a team serves can be the verifier.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from vigil.inference.adapters import GenerationParams, load_adapter
from vigil.inference.breaker import CircuitBreaker
from vigil.inference.client import ModelRoute, TritonClient
from vigil.inference.exceptions import ModelCallError
from vigil.streams.checks.config import VerifierSection
from vigil.streams.checks.solution import parse_solution
from vigil.streams.verification.budget import TokenBucket
from vigil.streams.verification.critique import (
    DEFAULT_TEMPLATE,
    CritiqueParseError,
    parse_critique,
    parse_step_scores,
    prm_input,
    render_prompt,
)
from vigil.streams.verification.opinion import not_verified
from vigil_client.contracts import InferenceResult, Judgement

log = logging.getLogger("vigil.verifier")


def load_template(config: VerifierSection) -> str:
    path = Path(config.prompt_template) if config.prompt_template else DEFAULT_TEMPLATE
    return path.read_text(encoding="utf-8")


class Judge:
    """Judges results with the configured verifier model; one instance per process."""

    def __init__(
        self,
        config: VerifierSection,
        client: TritonClient,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.client = client
        self.route = ModelRoute(config.model, load_adapter(config.adapter))
        self.template = load_template(config) if config.mode == "critic" else ""
        self.budget = TokenBucket(config.max_per_s, clock=clock)
        self.breaker = CircuitBreaker(
            failure_threshold=config.breaker_failures,
            open_s=config.breaker_open_s,
            max_open_s=config.breaker_open_s * 8,
            clock=clock,
        )

    def prompt(self, result: InferenceResult, steps: list[str]) -> str:
        if self.config.mode == "prm":
            return prm_input(result.prompt, steps)
        return render_prompt(self.template, result.prompt, steps)

    async def judge(self, result: InferenceResult) -> Judgement:
        """The verifier's judgement of ``result``, or a ``not_verified`` one saying why."""
        rid = result.request_id
        config = self.config
        steps = [s.text for s in parse_solution(result.output).steps]
        if not steps:
            return not_verified(rid, config, "no steps to verify")
        if not self.breaker.try_acquire():
            return not_verified(rid, config, f"circuit open ({self.breaker.retry_in():.0f}s)")
        if not self.budget.take():
            self.breaker.abandon()
            return not_verified(rid, config, f"over budget ({config.max_per_s:g}/s)")
        params = GenerationParams(max_tokens=config.max_tokens, temperature=0.0)
        started = time.perf_counter()
        try:
            generation = await asyncio.wait_for(
                self.client.generate(self.route, self.prompt(result, steps), params, rid),
                timeout=config.timeout_s,
            )
        except TimeoutError:
            self.breaker.record_failure()
            return not_verified(rid, config, f"timeout after {config.timeout_s:g}s")
        except ModelCallError as exc:
            if exc.kind in ("model", "not_ready"):
                self.breaker.record_success()  # the server answered
            else:
                self.breaker.record_failure()
            return not_verified(rid, config, f"model error ({exc.kind}): {exc}"[:300])
        except asyncio.CancelledError:
            self.breaker.abandon()
            raise
        self.breaker.record_success()
        latency = (time.perf_counter() - started) * 1000.0
        try:
            if config.mode == "prm":
                critique = parse_step_scores(generation.text, len(steps), config.prm_threshold)
            else:
                critique = parse_critique(generation.text, len(steps))
        except CritiqueParseError as exc:
            log.info("verifier answer for %s not understood: %s", rid, exc)
            return not_verified(rid, config, f"unparseable answer: {exc}"[:300])
        return Judgement(
            request_id=rid,
            status="verified",
            verifier=config.model,
            mode=config.mode,
            first_wrong_step=critique.first_wrong_step,
            reason=critique.reason,
            score=critique.score,
            step_scores=list(critique.step_scores),
            latency_ms=latency,
        )
