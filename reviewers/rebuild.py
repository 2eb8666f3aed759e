"""Rebuild the review state from its events (``review.events``), and compare states.

Every state change is a ``ReviewEvent`` carrying the item's state after it (plus the item,
decision, release or rating it introduced), so folding an item's events in ``seq`` order
gives back what the scripts wrote. Live claims come back too: ``claimed`` and
``claim_renewed`` carry the claim id and lease expiry; ``claim_released``,
``claim_expired``, the holder's ``decided``, an ``escalated`` (a new version) and an
``assigned`` to someone else end them. A claim whose lease is still running by the Redis
clock is restored with the same id, reviewer and expiry (so its holder can still decide
with it, and the normal reaping expires it); one already lapsed is not, and its seat is
free. Settled items whose retention has run out are left out, as Redis would have expired
them. ``streams/review_log.py`` reads the events from Kafka for ``vigil rebuild``.

``snapshot`` dumps the review keys of a prefix in a canonical form (JSON parsed, the outbox
left out), so two states can be compared with ``==``; claims and leases are in it, so the
comparison holds while no lease lapses between the two states.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import orjson
import redis

from reviewers.exceptions import RebuildError
from reviewers.keys import STATE_FIELDS, Keys, epoch_ms, text
from vigil_client.contracts import VERDICTS, ReviewEvent

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
    if ev["type"] == "queued":
        # The audit trail's copy leaves out the item and its queue fields (the item hash
        # has them); the JSON is compared parsed, so re-serialising it is fine.
        item.audit.append(_dump({k: v for k, v in ev.items() if k not in ("item", "queue")}))
    else:
        item.audit.append(raw)
    item.seq = ev["seq"]
    item.fields.update({k: str(ev["state"][k]) for k in STATE_FIELDS})
    item.fields["seq"] = str(ev["seq"])
    at_ms = epoch_ms(datetime.fromisoformat(ev["at"]))
    kind = ev["type"]
    if kind == "queued":
        q = ev["queue"]
        item.views = list(q["views"])
        item.fields.update(
            {
                "item": _dump(ev["item"]).decode(),
                "member": q["member"],
                "risk": repr(float(q["risk"])),
                "bonus": str(q["bonus_ms"]),
                "sla_ms": str(q["sla_ms"]),
                "retention_ms": str(q["retention_ms"]),
                "hold": "1" if q["hold"] else "0",
                "views": _dump(q["views"]).decode(),
                "checks": _dump(q["checks"]).decode(),
                "subject": q["subject"],
                "fallback": _dump(q["fallback"]).decode() if q["fallback"] else "",
            }
        )
    elif kind in ("decided", "commented"):
        decision = ev["decision"]
        item.decisions[decision["decision_id"]] = _dump(decision)
        if kind == "decided" and decision["decision"] in VERDICTS:
            item.votes[decision["reviewer"]] = ev["label"]
        if ev.get("rating") is not None:
            item.rating = _dump(ev["rating"])
        if kind == "decided" and (
            ev.get("rating") is not None or ev["state"]["state"] == "decided"
        ):
            item.votes = {}  # the version's verdicts are all in: settled or sent up
        if kind == "decided" and ev["state"]["state"] == "decided":
            item.fields["decision"] = _dump(decision).decode()
            item.decided_ms = at_ms
            item.expires_at_ms = ev.get("expires_at_ms")
    elif kind == "escalated":
        item.votes = {}
    elif kind == "sla_breached":
        item.breached_ms = at_ms
    elif kind == "released":
        item.fields["release"] = _dump(ev["release"]).decode()
    elif kind == "erased":
        item.erased = True
    _apply_claims(item, ev)


def _apply_claims(item: _Item, ev: dict[str, Any]) -> None:
    # Mirrors where the scripts write and drop ``claims:<rid>`` (claim, lease, decide,
    # assign and the prelude's escalate / expire_claim).
    kind = ev["type"]
    if kind in ("claimed", "claim_renewed"):
        if ev.get("lease_expires_ms") is None or not ev.get("claim_id"):
            raise RebuildError(
                f"event {ev['event_id']} ({kind}) lacks its claim id or lease expiry: "
                "cannot restore the claim"
            )
        # A claim is always on the item's current version (an escalation voids the others).
        item.claims[ev["reviewer"]] = _Claim(
            ev["claim_id"], int(ev["lease_expires_ms"]), int(ev["state"]["version"])
        )
    elif kind in ("claim_released", "claim_expired"):
        item.claims.pop(ev["reviewer"], None)
    elif kind == "decided":
        item.claims.pop(ev["decision"]["reviewer"], None)  # the decider's lease is dropped
    elif kind in ("escalated", "erased"):
        item.claims = {}
    elif kind == "assigned" and ev.get("reviewer"):
        # Assigning voids every claim but the assignee's (assign.lua emits no event per claim).
        item.claims = {r: c for r, c in item.claims.items() if r == ev["reviewer"]}


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
        if ev["type"] == "queued":
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
    redis_url: str, prefix: str, events: Iterable[bytes], *, force: bool = False
) -> RebuildStats:
    """:func:`rebuild` into the Redis at ``redis_url`` (for callers that hold no client)."""
    client = redis.Redis.from_url(redis_url, socket_timeout=60)
    try:
        return rebuild(client, prefix, events, force=force)
    finally:
        client.close()
