"""Secured servers on loopback for the tests (certificates: tests/tls_certs.py): the
embedded Kafka with a SASL_SSL listener and a SCRAM user made by the broker's own storage
tool, and a redis-server with TLS (client certificates required) and an ACL user."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.conftest import free_port
from tests.tls_certs import Certs
from vigil.connections import RedisConnection
from vigil.reviewers.redis_server import redis_ready
from vigil.settings import VigilSettings
from vigil.streams.kafka_broker import broker_process
from vigil.supervisor import ProcessSpec

SCRAM = "SCRAM-SHA-256"


def sasl_ssl_broker(settings: VigilSettings, certs: Certs, user: str, password: str) -> ProcessSpec:
    """The embedded broker, its client listener (``kafka_bootstrap``) SASL_SSL with SCRAM;
    the broker talks to itself on a plaintext loopback listener of its own."""
    host, _, port = settings.kafka_bootstrap.rpartition(":")
    internal, ctl = free_port(), settings.kafka_controller_port
    extra = {
        "listeners": f"SASL_SSL://{host}:{port},INTERNAL://{host}:{internal},"
        f"CONTROLLER://{host}:{ctl}",
        "advertised.listeners": f"SASL_SSL://{host}:{port},INTERNAL://{host}:{internal}",
        "inter.broker.listener.name": "INTERNAL",
        "listener.security.protocol.map": (
            "CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,SASL_SSL:SASL_SSL"
        ),
        "sasl.enabled.mechanisms": SCRAM,
        f"listener.name.sasl_ssl.{SCRAM.lower()}.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(certs.server_pem),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(certs.ca),
    }
    # KRaft keeps SCRAM credentials in its metadata log: the storage format writes them.
    scram = ["--add-scram", f"{SCRAM}=[name={user},password={password}]"]
    return broker_process(settings, extra=extra, format_args=scram)


def tls_redis(run_dir: Path, certs: Certs, user: str, password: str) -> tuple[ProcessSpec, str]:
    """redis-server on a TLS port only, client certificates required, ``default`` off and
    one ACL user; returns its spec and its ``rediss://`` url."""
    exe = shutil.which("redis-server")
    assert exe is not None, "redis-server not installed"
    port = free_port()
    data = run_dir / "tls-redis"
    data.mkdir(parents=True, exist_ok=True)
    conf = data / "redis.conf"
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    "port 0",
                    f"tls-port {port}",
                    f"tls-cert-file {certs.server_cert}",
                    f"tls-key-file {certs.server_key}",
                    f"tls-ca-cert-file {certs.ca}",
                    "tls-auth-clients yes",
                    f"dir {data}",
                    'save ""',
                    "appendonly no",
                    "user default off",
                    f"user {user} on >{password} ~* &* +@all",
                    "",
                ]
            )
        )
    url = f"rediss://127.0.0.1:{port}/0"
    conn = RedisConnection(
        url=url,
        username=user,
        password=password,  # type: ignore[arg-type]
        ssl_ca_file=str(certs.ca),
        ssl_cert_file=str(certs.client_cert),
        ssl_key_file=str(certs.client_key),
    )
    spec = ProcessSpec(name="tls-redis", argv=[exe, str(conf)], ready=lambda: redis_ready(conn))
    return spec, url
