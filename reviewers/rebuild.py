"""Rebuild the review state from its events (``review.events``), and compare states.

Every state change is a ``ReviewEvent`` carrying the item's state after it (plus the item,
decision, release or rating it introduced), so folding an item's events in ``seq`` order
gives back what the scripts wrote. What each kind of event does beyond its state (what it
records, its effect on claims and votes) is its row of the state machine,
``reviewers/machine.py``; each effect is replayed here by one function. Live claims come
back too: ``claimed`` and ``claim_renewed`` carry the claim id and lease expiry;
``claim_released``, ``claim_expired``, the holder's ``decided``, an ``escalated`` (a new
version) and an ``assigned`` to someone else end them. A claim whose lease is still running
by the Redis clock is restored with the same id, reviewer and expiry (so its holder can
still decide with it, and the normal reaping expires it); one already lapsed is not, and its
seat is free. Settled items whose retention has run out are left out, as Redis would have
expired them. ``streams/review_log.py`` reads the events from Kafka for ``vigil rebuild``.

``snapshot`` dumps the review keys of a prefix in a canonical form (JSON parsed, the outbox
left out), so two states can be compared with ``==``; claims and leases are in it, so the
comparison holds while no lease lapses between the two states.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import orjson
import redis

from vigil.connections import RedisConnection
from vigil.reviewers.connect import redis_client
from vigil.reviewers.exceptions import RebuildError
from vigil.reviewers.keys import Keys, epoch_ms, queue_hash, state_hash, text
from vigil.reviewers.machine import TRANSITIONS, ClaimEffect, Record, VoteEffect
from vigil_client.contracts import ReviewEvent
from vigil_client.names import VERDICTS

# Not rebuilt: the outbox (already published).
_TRANSIENT = ("outbox",)


@dataclass(frozen=True)
class _Claim:
    claim_id: str
    expires_ms: int
    version: int


@dataclass
class _Item:
    fields: dict[str, str] = field(default_factory=dict)
    audit: list[bytes] = field(default_factory=list)
    decisions: dict[str, bytes] = field(default_factory=dict)
    votes: dict[str, str] = field(default_factory=dict)
    views: list[str] = field(default_factory=list)
    claims: dict[str, _Claim] = field(default_factory=dict)  # reviewer -> claim
    rating: bytes | None = None
    decided_ms: int | None = None
    breached_ms: int | None = None
    expires_at_ms: int | None = None
    erased: bool = False
    seq: int = 0


@dataclass
class RebuildStats:
    events: int = 0
    duplicates: int = 0
    gaps: int = 0
    items: int = 0
    erased: int = 0
    expired: int = 0
    claims: int = 0  # live claims restored
    lapsed_claims: int = 0  # claims whose lease ran out before the rebuild: seats free
    views: set[str] = field(default_factory=set)


def _dump(value: Any) -> bytes:
    return orjson.dumps(value)


def _apply(item: _Item, ev: dict[str, Any], raw: bytes) -> None:
    # The event's row of the state machine says what it did; each effect is replayed by one
    # function below.
    t = TRANSITIONS[ev["type"]]
    if "item" in t.records:
        # The audit trail's copy leaves out the item and its queue fields (the item hash
        # has them); the JSON is compared parsed, so re-serialising it is fine.
        item.audit.append(_dump({k: v for k, v in ev.items() if k not in ("item", "queue")}))
    else:
        item.audit.append(raw)
    item.seq = ev["seq"]
    item.fields.update(state_hash(ev["state"]))
    item.fields["seq"] = str(ev["seq"])
    for record in t.records:
        _RECORDS[record](item, ev)
    _VOTES[t.votes](item, ev)
    _CLAIMS[t.claims](item, ev)


# --- what an event records besides the state (Transition.records) -------------------------


def _record_item(item: _Item, ev: dict[str, Any]) -> None:
    q = ev["queue"]
    item.views = list(q["views"])
    item.fields.update({"item": _dump(ev["item"]).decode(), **queue_hash(q)})


def _record_decision(item: _Item, ev: dict[str, Any]) -> None:
    decision = ev["decision"]
    item.decisions[decision["decision_id"]] = _dump(decision)
    if ev.get("rating") is not None:
        item.rating = _dump(ev["rating"])
    if decision["final"]:  # the decision that settled the item
        item.fields["decision"] = _dump(decision).decode()
        item.decided_ms = _at_ms(ev)
        item.expires_at_ms = ev.get("expires_at_ms")


def _record_breach(item: _Item, ev: dict[str, Any]) -> None:
    item.breached_ms = _at_ms(ev)


def _record_release(item: _Item, ev: dict[str, Any]) -> None:
    item.fields["release"] = _dump(ev["release"]).decode()


def _record_erasure(item: _Item, ev: dict[str, Any]) -> None:
    item.erased = True


_RECORDS: dict[Record, Callable[[_Item, dict[str, Any]], None]] = {
    "item": _record_item,
    "decision": _record_decision,
    "breach": _record_breach,
    "release": _record_release,
    "erasure": _record_erasure,
}


def _at_ms(ev: dict[str, Any]) -> int:
    return epoch_ms(datetime.fromisoformat(ev["at"]))


# --- the current version's verdicts (Transition.votes) ---------------------------------------


def _votes_verdict(item: _Item, ev: dict[str, Any]) -> None:
    decision = ev["decision"]
    if decision["decision"] in VERDICTS:
        item.votes[decision["reviewer"]] = ev["label"]
    if ev["state"]["done"] >= ev["state"]["required"]:
        item.votes = {}  # the version's verdicts are all in: settled or sent up


def _votes_clear(item: _Item, ev: dict[str, Any]) -> None:
    item.votes = {}


_VOTES: dict[VoteEffect, Callable[[_Item, dict[str, Any]], None]] = {
    "none": lambda item, ev: None,
    "verdict": _votes_verdict,
    "clear": _votes_clear,
}


# --- live claims (Transition.claims) --------------------------------------------------------


def _claims_grant(item: _Item, ev: dict[str, Any]) -> None:
    if ev.get("lease_expires_ms") is None or not ev.get("claim_id"):
        raise RebuildError(
            f"event {ev['event_id']} ({ev['type']}) lacks its claim id or lease expiry: "
            "cannot restore the claim"
        )
    # A claim is always on the item's current version (an escalation voids the others).
    item.claims[ev["reviewer"]] = _Claim(
        ev["claim_id"], int(ev["lease_expires_ms"]), int(ev["state"]["version"])
    )


def _claims_drop(item: _Item, ev: dict[str, Any]) -> None:
    item.claims.pop(ev["reviewer"], None)


def _claims_drop_decider(item: _Item, ev: dict[str, Any]) -> None:
    item.claims.pop(ev["decision"]["reviewer"], None)


def _claims_keep_assignee(item: _Item, ev: dict[str, Any]) -> None:
    # Assigning voids every claim but the assignee's (no event per claim); unassigning
    # (no reviewer) voids none.
    if ev.get("reviewer"):
        item.claims = {r: c for r, c in item.claims.items() if r == ev["reviewer"]}


def _claims_clear(item: _Item, ev: dict[str, Any]) -> None:
    item.claims = {}


_CLAIMS: dict[ClaimEffect, Callable[[_Item, dict[str, Any]], None]] = {
    "none": lambda item, ev: None,
    "grant": _claims_grant,
    "drop": _claims_drop,
    "drop_decider": _claims_drop_decider,
    "keep_assignee": _claims_keep_assignee,
    "clear": _claims_clear,
}


def fold(events: Iterable[bytes], stats: RebuildStats) -> dict[str, _Item]:
    """Each request id's state from its events (duplicates skipped, gaps counted)."""
    items: dict[str, _Item] = {}
    for raw in events:
        # Validated against the contract: a malformed event stops the rebuild, loudly.
        ReviewEvent.from_json(raw)
        ev = orjson.loads(raw)
        stats.events += 1
        item = items.setdefault(ev["request_id"], _Item())
        if ev["seq"] <= item.seq:
            stats.duplicates += 1  # at-least-once delivery: seen already
            continue
        if ev["seq"] != item.seq + 1:
            stats.gaps += 1  # events missing (e.g. past the topic's retention)
        _apply(item, ev, raw)
        if "item" in TRANSITIONS[ev["type"]].records:
            stats.views.update(item.views)
    return items


