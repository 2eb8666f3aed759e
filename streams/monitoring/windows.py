"""Tumbling windows of monitoring rows, closed by count, by time, or whichever comes first.

A window keeps every row (the features, for drift and bias) and a small uniform sample of the
full results (reservoir sampling; the monitor's are results with their verdicts), from which
an alert picks the items it sends to review.
An empty window never closes: a quiet hour is not a window of zero results.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

CloseReason = Literal["count", "time", "shutdown"]
T = TypeVar("T")


@dataclass
class ClosedWindow(Generic[T]):
    """A finished window, ready to be judged."""

    opened_at: float
    closed_at: float
    reason: CloseReason
    rows: list[dict[str, Any]]
    samples: list[T]
    # Set by the monitor when it stores the window (a Redis counter: unique across restarts).
    window_id: str = ""


@dataclass
class TumblingWindow(Generic[T]):
    """Rows of the open window; ``size`` results or ``seconds`` (0 turns a limit off)."""

    size: int
    seconds: float
    keep_samples: int = 20
    seed: int | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    samples: list[T] = field(default_factory=list)
    opened_at: float | None = None
    _seen: int = 0
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        if self.size <= 0 and self.seconds <= 0:
            raise ValueError("a window needs a size, a duration, or both")
        self._rng = random.Random(self.seed)

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, row: dict[str, Any], result: T, now: float) -> ClosedWindow[T] | None:
        """Add one result's row; returns the closed window when this row filled it."""
        if self.opened_at is None:
            self.opened_at = now
        self.rows.append(row)
        self._seen += 1
        # Reservoir sampling: every result of the window equally likely to be kept.
        if len(self.samples) < self.keep_samples:
            self.samples.append(result)
        else:
            j = self._rng.randrange(self._seen)
            if j < self.keep_samples:
                self.samples[j] = result
        if self.size > 0 and len(self.rows) >= self.size:
            return self.close(now, "count")
        return None

    def due(self, now: float) -> bool:
        """True when the time limit has passed for a window holding rows."""
        return (
            self.seconds > 0
            and self.opened_at is not None
            and bool(self.rows)
            and now - self.opened_at >= self.seconds
        )

    def close(self, now: float, reason: CloseReason) -> ClosedWindow[T] | None:
        """Hand over the rows and start an empty window; None when there were no rows."""
        if not self.rows or self.opened_at is None:
            return None
        closed = ClosedWindow(
            opened_at=self.opened_at,
            closed_at=now,
            reason=reason,
            rows=self.rows,
            samples=self.samples,
        )
        self.rows = []
        self.samples = []
        self.opened_at = None
        self._seen = 0
        return closed
