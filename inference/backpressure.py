"""The gateway's bookkeeping between Kafka and Triton: what may be committed, when to pause.

Records of a partition finish out of order (many generations run at once), but an offset may
only be committed once every record before it is finished *and* its output acknowledged by
the broker: :class:`OffsetTracker` keeps, per partition, the offsets taken and not yet
finished, and commits up to the lowest of them. :class:`FlowControl` decides when to stop
fetching: too many records pending in memory (Triton slower than Kafka), or the circuit
breaker open (Triton gone: requests wait in Kafka, not in memory). Pure logic, unit-tested.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

TP = TypeVar("TP")


@dataclass
class _Partition:
    pending: set[int] = field(default_factory=set)
    # One past the highest offset taken so far: what to commit when nothing is pending.
    next_offset: int | None = None
    committed: int | None = None


class OffsetTracker(Generic[TP]):
    def __init__(self) -> None:
        self._parts: dict[TP, _Partition] = {}

    def take(self, tp: TP, offset: int) -> None:
        part = self._parts.setdefault(tp, _Partition())
        part.pending.add(offset)
        part.next_offset = max(part.next_offset or 0, offset + 1)

    def finish(self, tp: TP, offset: int) -> None:
        part = self._parts.get(tp)
        if part is not None:
            part.pending.discard(offset)

    @property
    def pending(self) -> int:
        return sum(len(p.pending) for p in self._parts.values())

    def pending_in(self, tps: set[TP]) -> int:
        return sum(len(p.pending) for tp, p in self._parts.items() if tp in tps)

    def committable(self) -> dict[TP, int]:
        """Offsets to commit now (Kafka's "next offset to read"), only where they advanced."""
        out: dict[TP, int] = {}
        for tp, part in self._parts.items():
            if part.next_offset is None:
                continue
            safe = min(part.pending) if part.pending else part.next_offset
            if part.committed is None or safe > part.committed:
                out[tp] = safe
        return out

    def committed(self, offsets: dict[TP, int]) -> None:
        for tp, offset in offsets.items():
            part = self._parts.get(tp)
            if part is not None:
                part.committed = offset

    def forget(self, tps: set[TP]) -> None:
        """Partitions revoked: their records are another consumer's now."""
        for tp in tps:
            self._parts.pop(tp, None)


@dataclass(frozen=True)
class FlowDecision:
    pause: bool
    reason: str | None  # "pending" or "circuit_open"


class FlowControl:
    """Pause above ``max_pending`` records, resume below ``resume_below`` (hysteresis), and
    pause while the circuit breaker is open."""

    def __init__(self, max_pending: int, resume_below: int | None = None) -> None:
        self.max_pending = max_pending
        self.resume_below = resume_below if resume_below is not None else max(1, max_pending // 2)
        self._paused_for_pending = False

    def decide(self, pending: int, breaker_open: bool) -> FlowDecision:
        if pending >= self.max_pending:
            self._paused_for_pending = True
        elif pending < self.resume_below:
            self._paused_for_pending = False
        if breaker_open:
            return FlowDecision(True, "circuit_open")
        if self._paused_for_pending:
            return FlowDecision(True, "pending")
        return FlowDecision(False, None)

    def room(self, pending: int) -> int:
        """How many more records may be fetched now."""
        return max(0, self.max_pending - pending)
