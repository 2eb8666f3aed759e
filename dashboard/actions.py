"""Everything a console user can change, each checked against the user's role first.

These run on the server for every button press: the role comes from the users file (or the
OIDC identity) as it is *now*, and ``roles.require`` refuses before the queue is touched.
The review tiers a role may work are passed to the queue too, so the queue's own scripts
refuse a reviewer deciding at the lead tier even if a page offered it by mistake.
"""

from __future__ import annotations

import time
from typing import Any

from vigil.dashboard.auth import User
from vigil.dashboard.exceptions import PermissionDenied
from vigil.dashboard.roles import TIERS, Action, require
from vigil.reviewers.claims import Claim
from vigil.reviewers.queue import ReviewQueue
from vigil_client.contracts import DecisionKind, ReviewDecision, ReviewItem
from vigil_client.names import tiers_above


def _tiers(user: User) -> tuple[str, ...]:
    return TIERS[user.role]


def _own(user: User, held: Claim, action: Action) -> None:
    if held.reviewer != user.name:
        raise PermissionDenied(
            f"{user.name} cannot use {held.reviewer}'s claim on {held.request_id!r}",
            user=user.name,
            role=user.role,
            action=action,
        )


def claim_next(queue: ReviewQueue, user: User) -> Claim | None:
    """The most urgent item this user may take now, claimed (None: nothing to take)."""
    require(user.name, user.role, "claim")
    return queue.claim_next(user.name, tiers=_tiers(user))


def claim(queue: ReviewQueue, user: User, request_id: str) -> Claim:
    require(user.name, user.role, "claim")
    return queue.claim(request_id, user.name, tiers=_tiers(user))


def my_claim(queue: ReviewQueue, user: User, request_id: str) -> Claim | None:
    """The user's live claim on the item, as Redis has it (it survives a page reload)."""
    now_ms = int(time.time() * 1000)
    for c in queue.claims(request_id):
        if c.reviewer == user.name and c.expires_ms > now_ms:
            return c
    return None


def heartbeat(queue: ReviewQueue, user: User, held: Claim) -> Claim:
    require(user.name, user.role, "claim")
    _own(user, held, "claim")
    return queue.heartbeat(held)


def release(queue: ReviewQueue, user: User, held: Claim) -> None:
    require(user.name, user.role, "claim")
    _own(user, held, "claim")
    queue.release_claim(held)


def decide(
    queue: ReviewQueue,
    user: User,
    item: ReviewItem,
    kind: DecisionKind,
    *,
    held: Claim | None = None,
    corrected_answer: str | None = None,
    corrected_steps: list[str] | None = None,
    first_wrong_step: int | None = None,
    comment: str | None = None,
    reason: str | None = None,
    escalate_to: str | None = None,
) -> ReviewDecision:
    """Record a decision (approve, reject, correct, escalate) or a comment.

    ``first_wrong_step`` is an index into ``item.steps`` (0-based), as
    ``ReviewItem.first_faulty_step``; the pages show 1-based step numbers. The queue checks
    the rest (a correction must change something, an escalation needs a reason, the claim
    must be live) and raises ``InvalidDecision`` / ``StaleClaim`` / ``ItemNotFound``.
    """
    require(user.name, user.role, "comment" if kind == "comment" else "decide")
    if held is not None:
        _own(user, held, "decide")
    fields: dict[str, Any] = {
        "request_id": item.request_id,
        "decision": kind,
        "reviewer": user.name,
        "corrected_answer": corrected_answer if kind == "correct" else None,
        "corrected_steps": corrected_steps if kind == "correct" else None,
        "first_wrong_step": first_wrong_step,
        "comment": (comment or "").strip() or None,
        "reason": (reason or "").strip() or None,
        "escalate_to": escalate_to if kind == "escalate" else None,
        "claim_id": held.claim_id if held is not None and kind != "comment" else None,
        "model_name": item.model_name,
        "model_version": item.model_version,
        "product": item.product,
        "tenant": item.tenant,
        "metadata": item.metadata,
    }
    # Comments are not tied to a tier (anyone who may comment can, at any tier).
    tiers = None if kind == "comment" else _tiers(user)
    return queue.decide(ReviewDecision(**fields), tiers=tiers)


def next_tiers(current: str) -> list[str]:
    """The tiers an item at ``current`` may be escalated to, nearest first."""
    return list(tiers_above(current))
