"""The embedded Redis (the session's redis_server, started by the project's own spec) admits
its ACL user only: the ``default`` user and a wrong password are refused, with a clear
error at once."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr

from vigil.connections import RedisConnection
from vigil.reviewers.connect import redis_client
from vigil.reviewers.exceptions import RedisAccessError
from vigil.reviewers.queue import ReviewQueue


def test_the_default_user_and_a_wrong_password_are_refused(redis_server: str) -> None:
    parts = urlsplit(redis_server)
    bare = f"redis://{parts.hostname}:{parts.port}/0"
    with pytest.raises(RedisAccessError, match="wants a login"):
        ReviewQueue.from_url(bare)
    assert parts.password
    wrong = RedisConnection(
        url=bare, username=parts.username or "", password=SecretStr("not-the-secret")
    )
    with pytest.raises(RedisAccessError, match="refused the login") as refused:
        redis_client(wrong)
    assert "not-the-secret" not in str(refused.value)
    right = RedisConnection(
        url=bare, username=parts.username or "", password=SecretStr(parts.password)
    )
    assert redis_client(right).ping()
