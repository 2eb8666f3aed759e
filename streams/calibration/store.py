"""The risk models in Redis: every fit proposed, the one in use, and why each was or was not.

Key layout (``P`` is ``<prefix>:calibration``):

- ``P:model:<version>``  a fitted model (``RiskModel`` JSON), adopted or not.
- ``P:current``  the version in use; absent: the hand weights (``PRIOR_VERSION``). Workers
  poll this one small string (``scoring.ModelWatcher``) and load a model only when it moves.
- ``P:adopted``  sorted set of the adopted versions by adoption time (the history).
- ``P:log``  list of the last ``KEEP_LOG`` decisions (JSON: version, adopted, reason), newest
  first.

Adoption is checked against the model in use at the moment of writing (``WATCH`` on
``P:current``): a fit judged against a model another calibration replaced meanwhile is
judged again.
"""

from __future__ import annotations

import time
from typing import Any, cast

import orjson
import redis

from vigil.connections import RedisConnection
from vigil.reviewers.connect import redis_client
from vigil.streams.calibration.fit import Decision, Fit, decide
from vigil.streams.calibration.model import PRIOR_VERSION, RiskModel

__all__ = ["KEEP_LOG", "RiskModelStore"]

KEEP_LOG = 100


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


class RiskModelStore:
    def __init__(self, client: redis.Redis, prefix: str = "vigil") -> None:
        self.client = client
        self.p = f"{prefix}:calibration"

    @classmethod
    def connect(cls, conn: RedisConnection | str, prefix: str = "vigil") -> RiskModelStore:
        """The store on the Redis of ``conn`` (``settings.redis_connection``: its login and
        TLS), through the one place Redis clients are made."""
        return cls(redis_client(conn), prefix)

    def current_version(self) -> str:
        raw = self.client.get(f"{self.p}:current")
        return PRIOR_VERSION if raw is None else _text(cast("bytes", raw))

    def model(self, version: str) -> RiskModel | None:
        if version == PRIOR_VERSION:
            return None
        raw = self.client.get(f"{self.p}:model:{version}")
        return None if raw is None else RiskModel.from_json(cast("bytes", raw))

    def current(self) -> RiskModel | None:
        """The model in use; None: the hand weights."""
        return self.model(self.current_version())

    def adopted(self, limit: int = 50) -> list[tuple[str, float]]:
        """Adopted versions with their adoption time (unix s), newest first."""
        raw = self.client.zrevrange(f"{self.p}:adopted", 0, max(0, limit - 1), withscores=True)
        return [(_text(v), float(s)) for v, s in cast("list[tuple[bytes, float]]", raw)]

    def log(self, limit: int = 20) -> list[dict[str, Any]]:
        raw = cast("list[bytes]", self.client.lrange(f"{self.p}:log", 0, max(0, limit - 1)))
        return [dict(orjson.loads(r)) for r in raw]

    def propose(self, fit: Fit, *, tolerance: float = 0.005) -> Decision:
        """Judge ``fit`` against the model in use and adopt it if it is not worse; the fit
        and the decision are stored either way."""
        key = f"{self.p}:current"
        while True:
            with self.client.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    version = PRIOR_VERSION if raw is None else _text(cast("bytes", raw))
                    current = None
                    if version != PRIOR_VERSION:
                        stored = pipe.get(f"{self.p}:model:{version}")
                        current = None if stored is None else RiskModel.from_json(stored)
                    decision, model = decide(fit, current, tolerance=tolerance)
                    entry = {
                        "version": model.version,
                        "adopted": decision.adopt,
                        "reason": decision.reason,
                        "against": decision.current_version,
                        "at": time.time(),
                        "n_train": model.n_train,
                        "heldout": decision.candidate.to_dict(),
                        "baseline": decision.current.to_dict(),
                    }
                    pipe.multi()
                    pipe.set(f"{self.p}:model:{model.version}", model.to_json())
                    if decision.adopt:
                        pipe.set(key, model.version)
                        pipe.zadd(f"{self.p}:adopted", {model.version: time.time()})
                    pipe.lpush(f"{self.p}:log", orjson.dumps(entry))
                    pipe.ltrim(f"{self.p}:log", 0, KEEP_LOG - 1)
                    pipe.execute()
                    return decision
                except redis.WatchError:
                    continue

    def reset(self) -> None:
        """Back to the hand weights (the fits stay stored)."""
        self.client.delete(f"{self.p}:current")
