"""Results waiting for their judgement: the screening worker's Redis store.

Key layout (``P`` is ``<prefix>:verify``):

- ``P:pending``  hash: request id -> the waiting result and its cheap checks' results
  (``Waiting`` JSON), written once per id (a re-delivered result keeps its first verdict).
- ``P:due``      sorted set: request id -> the time (ms) past which it is settled without
  its judgement.

An entry is removed only after its outcome was settled and published, so a worker killed
in between leaves it here, and the next worker (its sweep) settles it: settling is once per
request id (``ReviewQueue.settle``), so the outcome published is the same either way.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis
from pydantic import BaseModel, ConfigDict

from vigil.connections import RedisConnection
from vigil.reviewers.connect import redis_client
from vigil_client.contracts import CheckResult, InferenceResult


class Waiting(BaseModel):
    """A result whose outcome waits for the verifier, with its cheap checks' results."""

    model_config = ConfigDict(frozen=True)

    result: InferenceResult
    checks: list[CheckResult]
    deadline_ms: int


class PendingVerifications:
    def __init__(self, client: redis.Redis, prefix: str = "vigil") -> None:
        self.client = client
        self.pending = f"{prefix}:verify:pending"
        self.due = f"{prefix}:verify:due"

    @classmethod
    def connect(cls, conn: RedisConnection | str, prefix: str = "vigil") -> PendingVerifications:
        return cls(redis_client(conn), prefix)

    def hold(self, waiting: Sequence[Waiting]) -> None:
        """Store each result as waiting (the first one stored per id stays)."""
        if not waiting:
            return
        pipe = self.client.pipeline(transaction=True)
        for w in waiting:
            rid = w.result.request_id
            pipe.hsetnx(self.pending, rid, w.model_dump_json())
            pipe.zadd(self.due, {rid: w.deadline_ms}, nx=True)
        pipe.execute()

    def count(self) -> int:
        return int(self.client.hlen(self.pending))

    def get(self, request_ids: Sequence[str]) -> dict[str, Waiting]:
        """The waiting entries of these ids (ids no longer waiting are left out)."""
        if not request_ids:
            return {}
        raw = self.client.hmget(self.pending, list(request_ids))
        return {
            rid: Waiting.model_validate_json(value)
            for rid, value in zip(request_ids, raw, strict=True)
            if value is not None
        }

    def overdue(self, now_ms: int, limit: int = 200) -> dict[str, Waiting]:
        """Entries past their deadline, oldest first (an id without its entry is dropped)."""
        ids = [
            i.decode() if isinstance(i, bytes) else str(i)
            for i in self.client.zrangebyscore(self.due, 0, now_ms, start=0, num=limit)
        ]
        found = self.get(ids)
        stale = [i for i in ids if i not in found]
        if stale:
            self.client.zrem(self.due, *stale)
        return found

    def release(self, request_ids: Sequence[str]) -> None:
        """Forget these ids (their outcome is settled and published)."""
        if not request_ids:
            return
        pipe = self.client.pipeline(transaction=True)
        pipe.hdel(self.pending, *request_ids)
        pipe.zrem(self.due, *request_ids)
        pipe.execute()
