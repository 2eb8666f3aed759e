"""What every part of the review queue shares: the Redis client, key names, policy, scripts."""

from __future__ import annotations

from typing import Any

import redis

from vigil.reviewers import lua
from vigil.reviewers.keys import Keys, text
from vigil.reviewers.policy import ReviewPolicy
from vigil_client.contracts import ReviewItem


class QueueBase:
    """Holds the client (thread-safe through its pool) and the registered scripts."""

    def __init__(
        self, client: redis.Redis, prefix: str = "vigil", policy: ReviewPolicy | None = None
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.keys = Keys(prefix)
        self.policy = policy or ReviewPolicy()
        # register_script sends EVALSHA and loads the script on NOSCRIPT (e.g. after a
        # Redis restart), so each call stays one round trip in the normal case.
        self._scripts = {name: client.register_script(lua.source(name)) for name in lua.SCRIPTS}

    def _run(self, script: str, args: list[Any]) -> Any:
        return self._scripts[script](keys=[], args=[self.prefix, *args])

    def get(self, request_id: str) -> ReviewItem | None:
        raw = self.client.hget(self.keys.item(request_id), "item")
        return None if raw is None else ReviewItem.from_json(raw)

    def state(self, request_id: str) -> str | None:
        """``"pending"``, ``"decided"``, or None for an unknown (or erased, expired) item."""
        raw = self.client.hget(self.keys.item(request_id), "state")
        return None if raw is None else text(raw)

    def is_erased(self, request_id: str) -> bool:
        return bool(self.client.exists(self.keys.erased(request_id)))


def reply_text(reply: list[Any], index: int) -> str:
    return text(reply[index]) if len(reply) > index and reply[index] is not None else ""
