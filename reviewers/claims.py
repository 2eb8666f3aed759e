"""Claims: a reviewer's lease on an item, granted atomically in one round trip (claim.lua).

A claim lasts ``lease_s`` unless its holder renews it (``heartbeat``); a lapsed claim is
expired by the next claim, decision or SLA tick, which frees its seat for someone else.
An item needs ``required`` verdicts per version, so it has that many seats; a reviewer
holds at most one, and never one on a version they already judged. An escalation starts a
new version and voids every claim of the old one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vigil.reviewers.base import QueueBase, reply_text
from vigil.reviewers.exceptions import ClaimRefused, StaleClaim
from vigil.reviewers.keys import from_ms, text
from vigil_client.names import REVIEW_TIERS, ReviewTier

# Which tiers a role works, first choice first (the console maps its users' roles here).
TIERS_BY_ROLE: dict[str, tuple[ReviewTier, ...]] = {
    "reviewer": ("reviewer",),
    "lead": ("lead", "reviewer"),
    "ml_team": ("ml_team",),
    "admin": tuple(reversed(REVIEW_TIERS)),  # every tier, the highest first
}


@dataclass(frozen=True)
class Claim:
    request_id: str
    reviewer: str
    claim_id: str
    expires_ms: int
    item_version: int
    tier: str

    @property
    def expires_at(self) -> datetime:
        return from_ms(self.expires_ms)


_REFUSALS = {
    "missing": "no review item with that request id",
    "decided": "it is settled already",
    "voted": "you gave a verdict on this version already",
    "full": "every reviewer seat on it is taken (claimed by others)",
}


def tiers_arg(tiers: Sequence[str] | None) -> str:
    return "" if not tiers else ",".join(tiers)


class ClaimsMixin(QueueBase):
    def _claim_reply(self, reviewer: str, claim_id: str, reply: list[Any]) -> Claim:
        return Claim(
            request_id=text(reply[1]),
            reviewer=reviewer,
            claim_id=text(reply[2]),
            expires_ms=int(reply[3]),
            item_version=int(reply[4]),
            tier=text(reply[5]),
        )

    def claim(
        self,
        request_id: str,
        reviewer: str,
        *,
        tiers: Sequence[str] | None = None,
        lease_s: float | None = None,
    ) -> Claim:
        """Claim one item; the same claim back if the reviewer holds it already."""
        claim_id = uuid.uuid4().hex
        reply = self._run(
            "claim",
            ["one", reviewer, claim_id, self._lease_ms(lease_s), tiers_arg(tiers), request_id, 0],
        )
        status = reply_text(reply, 0)
        if status == "ok":
            return self._claim_reply(reviewer, claim_id, reply)
        detail = reply_text(reply, 1)
        why = _REFUSALS.get(status) or {
            "tier": f"it is at tier {detail}, not one of {tiers_arg(tiers)}",
            "assigned": f"it is assigned to {detail}",
        }.get(status, status)
        raise ClaimRefused(
            f"{reviewer} cannot claim {request_id!r}: {why}", request_id=request_id, reason=status
        )

    def claim_next(
        self,
        reviewer: str,
        *,
        tiers: Sequence[str] | None = ("reviewer",),
        lease_s: float | None = None,
    ) -> Claim | None:
        """The most urgent item this reviewer may take (assigned ones first), or None."""
        claim_id = uuid.uuid4().hex
        reply = self._run(
            "claim",
            [
                "next",
                reviewer,
                claim_id,
                self._lease_ms(lease_s),
                tiers_arg(tiers),
                "",
                self.policy.scan_limit,
            ],
        )
        if reply_text(reply, 0) != "ok":
            return None
        return self._claim_reply(reviewer, claim_id, reply)

    def heartbeat(self, claim: Claim, *, lease_s: float | None = None) -> Claim:
        """Renew a live claim for another lease period; ``StaleClaim`` if it is not live."""
        reply = self._lease("heartbeat", claim, lease_s)
        return Claim(
            claim.request_id,
            claim.reviewer,
            claim.claim_id,
            int(reply[1]),
            claim.item_version,
            claim.tier,
        )

    def release_claim(self, claim: Claim) -> None:
        """Give the item back to the queue before the lease runs out."""
        self._lease("release", claim, None)

    def _lease(self, mode: str, claim: Claim, lease_s: float | None) -> list[Any]:
        reply = self._run(
            "lease",
            [mode, claim.request_id, claim.reviewer, claim.claim_id, self._lease_ms(lease_s)],
        )
        if reply_text(reply, 0) != "ok":
            raise StaleClaim(
                f"{claim.reviewer} on {claim.request_id!r}: {reply_text(reply, 1)}",
                request_id=claim.request_id,
            )
        return list(reply)

    def claims(self, request_id: str) -> list[Claim]:
        """The item's claims as stored (a lapsed one stays until something expires it)."""
        raw = self.client.hgetall(self.keys.claims(request_id))
        tier = self.client.hget(self.keys.item(request_id), "tier")
        out = []
        for reviewer, value in raw.items():
            claim_id, expires, version = text(value).split("|")
            out.append(
                Claim(
                    request_id,
                    text(reviewer),
                    claim_id,
                    int(expires),
                    int(version),
                    text(tier) if tier else "",
                )
            )
        return sorted(out, key=lambda c: c.expires_ms)

    def _lease_ms(self, lease_s: float | None) -> int:
        return int((lease_s if lease_s is not None else self.policy.lease_s) * 1000)
