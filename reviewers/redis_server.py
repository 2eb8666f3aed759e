"""The embedded redis-server: loopback, its own port and data folder, AOF on."""

from __future__ import annotations

import shutil
from urllib.parse import urlparse

import redis

from vigil.reviewers.exceptions import RedisServerError
from vigil.settings import VigilSettings
from vigil.supervisor import ProcessSpec


def redis_ready(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    finally:
        client.close()


def redis_process(settings: VigilSettings) -> ProcessSpec:
    exe = shutil.which("redis-server")
    if exe is None:
        raise RedisServerError("redis-server not found; run scripts/setup (apt: redis-server)")
    url = urlparse(settings.redis_url)
    host = url.hostname or "127.0.0.1"
    port = url.port or 6379
    data_dir = settings.run_dir / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        exe,
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
        ready=lambda: redis_ready(settings.redis_url),
        ready_timeout_s=30.0,
    )