def rebuild(
    client: redis.Redis, prefix: str, events: Iterable[bytes], *, force: bool = False
) -> RebuildStats:
    """Write the state folded from ``events`` under ``prefix`` (which must be empty unless
    ``force``, which deletes what is there first)."""
    keys = Keys(prefix)
    existing = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if existing and not force:
        raise RebuildError(
            f"{len(existing)} keys exist under {prefix!r}; rebuild into an empty prefix "
            "or database, or pass force to replace them"
        )
    for start in range(0, len(existing), 1000):
        client.delete(*existing[start : start + 1000])
    stats = RebuildStats()
    items = fold(events, stats)
    # The Redis clock, as the scripts use it for leases and retention.
    secs, micros = cast("tuple[int, int]", client.time())
    now_ms = secs * 1000 + micros // 1000
    pipe = client.pipeline(transaction=False)
    for n, (rid, item) in enumerate(items.items(), 1):
        _write(pipe, keys, rid, item, now_ms, stats)
        if n % 200 == 0:
            pipe.execute()
    if stats.views:
        pipe.sadd(keys.views, *sorted(stats.views))
    pipe.execute()
    return stats


def _write(pipe: Any, keys: Keys, rid: str, item: _Item, now_ms: int, stats: RebuildStats) -> None:
    if item.erased:
        pipe.set(keys.erased(rid), "1")
        stats.erased += 1
        return
    if not item.fields.get("item"):
        return  # its queued event is gone (retention): nothing to rebuild it from
    f = item.fields
    if f["state"] == "decided" and item.expires_at_ms is not None and item.expires_at_ms <= now_ms:
        stats.expired += 1
        return
    stats.items += 1
    pipe.hset(keys.item(rid), mapping=f)
    pipe.rpush(keys.audit(rid), *item.audit)
    if item.decisions:
        pipe.hset(keys.decisions(rid), mapping=item.decisions)
    if item.votes:
        pipe.hset(keys.votes(rid), mapping=item.votes)
    if item.rating is not None:
        pipe.hset(keys.ratings, rid, item.rating)
    if f["subject"]:
        pipe.sadd(keys.subject(f["subject"]), rid)
    if item.breached_ms is not None:
        pipe.zadd(keys.breached, {rid: item.breached_ms})
    score, member = int(f["score"]), f["member"]
    if f["state"] == "pending":
        pipe.zadd(keys.pending, {member: score})
        for view in item.views:
            pipe.zadd(keys.view(view), {member: score})
        live = {r: c for r, c in item.claims.items() if c.expires_ms > now_ms}
        stats.claims += len(live)
        stats.lapsed_claims += len(item.claims) - len(live)
        for reviewer, c in live.items():
            pipe.hset(keys.claims(rid), reviewer, f"{c.claim_id}|{c.expires_ms}|{c.version}")
            pipe.zadd(keys.leases, {f"{rid}|{reviewer}": c.expires_ms})
        # In its claim queue while a seat is free (as refresh_open in prelude.lua keeps it).
        if int(f["required"]) - int(f["done"]) - len(live) > 0:
            queue = keys.assigned(f["assigned"]) if f["assigned"] else keys.open(f["tier"])
            pipe.zadd(queue, {member: score})
        if int(f["deadline_ms"]) > 0:
            pipe.zadd(keys.deadlines, {rid: int(f["deadline_ms"])})
        return
    if item.decided_ms is not None:
        pipe.zadd(keys.decided, {rid: item.decided_ms})
    if item.expires_at_ms is not None:
        for key in (keys.item(rid), keys.audit(rid), keys.decisions(rid)):
            pipe.pexpireat(key, item.expires_at_ms)


