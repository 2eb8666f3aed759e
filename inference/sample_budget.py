"""Self-consistency samples: how many a request gets, within a budget.

A request asks for k samples (``samples``), or a routing rule (``VIGIL_GATEWAY_SAMPLE_RULES``)
raises k for matching traffic. The k - 1 extra generations cost real model time, so they are
bounded two ways: a token bucket of extra generations per second, and the share of recent
requests that may get any extras. Over budget a request gets fewer samples, never none: the
first generation is always made, and the result records what was asked and why less came.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vigil.contracts import InferenceRequest
from vigil.settings import SampleRule


@dataclass(frozen=True)
class SamplePlan:
    requested: int
    granted: int
    degraded: str | None = None  # "sample_budget" when the budget cut it


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


class SampleBudget:
    """Extra generations per second (token bucket) and share of requests that get extras.

    The bucket holds one second of budget (at least one sample) and starts full; the share
    is measured over the last ``window`` requests.
    """

    def __init__(
        self,
        *,
        per_s: float,
        share: float,
        rules: Sequence[SampleRule] = (),
        window: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_s = per_s
        self.share = share
        self.rules = list(rules)
        self.capacity = max(per_s, 1.0) if per_s > 0 else 0.0
        self._tokens = self.capacity
        self._clock = clock
        self._last = clock()
        self._recent: deque[bool] = deque(maxlen=window)
        self._recent_with_extras = 0
        self.extras_granted = 0
        self.extras_denied = 0

    def plan(self, request: InferenceRequest) -> SamplePlan:
        wanted = rule_samples(request, self.rules)
        extra = self._grant(wanted - 1)
        granted = 1 + extra
        return SamplePlan(wanted, granted, "sample_budget" if granted < wanted else None)

    def _grant(self, wanted_extra: int) -> int:
        if wanted_extra <= 0:
            self._remember(False)
            return 0
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.per_s)
        self._last = now
        n = min(wanted_extra, int(self._tokens))
        if n and not self._share_allows():
            n = 0
        self._tokens -= n
        self.extras_granted += n
        self.extras_denied += wanted_extra - n
        self._remember(n > 0)
        return n

    def _share_allows(self) -> bool:
        seen = len(self._recent) + 1
        return (self._recent_with_extras + 1) / seen <= self.share + 1e-9

    def _remember(self, had_extras: bool) -> None:
        if len(self._recent) == self._recent.maxlen and self._recent[0]:
            self._recent_with_extras -= 1
        self._recent.append(had_extras)
        self._recent_with_extras += had_extras
