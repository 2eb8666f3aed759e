"""The review queue: flagged items in Redis, and everything reviewers do with them.

``ReviewQueue`` is the one entry point; each concern lives in its own module and is mixed in:
claims (``claims.py``), decisions (``decisions.py``), SLA clock (``sla.py``), hold-and-release
(``hold.py``), audit trail (``audit.py``), privacy (``privacy.py``), outbox (``outbox.py``).
Key layout: ``keys.py``; the atomic steps: ``lua/``; what each kind of event does: ``machine.py``.

Items enter idempotently by ``request_id``. The queue is ordered by priority: the SLA
deadline made earlier by ``risk_score * risk_weight_s`` (lower first; ties oldest first), so
urgent and risky items come first and a low-risk item still rises as its deadline nears.
Every state change is one Lua script that also appends its event to the audit trail and
the outbox (published to Kafka by the relay), so no change exists without its event.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

import orjson

from vigil.connections import RedisConnection
from vigil.reviewers.audit import AuditMixin
from vigil.reviewers.base import QueueBase, reply_text
from vigil.reviewers.claims import ClaimsMixin
from vigil.reviewers.connect import redis_client
from vigil.reviewers.decisions import DecisionsMixin
from vigil.reviewers.exceptions import InvalidDecision, ItemNotFound
from vigil.reviewers.hold import HoldMixin, fallback_draft
from vigil.reviewers.keys import (
    STATE_FIELDS,
    member,
    queue_hash,
    request_id_of,
    state_hash,
    subject_hash,
    text,
)
from vigil.reviewers.machine import queued_state
from vigil.reviewers.outbox import DECISIONS_TOPIC, OutboxEntry, OutboxMixin
from vigil.reviewers.policy import ReviewPolicy, flagged_checks
from vigil.reviewers.privacy import PrivacyMixin
from vigil.reviewers.sla import SlaMixin
from vigil_client.contracts import ReviewItem, ReviewState

__all__ = ["DECISIONS_TOPIC", "OutboxEntry", "ReviewQueue"]

# Items per enqueue script call: large enough to amortise the round trip, small enough that
# one call never blocks Redis for long.
ENQUEUE_BATCH = 100


class ReviewQueue(
    ClaimsMixin,
    DecisionsMixin,
    SlaMixin,
    HoldMixin,
    AuditMixin,
    PrivacyMixin,
    OutboxMixin,
    QueueBase,
):
    """Review items, claims and decisions in Redis; safe to share between threads."""

    @classmethod
    def connect(
        cls,
        conn: RedisConnection | str,
        prefix: str = "vigil",
        policy: ReviewPolicy | None = None,
    ) -> ReviewQueue:
        """The queue on the Redis of ``conn`` (``settings.redis_connection``: its login and
        TLS; a bare url for an open server)."""
        return cls(redis_client(conn), prefix, policy)

    @classmethod
    def from_url(
        cls, url: str, prefix: str = "vigil", policy: ReviewPolicy | None = None
    ) -> ReviewQueue:
        """The queue on an open Redis, or one whose url holds the login."""
        return cls.connect(url, prefix, policy)

    # --- items -------------------------------------------------------------------------

    def _enqueue_arg(self, item: ReviewItem) -> bytes:
        """One item for enqueue.lua, as one JSON object: the texts it stores and publishes as
        they are (the item, its state, how it is queued), the item hash's other fields, and
        what its indexes need."""
        plan = self.policy.plan(item)
        views = self.policy.views(item)
        subject = self.policy.subject_of(item)
        score = plan.deadline_ms - plan.bonus_ms
        state = queued_state(
            required=plan.required,
            assigned=plan.assigned,
            deadline_ms=plan.deadline_ms,
            score=score,
        ).model_dump()
        queue = {
            "member": member(item),
            "risk": item.risk_score,
            "bonus_ms": plan.bonus_ms,
            "sla_ms": plan.sla_ms,
            "retention_ms": plan.retention_ms,
            "hold": item.hold_for_review,
            "subject": subject_hash(subject) if subject else "",
            "checks": flagged_checks(item),
            "views": views,
            "fallback": fallback_draft(item, plan) if item.hold_for_review else None,
        }
        fields = {**queue_hash(queue), **state_hash(state)}
        return orjson.dumps(
            {
                "rid": item.request_id,
                "member": queue["member"],
                "score": score,
                "deadline": plan.deadline_ms,
                "assigned": plan.assigned,
                "subject": queue["subject"],
                "views": views,
                "hash": [v for pair in fields.items() for v in pair],
                "item": item.model_dump_json(),
                "state": orjson.dumps(state).decode(),
                "queue": orjson.dumps(queue).decode(),
            }
        )

    def enqueue(self, item: ReviewItem) -> bool:
        """Store a flagged item; False (and no change) when its request id is already known."""
        return self.enqueue_many([item])[0]

    def enqueue_many(self, items: Iterable[ReviewItem]) -> list[bool]:
        """Store many items, ``ENQUEUE_BATCH`` per round trip; one bool per item, in order."""
        batch: list[ReviewItem] = []
        out: list[bool] = []
        for item in items:
            batch.append(item)
            if len(batch) == ENQUEUE_BATCH:
                out += self._enqueue_batch(batch)
                batch = []
        if batch:
            out += self._enqueue_batch(batch)
        return out

    def _enqueue_batch(self, batch: list[ReviewItem]) -> list[bool]:
        # A batch that repeats a request id stores it once (the script checks each in turn).
        args: list[Any] = [len(batch), *(self._enqueue_arg(item) for item in batch)]
        return [bool(created) for created in self._run("enqueue", args)]

    def settle(
        self, outcomes: Sequence[tuple[str, bytes]], items: Sequence[ReviewItem], ttl_s: float
    ) -> dict[str, bytes]:
        """Settle each request id with its outcome (``(request_id, outcome JSON)``) once, and
        store the review items of the ids settled now: both in one script per chunk, so that a
        worker killed at any point leaves an id settled with its item, or neither. Returns the
        ids settled before, with the outcome they were settled with: a re-delivered result
        must repeat it (and its new item, if any, is not stored)."""
        by_rid: dict[str, list[ReviewItem]] = {}
        for item in items:
            by_rid.setdefault(item.request_id, []).append(item)
        unknown = set(by_rid) - {rid for rid, _ in outcomes}
        if unknown:
            raise ValueError(f"review items without an outcome to settle: {sorted(unknown)[:5]}")
        ttl_ms = max(1, int(ttl_s * 1000))
        earlier: dict[str, bytes] = {}
        for at in range(0, len(outcomes), ENQUEUE_BATCH):
            chunk = outcomes[at : at + ENQUEUE_BATCH]
            rids = dict.fromkeys(rid for rid, _ in chunk)
            chunk_items = [item for rid in rids for item in by_rid.get(rid, [])]
            args: list[Any] = [len(chunk_items), *(self._enqueue_arg(i) for i in chunk_items)]
            args += [ttl_ms, len(chunk)]
            for rid, outcome in chunk:
                args += [rid, outcome]
            reply = self._run("enqueue", args)
            for (rid, _), first in zip(chunk, reply[len(chunk_items) :], strict=True):
                if first:
                    earlier.setdefault(rid, bytes(first))
        return earlier

    def assign(self, request_id: str, reviewer: str | None, *, actor: str = "system") -> None:
        """Assign a pending item to one reviewer (None: back to the open queue)."""
        reply = self._run("assign", [request_id, reviewer or "", actor])
        status = reply_text(reply, 0)
        if status == "missing":
            raise ItemNotFound(
                f"cannot assign {request_id!r}: no review item with that request id",
                request_id=request_id,
            )
        if status != "ok":
            raise InvalidDecision(
                f"cannot assign {request_id!r}: it is settled already", request_id=request_id
            )

    def review_state(self, request_id: str) -> ReviewState | None:
        raw = self.client.hmget(self.keys.item(request_id), list(STATE_FIELDS))
        if raw[0] is None:
            return None
        fields = {
            k: text(v) if v is not None else "" for k, v in zip(STATE_FIELDS, raw, strict=True)
        }
        return ReviewState.model_validate(fields)

    # --- listing: the queue and its views, one page at a time ---------------------------

    def _page(self, key: str, offset: int, limit: int) -> list[ReviewItem]:
        if offset < 0 or limit <= 0:
            return []
        # Without WITHSCORES the reply is a plain list of members.
        members = cast("list[bytes | str]", self.client.zrange(key, offset, offset + limit - 1))
        if not members:
            return []
        # A second round trip for the items of this page only (never the whole queue).
        pipe = self.client.pipeline(transaction=False)
        for m in members:
            pipe.hmget(self.keys.item(request_id_of(m)), ["item", "state"])
        items: list[ReviewItem] = []
        for raw, state in pipe.execute():
            # An item settled between the two round trips is skipped, not shown as pending.
            if raw is not None and state is not None and text(state) == "pending":
                items.append(ReviewItem.from_json(raw))
        return items

    def pending(self, offset: int = 0, limit: int = 50) -> list[ReviewItem]:
        """One page of unsettled items, most urgent first (see the module docstring)."""
        return self._page(self.keys.pending, offset, limit)

    def count_pending(self) -> int:
        return int(self.client.zcard(self.keys.pending))

    def open_items(
        self, tier: str = "reviewer", offset: int = 0, limit: int = 50
    ) -> list[ReviewItem]:
        """Unassigned items at ``tier`` with a free seat (what "claim next" picks from)."""
        return self._page(self.keys.open(tier), offset, limit)

    def view(self, view: str, offset: int = 0, limit: int = 50) -> list[ReviewItem]:
        """One page of unsettled items in a view: ``check:<name>``, ``model:<version>``,
        ``segment:<key>=<value>``, ``alert:<id>``, ``product:<name>``."""
        return self._page(self.keys.view(view), offset, limit)

    def count_view(self, view: str) -> int:
        return int(self.client.zcard(self.keys.view(view)))

    def view_counts(self, kind: str | None = None) -> dict[str, int]:
        """Unsettled items per view (e.g. ``kind="check"``); empty views are left out."""
        names = sorted(text(v) for v in self.client.smembers(self.keys.views))
        if kind is not None:
            names = [n for n in names if n.startswith(f"{kind}:")]
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.zcard(self.keys.view(name))
        return {n: int(c) for n, c in zip(names, pipe.execute(), strict=True) if c}