def _canonical(raw: bytes | str) -> Any:
    # JSON values are compared parsed (field order and number formatting may differ).
    value = raw if isinstance(raw, bytes) else raw.encode()
    if value[:1] in (b"{", b"["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            pass
    return value.decode(errors="replace")


def snapshot(client: redis.Redis, prefix: str) -> dict[str, Any]:
    """The durable review state under ``prefix``: key -> (type, canonical value, expiry ms)."""
    out: dict[str, Any] = {}
    for raw_key in client.scan_iter(match=f"{prefix}:*", count=1000):
        name = text(raw_key)
        kind = name[len(prefix) + 1 :].split(":", 1)[0]
        if kind in _TRANSIENT:
            continue
        ktype = text(client.type(raw_key))
        value: Any
        if ktype == "hash":
            value = {text(k): _canonical(v) for k, v in client.hgetall(raw_key).items()}
        elif ktype == "list":
            value = [_canonical(v) for v in client.lrange(raw_key, 0, -1)]
        elif ktype == "zset":
            rows = cast("list[tuple[bytes, float]]", client.zrange(raw_key, 0, -1, withscores=True))
            value = [(text(m), s) for m, s in rows]
        elif ktype == "set":
            value = sorted(text(m) for m in client.smembers(raw_key))
        else:
            value = _canonical(client.get(raw_key) or b"")
        out[name] = (ktype, value, int(client.pexpiretime(raw_key)))
    return out


def rebuild_at(
    conn: RedisConnection | str, prefix: str, events: Iterable[bytes], *, force: bool = False
) -> RebuildStats:
    """:func:`rebuild` into the Redis of ``conn`` (for callers that hold no client)."""
    client = redis_client(conn, socket_timeout_s=60)
    try:
        return rebuild(client, prefix, events, force=force)
    finally:
        client.close()
