"""The review state machine, written once: what each kind of event does to an item.

The Lua scripts (``reviewers/lua/``) make the changes, each with its event; ``rebuild.py``
replays the events through this table (each effect below is implemented there once);
``tests/reviewers/test_machine.py`` runs every script path on a real Redis and checks each
event the scripts emit against its row here (the item state before and after, version,
tier, verdict count, breaches, assignee, release) and the rebuilt state against the live
one. The names (event kinds, item states, tiers) are the SDK's, ``vigil_client.names``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vigil_client.contracts import ReviewState
from vigil_client.names import FIRST_TIER, ItemState, ReviewEventType

# What an event does to the item's live claims (``P:claims:<rid>``): ``grant`` gives (or
# renews) the event's reviewer its claim (the event carries its id and expiry), ``drop``
# ends the event reviewer's, ``drop_decider`` the deciding reviewer's, ``keep_assignee``
# ends all but the new assignee's, ``clear`` ends all.
ClaimEffect = Literal["none", "grant", "drop", "drop_decider", "keep_assignee", "clear"]
# What it does to the current version's verdicts (``P:votes:<rid>``): ``verdict`` records the
# decider's label (a verdict only) and ends the version's votes once they are all in.
VoteEffect = Literal["none", "verdict", "clear"]
# What it records besides the state: the item and how it is queued, a decision (and its
# rating, for a version with several reviewers), an SLA breach, a release, an erasure.
Record = Literal["item", "decision", "breach", "release", "erasure"]


@dataclass(frozen=True)
class Transition:
    """One kind of event: the item state it may follow and what it changes (its ``state``
    carries the result). Deadlines and scores are the SLA clock's, not modelled here."""

    # The item's state before the event (None: not stored yet) and the state it carries.
    before: frozenset[ItemState | None]
    after: frozenset[ItemState]
    # ``first``: 1 / the first tier; ``keep``: unchanged; ``bump`` / ``up``: a new version at
    # a higher tier (claims and votes of the old version are void).
    version: Literal["first", "keep", "bump"] = "keep"
    tier: Literal["first", "keep", "up"] = "keep"
    # Verdicts needed: the item's plan, unchanged, or one (a higher tier's single verdict).
    required: Literal["plan", "keep", "one"] = "keep"
    # Verdicts recorded: ``zero`` (a new version), ``keep``, or ``verdict`` (one more if the
    # event's decision is a verdict).
    done: Literal["zero", "keep", "verdict"] = "keep"
    breaches: int = 0  # added by the event
    # The assigned reviewer: the item's plan, unchanged, the event's reviewer, or none.
    assignee: Literal["plan", "keep", "reviewer", "clear"] = "keep"
    releases: bool = False  # ``released`` becomes the event's outcome
    claims: ClaimEffect = "none"
    votes: VoteEffect = "none"
    records: tuple[Record, ...] = ()
    removes: bool = False  # the item is deleted with it (only its erased marker stays)


_PENDING: frozenset[ItemState] = frozenset({"pending"})
_ANY: frozenset[ItemState] = frozenset({"pending", "decided"})

TRANSITIONS: dict[ReviewEventType, Transition] = {
    "queued": Transition(
        before=frozenset({None}),
        after=_PENDING,
        version="first",
        tier="first",
        required="plan",
        done="zero",
        assignee="plan",
        records=("item",),
    ),
    "claimed": Transition(before=_PENDING, after=_PENDING, claims="grant"),
    "claim_renewed": Transition(before=_PENDING, after=_PENDING, claims="grant"),
    "claim_released": Transition(before=_PENDING, after=_PENDING, claims="drop"),
    # A lapsed lease is expired by the next script that touches the item.
    "claim_expired": Transition(before=_ANY, after=_ANY, claims="drop"),
    "assigned": Transition(
        before=_PENDING, after=_PENDING, assignee="reviewer", claims="keep_assignee"
    ),
    # A verdict, or an escalation decision (its ``escalated`` event follows); the version's
    # last verdict settles the item if all agree, else an ``escalated`` follows.
    "decided": Transition(
        before=_PENDING,
        after=_ANY,
        done="verdict",
        claims="drop_decider",
        votes="verdict",
        records=("decision",),
    ),
    "commented": Transition(before=_ANY, after=_ANY, records=("decision",)),
    "escalated": Transition(
        before=_PENDING,
        after=_PENDING,
        version="bump",
        tier="up",
        required="one",
        done="zero",
        assignee="clear",
        claims="clear",
        votes="clear",
    ),
    "sla_breached": Transition(before=_PENDING, after=_PENDING, breaches=1, records=("breach",)),
    "released": Transition(before=_ANY, after=_ANY, releases=True, records=("release",)),
    "erased": Transition(
        before=_ANY, after=_ANY, claims="clear", records=("erasure",), removes=True
    ),
}


def queued_state(*, required: int, assigned: str, deadline_ms: int, score: int) -> ReviewState:
    """The state an item enters the queue with (the ``queued`` row: version 1, first tier,
    no verdicts, releases or breaches yet); enqueue.lua writes it as given."""
    return ReviewState(
        state="pending",
        tier=FIRST_TIER,
        version=1,
        required=required,
        done=0,
        deadline_ms=deadline_ms,
        score=score,
        released="",
        assigned=assigned,
        breaches=0,
    )
