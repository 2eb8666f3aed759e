from __future__ import annotations

from tests.redis_fixtures import make_item, redis_client, redis_server, review_queue

__all__ = ["make_item", "redis_client", "redis_server", "review_queue"]
