"""The verifier's rate budget: a token bucket of judgements per second.

Pure, with an injectable clock. Past the budget the verifier answers "not verified: over
budget" at once: the result is not held waiting for capacity it will not get.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self,
        rate_per_s: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate_per_s
        # A short burst (one second's worth, at least one) absorbs a batch arriving at once.
        self.capacity = burst if burst is not None else max(1.0, rate_per_s)
        self._clock = clock
        self._tokens = self.capacity
        self._at = clock()

    def take(self) -> bool:
        """Spend one judgement if the budget has one now."""
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
