"""The review queue in Redis: flagged items, reviewers' decisions, and the decisions' outbox.

Key layout (``P`` is the prefix, ``vigil`` by default):

- ``P:item:<request_id>``  hash: ``item`` (ReviewItem JSON), ``state`` (pending|decided),
  ``member`` (its member in the pending set), ``decision`` (ReviewDecision JSON, once decided).
  Never deleted, so it doubles as the idempotency record for re-delivered items.
- ``P:pending``  sorted set of the pending items, read in ascending order. The score is
  ``-risk_score`` (riskiest first); the member is ``<enqueued_at µs, 20 digits>:<request_id>``
  so that items with the same score come out oldest first (Redis orders equal scores by
  member, byte-wise).
- ``P:audit:<request_id>``  list of JSON audit entries, oldest first.
- ``P:outbox``  stream of events still to publish to Kafka (fields ``topic``, ``key``,
  ``value``, ``dedupe``), read by the relay through the consumer group ``relay``.

Decisions go to Kafka through the outbox rather than from the dashboard directly: the
decision and its event are written by one Lua script, so neither exists without the other,
and the relay publishes at least once (consumers dedupe on ``dedupe`` = ``decision_id``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import orjson
import redis

from reviewers import lua
from reviewers.exceptions import InvalidDecision, ItemNotFound
from vigil.contracts import ReviewDecision, ReviewItem

DECISIONS_TOPIC = "review.decisions"
RELAY_GROUP = "relay"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class OutboxEntry:
    """One event waiting in the outbox; ack it once Kafka has acknowledged the send."""

    entry_id: str
    topic: str
    key: str
    value: bytes
    dedupe: str


def _text(raw: bytes | str) -> str:
    # Works with clients made with or without ``decode_responses``.
    return raw.decode() if isinstance(raw, bytes) else raw


def _bytes(raw: bytes | str) -> bytes:
    return raw if isinstance(raw, bytes) else raw.encode()


def _member(item: ReviewItem) -> str:
    enqueued = item.enqueued_at
    if enqueued.tzinfo is None:  # the contract says UTC; treat a naive time as UTC
        enqueued = enqueued.replace(tzinfo=UTC)
    micros = max(0, (enqueued - _EPOCH) // _MICROSECOND)
    # Fixed width so that byte order is time order.
    return f"{micros:020d}:{item.request_id}"


def _request_id(member: bytes | str) -> str:
    return _text(member).split(":", 1)[1]


def _now() -> str:
    return datetime.now(UTC).isoformat()


class ReviewQueue:
    """Review items and decisions in Redis; safe to share between threads (as the client is)."""

    def __init__(self, client: redis.Redis, prefix: str = "vigil") -> None:
        self.client = client
        self.prefix = prefix
        self.pending_key = f"{prefix}:pending"
        self.outbox_key = f"{prefix}:outbox"
        # register_script sends EVALSHA and loads the script on NOSCRIPT (e.g. after a
        # Redis restart), so each call stays one round trip in the normal case.
        self._enqueue = client.register_script(lua.ENQUEUE)
        self._decide = client.register_script(lua.DECIDE)
        self._group_ready = False

    @classmethod
    def from_url(cls, url: str, prefix: str = "vigil") -> ReviewQueue:
        # A socket timeout so that a hung server surfaces as an error instead of a frozen
        # page; it must stay above ``block_ms`` of ``outbox_read``.
        client = redis.Redis.from_url(url, socket_connect_timeout=5.0, socket_timeout=30.0)
        return cls(client, prefix)

    def _item_key(self, request_id: str) -> str:
        return f"{self.prefix}:item:{request_id}"

    def _audit_key(self, request_id: str) -> str:
        return f"{self.prefix}:audit:{request_id}"

    # --- items -------------------------------------------------------------------------

    def enqueue(self, item: ReviewItem) -> bool:
        """Store a flagged item; False (and no change) when its request id is already known."""
        member = _member(item)
        audit = orjson.dumps({"at": _now(), "action": "enqueued", "risk_score": item.risk_score})
        created = self._enqueue(
            keys=[
                self._item_key(item.request_id),
                self.pending_key,
                self._audit_key(item.request_id),
            ],
            args=[item.to_json(), member, repr(-item.risk_score), audit],
        )
        return bool(created)

    def pending(self, offset: int = 0, limit: int = 50) -> list[ReviewItem]:
        """One page of pending items, riskiest first, then oldest first."""
        if offset < 0 or limit <= 0:
            return []
        # Without WITHSCORES the reply is a plain list of members.
        members = cast(
            "list[bytes | str]", self.client.zrange(self.pending_key, offset, offset + limit - 1)
        )
        if not members:
            return []
        # A second round trip for the items of this page only (never the whole queue).
        pipe = self.client.pipeline(transaction=False)
        for member in members:
            pipe.hmget(self._item_key(_request_id(member)), ["item", "state"])
        items: list[ReviewItem] = []
        for raw, state in pipe.execute():
            # An item decided between the two round trips is skipped, not shown as pending.
            if raw is not None and state is not None and _text(state) == "pending":
                items.append(ReviewItem.from_json(raw))
        return items

    def count_pending(self) -> int:
        return int(self.client.zcard(self.pending_key))

    def get(self, request_id: str) -> ReviewItem | None:
        raw = self.client.hget(self._item_key(request_id), "item")
        return None if raw is None else ReviewItem.from_json(raw)

    def state(self, request_id: str) -> str | None:
        """``"pending"``, ``"decided"``, or None for an unknown request id."""
        raw = self.client.hget(self._item_key(request_id), "state")
        return None if raw is None else _text(raw)

    # --- decisions ---------------------------------------------------------------------

    def decide(self, decision: ReviewDecision) -> ReviewDecision:
        """Record a decision and its outbox event atomically; refuse unknown or decided items.

        Retrying the very same decision (same ``decision_id``) after e.g. a timeout returns
        the stored decision instead of failing, so at-least-once callers are safe.
        """
        rid = decision.request_id
        payload = decision.to_json()
        audit = orjson.dumps(
            {
                "at": decision.decided_at.isoformat(),
                "action": "decided",
                "actor": decision.reviewer,
                "decision": decision.decision,
                "decision_id": decision.decision_id,
            }
        )
        reply = self._decide(
            keys=[self._item_key(rid), self.pending_key, self._audit_key(rid), self.outbox_key],
            args=[payload, decision.decision_id, audit, DECISIONS_TOPIC, rid],
        )
        status = _text(reply[0])
        if status == "ok":
            return decision
        if status == "missing":
            raise ItemNotFound(
                f"cannot decide {rid!r}: no review item with that request id", request_id=rid
            )
        stored = ReviewDecision.from_json(reply[1])
        if stored.decision_id == decision.decision_id:
            return stored  # an idempotent retry of the decision that won
        raise InvalidDecision(
            f"cannot decide {rid!r}: already decided ({stored.decision}) by {stored.reviewer} "
            f"at {stored.decided_at.isoformat()}",
            request_id=rid,
            existing=stored,
        )

    def decision(self, request_id: str) -> ReviewDecision | None:
        raw = self.client.hget(self._item_key(request_id), "decision")
        return None if raw is None else ReviewDecision.from_json(raw)

    def audit(self, request_id: str) -> list[dict[str, Any]]:
        """The item's audit trail, oldest first (enqueued, then decided)."""
        return [orjson.loads(raw) for raw in self.client.lrange(self._audit_key(request_id), 0, -1)]

    # --- outbox, for the relay that publishes to Kafka ------------------------------------

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        # id "0": a group created after entries were written still delivers all of them.
        with contextlib.suppress(redis.ResponseError):  # BUSYGROUP: it exists already
            self.client.xgroup_create(self.outbox_key, RELAY_GROUP, id="0", mkstream=True)
        self._group_ready = True

    def _read(self, consumer: str, start: str, count: int, block: int | None) -> list[OutboxEntry]:
        reply = self.client.xreadgroup(
            RELAY_GROUP, consumer, {self.outbox_key: start}, count=count, block=block
        )
        return self._entries(reply)

    def _entries(self, reply: Any) -> list[OutboxEntry]:
        # RESP2 gives [[stream, [(id, fields), ...]]]; RESP3 gives {stream: [[id, fields]]}.
        streams = reply.values() if isinstance(reply, dict) else [s[1] for s in reply or []]
        out: list[OutboxEntry] = []
        stale: list[str] = []
        for rows in streams:
            for entry_id, fields in rows:
                if not fields:  # deleted while still pending: nothing left to send
                    stale.append(_text(entry_id))
                    continue
                f = {_text(k): v for k, v in fields.items()}
                out.append(
                    OutboxEntry(
                        entry_id=_text(entry_id),
                        topic=_text(f["topic"]),
                        key=_text(f["key"]),
                        value=_bytes(f["value"]),
                        dedupe=_text(f["dedupe"]),
                    )
                )
        if stale:
            self.client.xack(self.outbox_key, RELAY_GROUP, *stale)
        return out

    def outbox_read(
        self, consumer: str, count: int = 100, block_ms: int = 1000
    ) -> list[OutboxEntry]:
        """Entries for ``consumer`` to publish: its own un-acked ones first, then new ones.

        Re-reading its own pending entries (id "0") on every call is what makes a relay that
        crashed between the Kafka send and the ack send them again after a restart under the
        same consumer name. Blocks up to ``block_ms`` only when there is nothing to re-send.
        """
        self._ensure_group()
        try:
            entries = self._read(consumer, "0", count, None)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # The stream (and with it the group) was deleted since we created it.
            self._group_ready = False
            self._ensure_group()
            entries = []
        room = count - len(entries)
        if room > 0:
            entries += self._read(consumer, ">", room, None if entries else block_ms)
        return entries

    def outbox_claim(
        self, consumer: str, min_idle_ms: int = 60_000, count: int = 100
    ) -> list[OutboxEntry]:
        """Take over entries another relay read but never acked (it died under another name)."""
        self._ensure_group()
        reply = self.client.xautoclaim(
            self.outbox_key, RELAY_GROUP, consumer, min_idle_ms, start_id="0-0", count=count
        )
        return self._entries([[self.outbox_key, reply[1]]])

    def outbox_ack(self, entry_ids: list[str]) -> None:
        """Forget entries Kafka has acknowledged: XACK then XDEL, in one MULTI."""
        if not entry_ids:
            return
        pipe = self.client.pipeline(transaction=True)
        pipe.xack(self.outbox_key, RELAY_GROUP, *entry_ids)
        pipe.xdel(self.outbox_key, *entry_ids)
        pipe.execute()

    def outbox_length(self) -> int:
        """Entries not yet acked (published or not); the relay's backlog."""
        return int(self.client.xlen(self.outbox_key))
