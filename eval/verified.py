"""``vigil eval --verifier``: the same replay with the verifier model's judgement joined.

Each result the ``[verifier]`` routing would send (its risk band, products, share; the
budget is lifted: offline, every chosen result is judged) is judged by the verifier model on
a running Triton (``settings.triton_grpc_url``: ``vigil up``, or ``vigil triton`` with the
verifier served), one at a time, and its triage built again exactly as the worker's join
builds it (``Screener.finish``). What could not be verified is counted by reason.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from vigil.inference.client import TritonClient
from vigil.settings import VigilSettings
from vigil.streams.checks.config import VerifierSection
from vigil.streams.triage import Screener, Triage
from vigil.streams.verification.judge import Judge
from vigil.streams.verification.opinion import verifier_check
from vigil.streams.verification.selection import wants_verification
from vigil_client.contracts import InferenceResult

Rejudge = Callable[[Sequence[InferenceResult], list[Triage]], list[Triage]]


@dataclass
class VerifierTally:
    judged: int = 0
    seconds: float = 0.0
    not_verified: Counter[str] = field(default_factory=Counter)

    def line(self, config: VerifierSection) -> str:
        per = self.seconds / self.judged if self.judged else 0.0
        failed = sum(self.not_verified.values())
        why = ", ".join(f"{n} {r}" for r, n in self.not_verified.most_common(4))
        return (
            f"verifier {config.model} ({config.mode}): {self.judged} judged, "
            f"{per:.2f}s each; {failed} not verified" + (f" ({why})" if why else "")
        )


def offline_config(config: VerifierSection) -> VerifierSection:
    """The section as the eval runs it: on, and no rate budget (every chosen row judged)."""
    return config.model_copy(update={"enabled": True, "max_per_s": 1e9})


def verifier_rejudge(
    settings: VigilSettings, screener: Screener, config: VerifierSection, tally: VerifierTally
) -> Rejudge:
    def rejudge(results: Sequence[InferenceResult], triaged: list[Triage]) -> list[Triage]:
        return asyncio.run(_run(results, triaged))

    async def _run(results: Sequence[InferenceResult], triaged: list[Triage]) -> list[Triage]:
        client = TritonClient(
            settings.triton_grpc_url, timeout_s=config.timeout_s, tls=settings.triton_tls
        )
        judge = Judge(config, client)
        by_id = {r.request_id: r for r in results}
        out = []
        try:
            for t in triaged:
                result = by_id[t.outcome.request_id]
                if not wants_verification(config, result, t.outcome.risk_score):
                    out.append(t)
                    continue
                started = time.perf_counter()
                j = await judge.judge(result)
                tally.seconds += time.perf_counter() - started
                tally.judged += 1
                if j.not_verified:
                    tally.not_verified[j.not_verified.split(":")[0].split(" (")[0]] += 1
                out.append(screener.finish(result, [*t.outcome.checks, verifier_check(j)]))
        finally:
            await client.close()
        return out

    return rejudge
