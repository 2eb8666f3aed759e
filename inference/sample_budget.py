"""Self-consistency samples: how many a request gets, and the pace of the extra generations.

A request asks for k samples (``samples``), or a routing rule (``VIGIL_GATEWAY_SAMPLE_RULES``)
raises k for matching traffic. How many it gets is decided from the request alone, never from
what the process did before: a request that Kafka delivers again (a gateway killed before its
transaction committed) gets the same k, so its one visible result is the same whichever
delivery produced it. The share of requests that may get any extras is a hash of the request
id against ``share`` (stable across restarts, processes and replicas); a request outside it
gets one generation, and the result says so (``samples_degraded = "sample_budget"``).

The k - 1 extra generations cost real model time, so their *rate* is bounded by a token bucket
(extra generations per second). Over that rate extras wait for their turn; they are never cut,
since the number of samples must not depend on how busy the process was.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vigil.settings import SampleRule
from vigil_client.contracts import InferenceRequest


@dataclass(frozen=True)
class SamplePlan:
    requested: int
    granted: int
    degraded: str | None = None  # "sample_budget" when the share (or a zero rate) cut it


def rule_samples(request: InferenceRequest, rules: Sequence[SampleRule]) -> int:
    """k for this request: its own ask, raised by every matching rule."""
    k = request.samples
    for rule in rules:
        if all(_field(request, key) == want for key, want in rule.match.items()):
            k = max(k, rule.samples)
    return k


def _field(request: InferenceRequest, key: str) -> str | None:
    if key.startswith("metadata."):
        return request.metadata.get(key.removeprefix("metadata."))
    if key in ("product", "tenant", "model"):
        value = getattr(request, key)
        return None if value is None else str(value)
    return None


def share_point(request_id: str) -> float:
    """Where a request id falls in [0, 1): uniform, and the same in every process."""
    digest = hashlib.blake2b(request_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class SampleBudget:
    """Which requests get their extra samples (a pure function of the request), and a token
    bucket of extra generations per second that paces them.

    The bucket holds one second of budget (at least one sample) and starts full; a request
    that takes more tokens than there are waits until the debt is paid back.
    """

    def __init__(
        self,
        *,
        per_s: float,
        share: float,
        rules: Sequence[SampleRule] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_s = per_s
        self.share = share
        self.rules = list(rules)
        self.capacity = max(per_s, 1.0)
        self._tokens = self.capacity
        self._clock = clock
        self._last = clock()
        self.extras_granted = 0
        self.extras_denied = 0
        self.paced_s = 0.0  # total time extras waited for the rate budget

    def plan(self, request: InferenceRequest) -> SamplePlan:
        wanted = rule_samples(request, self.rules)
        if wanted <= 1:
            return SamplePlan(wanted, 1)
        if self.per_s <= 0 or share_point(request.request_id) >= self.share:
            self.extras_denied += wanted - 1
            return SamplePlan(wanted, 1, "sample_budget")
        self.extras_granted += wanted - 1
        return SamplePlan(wanted, wanted)

    def delay_for(self, extras: int) -> float:
        """Take ``extras`` tokens; how long to wait before generating them (0: at once)."""
        if extras <= 0:
            return 0.0
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.per_s)
        self._last = now
        self._tokens -= extras
        if self._tokens >= 0:
            return 0.0
        wait = -self._tokens / self.per_s
        self.paced_s += wait
        return wait

    async def pace(self, extras: int) -> None:
        """Wait for the rate budget of ``extras`` generations."""
        wait = self.delay_for(extras)
        if wait > 0:
            await asyncio.sleep(wait)
