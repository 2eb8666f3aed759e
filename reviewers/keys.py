"""Where the review domain keeps things in Redis: one place for every key name.

``P`` is the prefix (``vigil`` by default). ``Keys`` builds every key name; the Lua scripts
get the same parts from it (``key_parts``, as ``K.<part>`` in their generated preamble).
The item hash's fields are written by ``queue_hash`` (how it is queued) and ``state_hash``
(its ``ReviewState``), for enqueue and for rebuild alike. Per item (``<rid>`` = request id):

- ``P:item:<rid>``  hash: ``item`` (ReviewItem JSON) and the review state: ``state``
  (pending | decided), ``tier``, ``version``, ``required``/``done`` (verdicts needed/recorded
  at this version), ``deadline_ms``, ``score``, ``assigned``, ``released``, ``breaches``,
  ``seq`` (events so far); how it is queued: ``member``, ``risk``, ``bonus``, ``sla_ms``,
  ``retention_ms``, ``hold``, ``subject``, ``checks``, ``views``, ``fallback``; and once
  settled: ``decision`` (the final ReviewDecision), ``release``, ``rating``.
- ``P:audit:<rid>``  list of ReviewEvent JSON, oldest first: the audit trail.
- ``P:decisions:<rid>``  hash decision id -> ReviewDecision JSON (every decision, comments too).
- ``P:claims:<rid>``  hash reviewer -> ``<claim id>|<expires ms>|<version>``: live leases.
- ``P:votes:<rid>``  hash reviewer -> agreement label, for the current version.
- ``P:erased:<rid>``  marker that the item was erased (so a re-delivery cannot bring it back).
- ``P:settled:<rid>``  the ScreeningOutcome JSON the worker settled the request with (any
  verdict, kept for ``worker.settled_ttl_s``): a re-delivered result gets that outcome again.

Indexes (sorted sets score = priority: lower first, member ``<enqueued µs>:<rid>``):
``P:pending`` every unsettled item; ``P:open:<tier>`` unassigned items with a free seat;
``P:assigned:<reviewer>`` assigned items with a free seat; ``P:view:<kind>:<value>`` unsettled
items by check, segment, model version, alert, product (``P:views`` lists those keys).
Others: ``P:leases`` (``<rid>|<reviewer>`` by expiry ms), ``P:deadlines`` (rid by deadline
ms), ``P:decided`` and ``P:breached`` (rid by ms), ``P:ratings`` (hash rid -> ReviewRating
JSON), ``P:subject:<hash>`` (set of rids of one data subject), ``P:outbox`` (stream).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FunctionType
from typing import Any

import orjson

from vigil_client.contracts import ReviewItem, ReviewState

# The fields of an item hash that make its review state: ``ReviewState``'s, in its order (the
# scripts write them, ``rebuild`` restores them from each event's state).
STATE_FIELDS: tuple[str, ...] = tuple(ReviewState.model_fields)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MILLISECOND = timedelta(milliseconds=1)


@dataclass(frozen=True)
class Keys:
    prefix: str = "vigil"

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def item(self, rid: str) -> str:
        return self._k("item", rid)

    def audit(self, rid: str) -> str:
        return self._k("audit", rid)

    def decisions(self, rid: str) -> str:
        return self._k("decisions", rid)

    def claims(self, rid: str) -> str:
        return self._k("claims", rid)

    def votes(self, rid: str) -> str:
        return self._k("votes", rid)

    def erased(self, rid: str) -> str:
        return self._k("erased", rid)

    def settled(self, rid: str) -> str:
        return self._k("settled", rid)

    def open(self, tier: str) -> str:
        return self._k("open", tier)

    def assigned(self, reviewer: str) -> str:
        return self._k("assigned", reviewer)

    def view(self, view: str) -> str:
        return self._k("view", view)

    def subject(self, subject_hash: str) -> str:
        return self._k("subject", subject_hash)

    @property
    def pending(self) -> str:
        return self._k("pending")

    @property
    def views(self) -> str:
        return self._k("views")

    @property
    def leases(self) -> str:
        return self._k("leases")

    @property
    def deadlines(self) -> str:
        return self._k("deadlines")

    @property
    def decided(self) -> str:
        return self._k("decided")

    @property
    def breached(self) -> str:
        return self._k("breached")

    @property
    def ratings(self) -> str:
        return self._k("ratings")

    @property
    def outbox(self) -> str:
        return self._k("outbox")


def queue_hash(queue: Mapping[str, Any]) -> dict[str, str]:
    """The item hash's fields of how it is queued, from ``ReviewQueueFields`` (as a dict, as
    the ``queued`` event carries it): what enqueue writes and rebuild restores."""
    fallback = queue["fallback"]
    return {
        "member": queue["member"],
        "risk": repr(float(queue["risk"])),
        "bonus": str(queue["bonus_ms"]),
        "sla_ms": str(queue["sla_ms"]),
        "retention_ms": str(queue["retention_ms"]),
        "hold": "1" if queue["hold"] else "0",
        "views": orjson.dumps(queue["views"]).decode(),
        "checks": orjson.dumps(queue["checks"]).decode(),
        "subject": queue["subject"],
        "fallback": orjson.dumps(fallback).decode() if fallback else "",
    }


def state_hash(state: Mapping[str, Any]) -> dict[str, str]:
    """The item hash's review state fields, from a ``ReviewState`` (as a dict)."""
    return {f: str(state[f]) for f in STATE_FIELDS}


def key_parts() -> dict[str, str]:
    """Each ``Keys`` accessor's name -> the part of the key names it builds (``P:<part>...``),
    read off the accessors themselves: the Lua scripts get these as ``K.<name>``
    (reviewers/lua), so the layout is written once, in ``Keys``."""
    probe = Keys("P")
    out: dict[str, str] = {}
    for name, attr in vars(Keys).items():
        if name.startswith("_") or not isinstance(attr, property | FunctionType):
            continue
        value = getattr(probe, name)
        full = value("X") if callable(value) else value
        out[name] = full.removeprefix("P:").removesuffix(":X")
    return out


def as_utc(moment: datetime) -> datetime:
    # The contracts say UTC; a naive time is taken as UTC rather than local time.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def epoch_ms(moment: datetime) -> int:
    # Integer arithmetic (a float timestamp could round a millisecond off).
    return (as_utc(moment) - _EPOCH) // _MILLISECOND


def epoch_ms_ceil(moment: datetime) -> int:
    """Rounded up: a deadline stored in whole milliseconds never comes before the real one."""
    return -((_EPOCH - as_utc(moment)) // _MILLISECOND)


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def member(item: ReviewItem) -> str:
    """``<enqueued µs, 20 digits>:<request id>``: equal scores come out oldest first, since
    Redis orders them by member, byte-wise."""
    micros = max(0, (as_utc(item.enqueued_at) - _EPOCH) // _MICROSECOND)
    return f"{micros:020d}:{item.request_id}"


def request_id_of(member_: bytes | str) -> str:
    return text(member_).split(":", 1)[1]


def subject_hash(value: str) -> str:
    """The data subject's id as stored: a hash, so keys and events don't carry the id."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def text(raw: bytes | str) -> str:
    # Works with clients made with or without ``decode_responses``.
    return raw.decode() if isinstance(raw, bytes) else raw
