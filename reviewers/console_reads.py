"""Read-only queries the console needs beyond ``ReviewQueue``'s own API (all bounded).

- ``recent_activity``: the ``limit`` most recently settled items (``P:decided``) since a
  moment, each with every decision recorded on it (votes, escalations, comments), in one
  pipelined round trip, for the team page. Items still in review are not looked at (there
  is no index of votes by time), so a decision counts once its item has settled.
- ``open_counts``: per tier, the unassigned items with a free seat (what "claim next" takes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from vigil.reviewers.base import QueueBase
from vigil.reviewers.keys import text
from vigil_client.contracts import ReviewDecision
from vigil_client.names import REVIEW_TIERS


@dataclass(frozen=True)
class SettledActivity:
    """What ``recent_activity`` read: the decisions, and how many settled items they cover."""

    decisions: list[ReviewDecision]
    items: int
    truncated: bool


def settled_since(queue: QueueBase, since_ms: int, limit: int) -> tuple[list[str], bool]:
    """The request ids of the (at most ``limit``, newest first) items settled since
    ``since_ms``, and whether there were more."""
    rids = cast(
        "list[bytes]",
        queue.client.zrevrangebyscore(queue.keys.decided, "+inf", since_ms, start=0, num=limit + 1),
    )
    return [text(r) for r in rids[:limit]], len(rids) > limit


def recent_activity(queue: QueueBase, since_ms: int, limit: int = 2000) -> SettledActivity:
    """Every decision on the (at most ``limit``) items settled since ``since_ms``."""
    rids, truncated = settled_since(queue, since_ms, limit)
    pipe = queue.client.pipeline(transaction=False)
    for rid in rids:
        pipe.hvals(queue.keys.decisions(rid))
    decisions = [ReviewDecision.from_json(raw) for values in pipe.execute() for raw in values or []]
    decisions.sort(key=lambda d: (d.decided_at, d.decision_id))
    return SettledActivity(decisions=decisions, items=len(rids), truncated=truncated)


def open_counts(queue: QueueBase) -> dict[str, int]:
    """Unassigned items with a free seat, per tier (one pipelined round trip)."""
    pipe = queue.client.pipeline(transaction=False)
    for tier in REVIEW_TIERS:
        pipe.zcard(queue.keys.open(tier))
    return {t: int(n) for t, n in zip(REVIEW_TIERS, pipe.execute(), strict=True)}
