"""The embedded redis-server: loopback, its own port and data folder, AOF on, and (by
default) closed to every local process that does not hold the run folder's secret.

Its one user is ``vigil`` (or ``VIGIL_REDIS_USERNAME``) with the password of the settings,
else a secret generated once in the run folder (mode 0600,
``VigilSettings.redis_secret_file``), which every Vigil process of that run folder reads
(``VigilSettings.redis_connection``). The ``default`` user gets a ``requirepass`` nobody is
told (new at each start), so a client without the login is refused. Not ``user default
off``: redis-server 7.0 then refuses the MULTI/EXEC blocks of its own AOF when it loads it
after a crash (NOPERM), i.e. loses acknowledged writes. The ACL goes in a config file of
mode 0600, never on the command line, where ``ps`` would show it to everyone.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from urllib.parse import urlparse

from vigil.connections import EMBEDDED_REDIS_USER, RedisConnection
from vigil.reviewers.connect import redis_client
from vigil.reviewers.exceptions import RedisServerError
from vigil.settings import VigilSettings
from vigil.supervisor import ProcessSpec


def redis_ready(conn: RedisConnection | str) -> bool:
    client = redis_client(conn, connect_timeout_s=1, socket_timeout_s=1, check=False)
    try:
        return bool(client.ping())
    finally:
        client.close()


def _acl_config(settings: VigilSettings, data_dir: Path) -> Path | None:
    """The config file holding the ACL (mode 0600), or None for an open server."""
    if not settings.redis_embedded_auth:
        return None
    if settings.embedded_redis_secured:
        password = settings.embedded_redis_secret().get_secret_value()
        username = settings.redis_username or EMBEDDED_REDIS_USER
    else:
        conn = settings.redis_connection
        password = conn.password.get_secret_value()
        username = conn.username or EMBEDDED_REDIS_USER
    path = data_dir / "acl.conf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(
            f"requirepass {secrets.token_urlsafe(32)}\n"
            # Every key, channel and command: Vigil's processes are one trusted application.
            f"user {username} on >{password} ~* &* +@all\n"
        )
    os.chmod(path, 0o600)  # an older file keeps its mode through O_TRUNC
    return path


def redis_process(settings: VigilSettings) -> ProcessSpec:
    exe = shutil.which("redis-server")
    if exe is None:
        raise RedisServerError("redis-server not found; run scripts/setup (apt: redis-server)")
    url = urlparse(settings.redis_url)
    host = url.hostname or "127.0.0.1"
    port = url.port or 6379
    data_dir = settings.run_dir / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    acl = _acl_config(settings, data_dir)
    argv = [
        exe,
        # The config file comes first (redis-server's rule), the options below after it.
        *([str(acl)] if acl is not None else []),
        "--bind",
        host,
        "--port",
        str(port),
        "--dir",
        str(data_dir),
        # AOF is the one source (RDB snapshots off). Redis writes the AOF before it replies;
        # ``always`` also fsyncs before replying (batched per event-loop turn), so no
        # acknowledged write is lost even on power loss. ``everysec`` survives a kill -9 of
        # Redis except when a slow disk made it postpone a write (see README).
        "--appendonly",
        "yes",
        "--appendfsync",
        settings.redis_appendfsync,
        "--save",
        "",
        "--protected-mode",
        "yes",
        "--daemonize",
        "no",
    ]
    return ProcessSpec(
        name="redis",
        argv=argv,
        ready=lambda: redis_ready(settings.redis_connection),
        ready_timeout_s=30.0,
    )
