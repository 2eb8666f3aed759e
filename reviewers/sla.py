"""SLA timers: every item has a deadline; past it, the item is escalated one tier (with a new
deadline) and the breach is recorded and visible; a held item's fallback release fires.

``tick`` runs tick.lua (atomic per call); ``run_sla_clock`` calls it every ``interval_s``
(the relay process runs it in a thread; several clocks at once are safe, only slower).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import cast

import redis

from vigil.reviewers.base import QueueBase
from vigil.reviewers.keys import text

log = logging.getLogger("vigil.sla")


@dataclass(frozen=True)
class TickResult:
    breached: int
    released: int
    claims_expired: int


class SlaMixin(QueueBase):
    def tick(self, limit: int = 200) -> TickResult:
        """Handle up to ``limit`` due deadlines and lapsed claims, now."""
        breached, released, expired = self._run("tick", [limit])
        return TickResult(int(breached), int(released), int(expired))

    def breached(self, offset: int = 0, limit: int = 50) -> list[tuple[str, int]]:
        """(request id, ms of the last breach) of items that breached an SLA, latest first."""
        rows = cast(
            "list[tuple[bytes, float]]",
            self.client.zrevrange(self.keys.breached, offset, offset + limit - 1, withscores=True),
        )
        return [(text(rid), int(score)) for rid, score in rows]

    def count_breached(self) -> int:
        return int(self.client.zcard(self.keys.breached))

    def count_due(self, within_s: float) -> int:
        """Unsettled items whose SLA deadline falls within ``within_s`` from now (or passed)."""
        horizon = int((time.time() + within_s) * 1000)
        return int(self.client.zcount(self.keys.deadlines, "-inf", horizon))


def run_sla_clock(queue: SlaMixin, stop: threading.Event, interval_s: float) -> None:
    """Tick until ``stop`` is set; a Redis outage is logged and retried, never fatal."""
    while not stop.is_set():
        try:
            result = queue.tick()
            if result.breached or result.released:
                log.info(
                    "SLA: %d breached, %d released by fallback, %d claims expired",
                    result.breached,
                    result.released,
                    result.claims_expired,
                )
        except redis.RedisError:
            log.exception("SLA tick failed; retrying")
            stop.wait(1.0)
        stop.wait(interval_s)
