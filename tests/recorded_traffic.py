"""Results as the replay reasoner returns them, built offline from the recorded GSM8K outputs.

For the drift benchmark and the monitor's tests: the same records the gateway publishes
(recorded solution of the served variant, the samples a seed selects with
``VIGIL_REPLAY_SAMPLES=cross-model``: other variants of the file, i.e. cross-model agreement,
and the variant's Triton model version), without running Triton. Latency is drawn from one fixed
log-normal, so it never drifts unless a caller asks it to.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from vigil.inference.replay_data import ReplayBook
from vigil_client.contracts import InferenceResult, new_request_id


class RecordedTraffic:
    def __init__(self, path: Path, seed: int = 0) -> None:
        self.book = ReplayBook.load(path)
        self.questions = self.book.questions()
        self.rng = random.Random(seed)

    def version(self, variant: str) -> str:
        """The Triton model version the replay reasoner labels ``variant`` with."""
        return str(self.book.variant(variant).version)

    def result(
        self,
        variant: str,
        *,
        samples: int = 2,
        product: str = "demo",
        metadata: Mapping[str, str] | None = None,
        latency_ms: tuple[float, float] = (20.0, 0.3),
        question: str | None = None,
    ) -> InferenceResult:
        """One result of ``variant`` for a random question, with ``samples`` extra samples."""
        q = question if question is not None else self.rng.choice(self.questions)
        _, output = self.book.answer(q, variant, 0)
        extra = [
            self.book.answer(q, variant, seed, cross_model=True)[1]
            for seed in range(1, samples + 1)
        ]
        median, sigma = latency_ms
        return InferenceResult(
            request_id=new_request_id(),
            request_created_at=datetime.now(UTC),
            prompt=q,
            output=output,
            samples=extra,
            model_name="replay-reasoner",
            model_version=self.version(variant),
            latency_ms=self.rng.lognormvariate(0, sigma) * median,
            product=product,
            metadata=dict(metadata or {}),
            samples_requested=samples + 1,
        )
