"""Every Redis client of Vigil is made here (the queue, the console, the monitor's store, the
relay, the rebuild), from one :class:`~vigil.connections.RedisConnection`: its ACL user and
password, and TLS for ``rediss://``.

A client is checked once when it is made: a refused login (wrong password, a disabled user,
a server that wants one) or a failed TLS handshake raises :class:`RedisAccessError` at once,
saying where and as whom, instead of every later call failing (a relay or worker would retry
those forever). A server that is merely not up yet is left to the callers' retries.
"""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

import redis
import redis.exceptions

from vigil.connections import RedisConnection
from vigil.reviewers.exceptions import RedisAccessError

# A socket timeout so that a hung server surfaces as an error instead of a frozen page or
# worker; it must stay above the ``block_ms`` of ``outbox_read``.
CONNECT_TIMEOUT_S = 5.0
SOCKET_TIMEOUT_S = 30.0


def redis_client(
    conn: RedisConnection | str,
    *,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    socket_timeout_s: float = SOCKET_TIMEOUT_S,
    check: bool = True,
) -> redis.Redis:
    """A client for ``conn`` (a bare url: no user, no TLS files), its login checked."""
    if isinstance(conn, str):
        conn = RedisConnection(url=conn)
    client = redis.Redis.from_url(
        conn.url,
        socket_connect_timeout=connect_timeout_s,
        socket_timeout=socket_timeout_s,
        **conn.client_kwargs(),
    )
    if check:
        check_access(client, conn)
    return client


def check_access(client: redis.Redis, conn: RedisConnection) -> None:
    """Raise :class:`RedisAccessError` if the server refuses this login or its TLS."""
    try:
        client.ping()
    except (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError) as exc:
        anonymous = not (conn.password.get_secret_value() or urlsplit(conn.url).password)
        if isinstance(exc, redis.exceptions.AuthenticationError) and not anonymous:
            raise RedisAccessError(f"Redis at {conn.describe()} refused the login: {exc}") from exc
        if anonymous or "NOAUTH" in str(exc) or "NOPERM" in str(exc):
            raise RedisAccessError(
                f"Redis at {conn.describe()} wants a login ({exc}): set VIGIL_REDIS_USERNAME "
                "and VIGIL_REDIS_PASSWORD (or VIGIL_REDIS_PASSWORD_FILE)"
            ) from exc
        raise
    except redis.exceptions.ConnectionError as exc:
        if isinstance(exc.__cause__ or exc.__context__, ssl.SSLError) or "SSL" in str(exc):
            raise RedisAccessError(
                f"TLS with Redis at {conn.describe()} failed: {exc} (check VIGIL_REDIS_SSL_*)"
            ) from exc
        # Not up (yet): the callers retry; the first real call reports it.
    except redis.exceptions.TimeoutError:
        pass  # hung: likewise
