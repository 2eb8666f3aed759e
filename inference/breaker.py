"""A circuit breaker for the Triton calls: stop hammering a server that is not there.

Closed: calls go through; ``failure_threshold`` consecutive failures (unavailable, timeout)
open it. Open: no calls for ``open_s``; the gateway pauses consumption so requests wait in
Kafka instead of burning their retries. Half-open: ``half_open_calls`` trial calls go
through; a success closes it, a failure opens it again for twice as long (up to
``max_open_s``). Pure logic with an injectable clock; the asyncio waiting lives in the gateway.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        open_s: float = 1.0,
        max_open_s: float = 15.0,
        half_open_calls: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.base_open_s = open_s
        self.max_open_s = max(max_open_s, open_s)
        self.half_open_calls = half_open_calls
        self._clock = clock
        self._failures = 0
        self._open_until: float | None = None
        self._open_for = open_s
        self._probes = 0
        self.times_opened = 0
        # Bumped on every transition, so waiters can tell that something changed.
        self.generation = 0

    @property
    def state(self) -> BreakerState:
        if self._open_until is None:
            return BreakerState.CLOSED
        if self._clock() < self._open_until:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def retry_in(self) -> float:
        """Seconds until the breaker lets a trial call through (0 when it would now)."""
        if self._open_until is None:
            return 0.0
        return max(0.0, self._open_until - self._clock())

    def try_acquire(self) -> bool:
        """May a call go out now? In half-open, each True takes one trial slot."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN or self._probes >= self.half_open_calls:
            return False
        self._probes += 1
        return True

    def record_success(self) -> None:
        """The server answered (a model error counts: the server is there)."""
        if self._open_until is not None:
            self.generation += 1
        self._failures = 0
        self._open_until = None
        self._open_for = self.base_open_s
        self._probes = 0

    def record_failure(self) -> None:
        """Unavailable or timed out."""
        state = self.state
        if state is BreakerState.HALF_OPEN:
            # The trial failed: open again, for longer.
            self._open_for = min(self._open_for * 2, self.max_open_s)
            self._trip()
        elif state is BreakerState.CLOSED:
            self._failures += 1
            if self._failures >= self.failure_threshold:
                self._trip()
        # Failures of calls that started before it opened don't extend an open breaker.

    def record_not_ready(self) -> None:
        """The server answered without the model loaded. Closed: not a sign of a dead server
        (a misrouted request must not stop all traffic). Half-open: the trial failed."""
        if self.state is BreakerState.HALF_OPEN:
            self.record_failure()

    def abandon(self) -> None:
        """A call that took a slot ended without an outcome (cancelled): free its slot."""
        if self._probes:
            self._probes -= 1

    def _trip(self) -> None:
        self._open_until = self._clock() + self._open_for
        self._probes = 0
        self._failures = 0
        self.times_opened += 1
        self.generation += 1
