"""The names of the review process that products and the server share, each written once.

The ``Literal`` types are the definitions (the contracts use them, so the JSON Schemas list
them, and mypy checks every literal written against them); the tuples and tables beside
them are derived, in the same order. The server's Lua scripts get them from here too
(``reviewers/lua/__init__.py`` writes them into each script's preamble). Topic names are in
``vigil_client.topics``.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Literal, get_args

# Who reviews, in escalation order: a reviewer, then a lead, then the ML team.
ReviewTier = Literal["reviewer", "lead", "ml_team"]
REVIEW_TIERS: tuple[ReviewTier, ...] = get_args(ReviewTier)
FIRST_TIER: ReviewTier = REVIEW_TIERS[0]
TOP_TIER: ReviewTier = REVIEW_TIERS[-1]
# 1 for the first tier; an escalation goes to a tier of higher rank.
TIER_RANK: dict[ReviewTier, int] = {t: n for n, t in enumerate(REVIEW_TIERS, 1)}
# Where an escalation (or an SLA breach) sends an item by default; the top tier has none.
NEXT_TIER: dict[ReviewTier, ReviewTier] = dict(pairwise(REVIEW_TIERS))


def tiers_above(tier: str) -> tuple[ReviewTier, ...]:
    """The tiers an item at ``tier`` may be escalated to, nearest first."""
    return REVIEW_TIERS[REVIEW_TIERS.index(tier) + 1 :] if tier in REVIEW_TIERS else ()


# A review item is pending until a decision settles it.
ItemState = Literal["pending", "decided"]
ITEM_STATES: tuple[ItemState, ...] = get_args(ItemState)

# Every kind of state change of a review item (``ReviewEvent.type``).
ReviewEventType = Literal[
    "queued",
    "claimed",
    "claim_renewed",
    "claim_released",
    "claim_expired",
    "assigned",
    "decided",
    "commented",
    "escalated",
    "sla_breached",
    "released",
    "erased",
]
REVIEW_EVENT_TYPES: tuple[ReviewEventType, ...] = get_args(ReviewEventType)

# approve / reject / correct settle an item (verdicts); escalate moves it one tier up (or to
# ``escalate_to``); comment only adds a note.
DecisionKind = Literal["approve", "reject", "correct", "escalate", "comment"]
DECISION_KINDS: tuple[DecisionKind, ...] = get_args(DecisionKind)
VERDICTS: frozenset[str] = frozenset({"approve", "reject", "correct"})

# The check whose result is the verifier model's opinion (streams/verification/).
VERIFIER_CHECK = "verifier"
