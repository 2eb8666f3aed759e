"""The security settings as pure logic: one model per system, secrets masked everywhere but
where a client needs them, files for secrets, the embedded Redis' ACL (no server here: the
secured servers are tests/integration/test_secured_stack.py and tests/reviewers)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from vigil.connections import GrpcTls, RedisConnection, redacted_url
from vigil.reviewers.redis_server import redis_process
from vigil.settings import load_settings
from vigil.streams.faust_app import broker_credentials
from vigil_client.security import KafkaSecurity

PASSWORD = "pa55-word-never-shown"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in list(os.environ):
        if name.upper().startswith("VIGIL_"):
            monkeypatch.delenv(name)
    yield monkeypatch


def test_kafka_security_refuses_incomplete_settings(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="sasl_username and sasl_password"):
        KafkaSecurity(security_protocol="SASL_SSL", sasl_username="u")
    with pytest.raises(ValidationError, match="use SSL or SASL_SSL"):
        KafkaSecurity(ssl_cafile=str(tmp_path))
    with pytest.raises(ValidationError, match="no such file"):
        KafkaSecurity(security_protocol="SSL", ssl_cafile=str(tmp_path / "none.pem"))
    with pytest.raises(ValidationError, match="both ssl_certfile and ssl_keyfile"):
        KafkaSecurity(security_protocol="SSL", ssl_certfile=__file__)


def test_kafka_security_gives_the_client_keywords_and_never_shows_the_password() -> None:
    sec = KafkaSecurity(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="svc",
        sasl_password=PASSWORD,  # type: ignore[arg-type]
    )
    kw = sec.kafka_python_kwargs()
    assert kw["security_protocol"] == "SASL_SSL" and kw["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kw["sasl_plain_username"] == "svc" and kw["sasl_plain_password"] == PASSWORD
    assert kw["ssl_context"].check_hostname  # the system roots, names checked
    assert PASSWORD not in repr(sec) + str(sec) + sec.describe()
    assert KafkaSecurity().kafka_python_kwargs() == {"security_protocol": "PLAINTEXT"}
    # Faust: SASL with an SSL context is SASL_SSL.
    creds = broker_credentials(sec)
    assert creds.protocol.value == "SASL_SSL" and creds.mechanism.value == "SCRAM-SHA-512"
    assert PASSWORD not in repr(creds)
    assert broker_credentials(KafkaSecurity()) is None


def test_secrets_come_from_files_and_stay_out_of_the_environment_and_vigil_config(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "kafka-password"
    secret.write_text(PASSWORD + "\n")
    env.setenv("VIGIL_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    env.setenv("VIGIL_KAFKA_SASL_USERNAME", "svc")
    env.setenv("VIGIL_KAFKA_SASL_PASSWORD_FILE", str(secret))
    s = load_settings()
    assert s.kafka_security.sasl_password.get_secret_value() == PASSWORD  # newline stripped
    assert KafkaSecurity.from_env() == s.kafka_security  # the SDK reads the same variables
    assert PASSWORD not in str(s.as_env())  # children read the file themselves
    given = load_settings(kafka_sasl_password=PASSWORD, redis_url="redis://u:pw@h:1/0")
    assert given.as_env()["VIGIL_KAFKA_SASL_PASSWORD"] == PASSWORD  # what a child needs
    for name, value in given.as_env().items():
        env.setenv(name, value)
    assert load_settings() == given
    shown = given.shown()
    assert shown["VIGIL_KAFKA_SASL_PASSWORD"] == "**********"
    assert shown["VIGIL_REDIS_URL"] == "redis://u:***@h:1/0"
    assert PASSWORD not in str(shown) + repr(given)


def test_redis_and_triton_connections_give_their_client_keywords(tmp_path: Path) -> None:
    conn = RedisConnection(
        url="rediss://r:6380/0",
        username="svc",
        password=PASSWORD,  # type: ignore[arg-type]
        ssl_ca_file="/ca.pem",
    )
    assert conn.client_kwargs() == {
        "username": "svc",
        "password": PASSWORD,
        "ssl_cert_reqs": "required",
        "ssl_ca_certs": "/ca.pem",
    }
    assert PASSWORD not in repr(conn) + conn.describe()
    with pytest.raises(ValidationError, match="not rediss"):
        RedisConnection(url="redis://r:1/0", ssl_ca_file="/ca.pem")
    assert redacted_url("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert GrpcTls().tritonclient_kwargs() == {}
    ca = tmp_path / "ca.pem"
    ca.write_text("-")
    assert GrpcTls(enabled=True, root_cert=str(ca)).tritonclient_kwargs()["root_certificates"]
    with pytest.raises(ValidationError, match="TLS is off"):
        GrpcTls(root_cert=str(ca))


def test_the_embedded_redis_admits_only_its_acl_user_with_a_private_secret(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    s = load_settings(run_dir=tmp_path, redis_url="redis://127.0.0.1:16999/0")
    assert s.redis_connection.password.get_secret_value() == ""  # no secret before a start
    spec = redis_process(s)
    secret = s.redis_secret_file.read_text().strip()
    conn = s.redis_connection
    assert conn.username == "vigil" and conn.password.get_secret_value() == secret
    acl = tmp_path / "redis" / "acl.conf"
    assert stat.S_IMODE(s.redis_secret_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(acl.stat().st_mode) == 0o600
    assert "requirepass" in acl.read_text() and f"user vigil on >{secret}" in acl.read_text()
    assert secret not in " ".join(spec.argv)  # ps shows the command line to everyone
    # The same secret on the next start; none with the ACL turned off.
    redis_process(s)
    assert s.redis_secret_file.read_text().strip() == secret
    open_spec = redis_process(s.replace(redis_embedded_auth=False))
    assert str(acl) not in open_spec.argv
    assert s.replace(redis_embedded_auth=False).redis_connection.password.get_secret_value() == ""
