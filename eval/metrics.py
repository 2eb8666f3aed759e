"""Ranking and flagging metrics, pure: AUROC, precision/recall, recall at a review budget."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["FlagStats", "auroc", "flag_stats", "recall_at_budget"]


def auroc(scores: Sequence[float], positives: Sequence[bool]) -> float:
    """Probability that a random positive scores above a random negative (ties count half).

    NaN when either class is empty. Rank-based (Mann-Whitney U), O(n log n).
    """
    n_pos = sum(1 for p in positives if p)
    n_neg = len(positives) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    rank_sum = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        mid_rank = (i + j) / 2 + 1  # average 1-based rank of the tied run
        rank_sum += mid_rank * sum(1 for k in range(i, j + 1) if positives[order[k]])
        i = j + 1
    u = rank_sum - n_pos * (n_pos + 1) / 2
    return u / (n_pos * n_neg)


@dataclass(frozen=True)
class FlagStats:
    flagged: int
    true_positives: int
    positives: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.flagged if self.flagged else math.nan

    @property
    def recall(self) -> float:
        return self.true_positives / self.positives if self.positives else math.nan


def flag_stats(flags: Sequence[bool], positives: Sequence[bool]) -> FlagStats:
    return FlagStats(
        flagged=sum(1 for f in flags if f),
        true_positives=sum(1 for f, p in zip(flags, positives, strict=True) if f and p),
        positives=sum(1 for p in positives if p),
    )


def recall_at_budget(scores: Sequence[float], positives: Sequence[bool], budget: float) -> float:
    """Share of positives among the ``budget`` fraction of items with the highest scores.

    Ties at the cut are broken by input order (stable), so the number is reproducible.
    """
    n_pos = sum(1 for p in positives if p)
    if n_pos == 0:
        return math.nan
    take = math.ceil(budget * len(scores))
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    return sum(1 for i in order[:take] if positives[i]) / n_pos
