"""The outbox: a Redis stream of events to publish to Kafka, written by the same Lua script
as each state change (so neither exists without the other), read by the relay through the
consumer group ``relay`` and deleted once Kafka has acknowledged them. Consumers dedupe on
``dedupe`` (event id, decision id, or ``<request_id>:release``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import redis

from vigil.reviewers.base import QueueBase
from vigil.reviewers.keys import text
from vigil_client import topics

# Where each kind of record goes: the SDK's topic names (the scripts get the same names in
# their preamble, reviewers/lua).
EVENTS_TOPIC = topics.REVIEW_EVENTS
DECISIONS_TOPIC = topics.DECISIONS
RELEASES_TOPIC = topics.RELEASES
RELAY_GROUP = "relay"


@dataclass(frozen=True)
class OutboxEntry:
    """One event waiting in the outbox; ack it once Kafka has acknowledged the send."""

    entry_id: str
    topic: str
    key: str
    value: bytes
    dedupe: str


def _bytes(raw: bytes | str) -> bytes:
    return raw if isinstance(raw, bytes) else raw.encode()


class OutboxMixin(QueueBase):
    _group_ready = False

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        # id "0": a group created after entries were written still delivers all of them.
        with contextlib.suppress(redis.ResponseError):  # BUSYGROUP: it exists already
            self.client.xgroup_create(self.keys.outbox, RELAY_GROUP, id="0", mkstream=True)
        self._group_ready = True

    def _read(self, consumer: str, start: str, count: int, block: int | None) -> list[OutboxEntry]:
        reply = self.client.xreadgroup(
            RELAY_GROUP, consumer, {self.keys.outbox: start}, count=count, block=block
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
                    stale.append(text(entry_id))
                    continue
                f = {text(k): v for k, v in fields.items()}
                out.append(
                    OutboxEntry(
                        entry_id=text(entry_id),
                        topic=text(f["topic"]),
                        key=text(f["key"]),
                        value=_bytes(f["value"]),
                        dedupe=text(f["dedupe"]),
                    )
                )
        if stale:
            self.client.xack(self.keys.outbox, RELAY_GROUP, *stale)
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
        """Take over, oldest first, entries any consumer read and left unacked for
        ``min_idle_ms`` (its relay died, maybe under another name); ``consumer`` then holds
        them. Entries deleted meanwhile are dropped from the pending list by Redis."""
        self._ensure_group()
        reply = self.client.xautoclaim(
            self.keys.outbox, RELAY_GROUP, consumer, min_idle_ms, start_id="0-0", count=count
        )
        return self._entries([[self.keys.outbox, reply[1]]])

    def outbox_held_elsewhere(self, consumer: str) -> int:
        """Entries read but not acked by consumers other than ``consumer``."""
        self._ensure_group()
        summary = self.client.xpending(self.keys.outbox, RELAY_GROUP)
        return sum(int(c["pending"]) for c in summary["consumers"] if text(c["name"]) != consumer)

    def outbox_ack(self, entry_ids: list[str]) -> None:
        """Forget entries Kafka has acknowledged: XACK then XDEL, in one MULTI."""
        if not entry_ids:
            return
        pipe = self.client.pipeline(transaction=True)
        pipe.xack(self.keys.outbox, RELAY_GROUP, *entry_ids)
        pipe.xdel(self.keys.outbox, *entry_ids)
        pipe.execute()

    def outbox_length(self) -> int:
        """Entries not yet acked (published or not); the relay's backlog."""
        return int(self.client.xlen(self.keys.outbox))
