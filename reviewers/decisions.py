"""Decisions: approve, reject, correct, escalate, comment (decide.lua does the state change).

A verdict (approve/reject/correct) or an escalation needs the reviewer's live claim on the
item's current version; without a claim id the queue claims a free seat and decides in the
same step. When the version has all the verdicts it needs, the item settles if they agree,
else it goes one tier up for adjudication. Each decision is stored with its tier, version
and ``final`` flag, published on ``review.decisions`` and recorded as an event.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from vigil.reviewers.base import QueueBase, reply_text
from vigil.reviewers.claims import tiers_arg
from vigil.reviewers.correction import agreement_label, prepare
from vigil.reviewers.exceptions import InvalidDecision, ItemNotFound, StaleClaim
from vigil.reviewers.hold import decision_release
from vigil.reviewers.keys import text
from vigil_client.contracts import ReviewDecision
from vigil_client.names import TOP_TIER, VERDICTS

# Set by decide.lua from the item's state, never by the caller.
_SET_BY_SCRIPT = {"tier", "item_version", "final", "escalate_to"}


class DecisionsMixin(QueueBase):
    def decide(
        self, decision: ReviewDecision, *, tiers: Sequence[str] | None = None
    ) -> ReviewDecision:
        """Record a decision and its events atomically; returns it as stored.

        Retrying the very same decision (same ``decision_id``) after e.g. a timeout returns
        the stored decision instead of failing, so at-least-once callers are safe. ``tiers``
        limits the tiers this reviewer may decide at (None: any).
        """
        rid = decision.request_id
        item = self.get(rid)
        if item is None:
            stored = self._stored(rid, decision.decision_id)
            if stored is not None:
                return stored
            gone = "it was erased" if self.is_erased(rid) else "no review item with that request id"
            raise ItemNotFound(f"cannot decide {rid!r}: {gone}", request_id=rid)
        prepared = prepare(item, decision)
        outcome, release = "", b""
        if item.hold_for_review and prepared.decision in VERDICTS:
            outcome, release = decision_release(item, prepared)
        reply = self._run(
            "decide",
            [
                rid,
                prepared.reviewer,
                prepared.decision_id,
                prepared.decision,
                prepared.claim_id or "",
                tiers_arg(tiers),
                prepared.model_dump_json(exclude=_SET_BY_SCRIPT),
                agreement_label(prepared),
                release,
                decision.escalate_to or "",
                (prepared.reason or "").strip(),
                outcome,
            ],
        )
        status, detail = reply_text(reply, 0), reply_text(reply, 1)
        if status in ("ok", "dup"):
            return ReviewDecision.from_json(detail)
        raise self._refusal(prepared, status, detail)

    def _refusal(self, d: ReviewDecision, status: str, detail: str) -> Exception:
        rid = d.request_id
        head = f"cannot decide {rid!r}"
        if status == "missing":
            return ItemNotFound(f"{head}: no review item with that request id", request_id=rid)
        if status == "erased":
            return ItemNotFound(f"{head}: it was erased", request_id=rid)
        if status == "decided":
            stored = ReviewDecision.from_json(detail)
            return InvalidDecision(
                f"{head}: already decided ({stored.decision}) by {stored.reviewer} "
                f"at {stored.decided_at.isoformat()}",
                request_id=rid,
                existing=stored,
            )
        if status == "stale":
            return StaleClaim(f"{head}: {detail}", request_id=rid)
        holders = ", ".join(sorted(text(c) for c in self.client.hkeys(self.keys.claims(rid))))
        why = {
            "tier": f"it is at tier {detail}, which {d.reviewer} may not decide at",
            "assigned": f"it is assigned to {detail}",
            "voted": f"{d.reviewer} gave a verdict on this version already",
            "full": f"every reviewer seat is claimed (by {holders or 'others'}); claim it first",
            "top": f"it is at the top tier ({TOP_TIER}): there is no one to escalate to",
            "bad_target": f"cannot escalate to {detail}: it must be a higher tier",
        }.get(status, status)
        return InvalidDecision(f"{head}: {why}", request_id=rid)

    def _stored(self, rid: str, decision_id: str) -> ReviewDecision | None:
        raw = self.client.hget(self.keys.decisions(rid), decision_id)
        return None if raw is None else ReviewDecision.from_json(raw)

    def decision(self, request_id: str) -> ReviewDecision | None:
        """The decision that settled the item (None while it is unsettled)."""
        raw = self.client.hget(self.keys.item(request_id), "decision")
        return None if raw is None else ReviewDecision.from_json(raw)

    def decisions(self, request_id: str) -> list[ReviewDecision]:
        """Every decision on the item (votes, escalations, comments), oldest first."""
        raw = self.client.hvals(self.keys.decisions(request_id))
        out = [ReviewDecision.from_json(r) for r in raw]
        return sorted(out, key=lambda d: (d.decided_at, d.decision_id))

    def ratings(self) -> dict[str, dict[str, object]]:
        """rid -> ReviewRating as a dict, for every multi-reviewer version (agreement.py)."""
        return {text(k): orjson.loads(v) for k, v in self.client.hgetall(self.keys.ratings).items()}
