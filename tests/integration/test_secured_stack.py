"""The whole stack on secured servers of this module's own, on loopback: Kafka with only a
SASL_SSL listener (a SCRAM-SHA-256 user made by the broker's storage tool), Redis with only a
TLS port (client certificates required, ``default`` off, one ACL user) and Triton serving gRPC
over TLS. Secrets come from files (``*_FILE``), as a deployment would mount them.

product SDK -> llm.requests -> gateway (aiokafka) -> Triton (TLS) -> llm.results -> Faust
screening -> review queue (Redis TLS) -> a decision -> outbox relay -> review.decisions ->
the SDK's decisions reader; the console lists a queued item; refused logins fail fast and
clearly; no secret shows in a log or in ``vigil`` output.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import streamlit as st
from pydantic import SecretStr

from tests.conftest import GPT3_REPLAY, consume_until, isolated_settings
from tests.dashboard.apptest_helpers import listed, login, start
from tests.redis_fixtures import review_item
from tests.secured_servers import SCRAM, sasl_ssl_broker, tls_redis
from tests.tls_certs import Certs, make_certs
from vigil.connections import GrpcTls
from vigil.dashboard.auth import hash_password
from vigil.inference.adapters import GenerationParams, load_adapter
from vigil.inference.client import ModelRoute, TritonClient
from vigil.inference.exceptions import ModelCallError
from vigil.inference.replay_data import ReplayBook
from vigil.reviewers.connect import redis_client
from vigil.reviewers.exceptions import RedisAccessError
from vigil.reviewers.queue import ReviewQueue
from vigil.settings import VigilSettings
from vigil.stack import start_stack
from vigil.streams import topics
from vigil.streams.checks.steps import check_steps
from vigil.supervisor import Supervisor
from vigil_client import VigilClient
from vigil_client.contracts import ReviewDecision, ScreeningOutcome
from vigil_client.exceptions import KafkaConnectError

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.triton]

KAFKA_USER = "vigil-app"
REDIS_USER = "vigil-svc"
# Distinctive, so that the log search below cannot miss one nor match by chance.
KAFKA_PASSWORD = f"kafka-pw-{uuid.uuid4().hex}"
REDIS_PASSWORD = f"redis-pw-{uuid.uuid4().hex}"
CONSOLE_PASSWORD = "console-test-password"


@dataclass
class Secured:
    settings: VigilSettings
    certs: Certs
    # What the supervisor and start_stack printed (vigil up's console output).
    printed: list[str] = field(default_factory=list)


def _secret_file(path: Path, value: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")  # a trailing newline, as `echo pw > file` leaves
    return path


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    run = tmp_path_factory.mktemp("secured-run")
    certs = make_certs(run / "certs")
    redis_spec, redis_url = tls_redis(run, certs, REDIS_USER, REDIS_PASSWORD)
    settings = isolated_settings(
        run,
        topic_partitions=2,
        # Started here (a SASL_SSL listener), not by start_stack.
        embedded_kafka=False,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism=SCRAM,
        kafka_sasl_username=KAFKA_USER,
        kafka_sasl_password_file=str(_secret_file(run / "secrets" / "kafka", KAFKA_PASSWORD)),
        kafka_ssl_cafile=str(certs.ca),
        embedded_redis=False,
        redis_url=redis_url,
        redis_username=REDIS_USER,
        redis_password_file=str(_secret_file(run / "secrets" / "redis", REDIS_PASSWORD)),
        redis_ssl_ca_file=str(certs.ca),
        redis_ssl_cert_file=str(certs.client_cert),
        redis_ssl_key_file=str(certs.client_key),
        # The GPT-3 recorded solutions, as the verdicts below are read from that file.
        **GPT3_REPLAY,
        triton_grpc_ssl=True,
        triton_grpc_root_cert=str(certs.ca),
        triton_grpc_server_cert=str(certs.server_cert),
        triton_grpc_server_key=str(certs.server_key),
    )
    out = Secured(settings, certs)
    with Supervisor(settings.logs_dir, echo=out.printed.append) as sup:
        sup.start(redis_spec)
        sup.start(sasl_ssl_broker(settings, certs, KAFKA_USER, KAFKA_PASSWORD))
        start_stack(sup, settings, console=False, echo=out.printed.append)
        yield out


def _flagged(book: ReplayBook, variant: str, q: str) -> bool:
    return check_steps(book.answer(q, variant)[1]).flagged


def test_the_record_path_runs_through_sasl_ssl_kafka_tls_redis_and_tls_triton(
    secured: Secured,
) -> None:
    s = secured.settings
    book = ReplayBook.load(s.gsm8k_path)
    rng = random.Random(11)
    flagged = [q for q in book.questions() if _flagged(book, s.replay_variant, q)]
    picked = rng.sample(book.questions(), 8) + rng.sample(flagged, 4)
    with VigilClient(s.kafka_bootstrap, product="secured", security=s.kafka_security) as sdk:
        ids = [sdk.submit(q) for q in picked]
        sdk.flush()

    # Gateway (aiokafka, Triton over TLS) -> llm.results -> the Faust worker -> llm.screened.
    screened = consume_until(s, topics.SCREENED, ids, timeout_s=180)
    assert set(ids) <= set(screened), f"{len(set(ids) - set(screened))} never screened"
    verdicts = {rid: ScreeningOutcome.from_json(screened[rid][0]).verdict for rid in ids}
    # A result the step check flags is queued (other checks may queue more).
    must_queue = {
        rid for rid, q in zip(ids, picked, strict=True) if _flagged(book, s.replay_variant, q)
    }
    assert must_queue and all(verdicts[rid] == "queued" for rid in must_queue), verdicts

    # The worker queued the flagged ones in the TLS Redis; a decision goes out by the relay.
    queue = ReviewQueue.connect(s.redis_connection)
    queued = [rid for rid, v in verdicts.items() if v == "queued"]
    item = queue.get(queued[0])
    assert item is not None and queue.state(queued[0]) == "pending"
    decided = queue.decide(
        ReviewDecision(
            request_id=item.request_id,
            decision="approve",
            reviewer="lead",
            model_name=item.model_name,
            model_version=item.model_version,
            product=item.product,
        )
    )
    with VigilClient(s.kafka_bootstrap, product="secured", security=s.kafka_security) as sdk:
        got = next(
            sdk.decisions(request_ids={item.request_id}, from_beginning=True, timeout_ms=60_000),
            None,
        )
    assert got is not None and got.decision_id == decided.decision_id


def test_the_console_reads_the_queue_over_tls_redis_as_its_acl_user(
    secured: Secured, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = secured.settings
    item = review_item(f"console-{uuid.uuid4().hex}")
    assert ReviewQueue.connect(s.redis_connection).enqueue(item)
    users = tmp_path / "users.toml"
    users.write_text(
        f'[users.reviewer1]\nrole = "reviewer"\npassword = "{hash_password(CONSOLE_PASSWORD)}"\n'
    )
    # The console's process environment, as `vigil up` hands it over.
    for name, value in s.as_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("VIGIL_USERS_FILE", str(users))
    st.cache_resource.clear()
    try:
        at = login(start(), "reviewer1", CONSOLE_PASSWORD)
        assert item.request_id in listed(at)
    finally:
        st.cache_resource.clear()


def test_redis_refuses_the_default_user_a_wrong_password_and_a_client_without_the_ca(
    secured: Secured,
) -> None:
    conn = secured.settings.redis_connection
    assert conn.tls and conn.username == REDIS_USER
    assert redis_client(conn).ping()
    as_default = conn.model_copy(update={"username": "", "password": SecretStr("")})
    with pytest.raises(RedisAccessError, match="wants a login") as refused:
        redis_client(as_default)
    assert REDIS_PASSWORD not in str(refused.value)
    wrong = conn.model_copy(update={"password": SecretStr("nope")})
    with pytest.raises(RedisAccessError, match="refused the login") as refused:
        ReviewQueue.connect(wrong)
    assert "nope" not in str(refused.value)
    untrusted = conn.model_copy(update={"ssl_ca_file": str(secured.certs.other_ca)})
    with pytest.raises(RedisAccessError, match="TLS"):
        redis_client(untrusted)
    no_client_cert = conn.model_copy(update={"ssl_cert_file": "", "ssl_key_file": ""})
    with pytest.raises(RedisAccessError, match="TLS"):
        redis_client(no_client_cert)


def test_a_wrong_kafka_password_fails_fast_with_a_clear_error_in_sdk_gateway_and_worker(
    secured: Secured, tmp_path: Path
) -> None:
    s = secured.settings
    bad = s.replace(kafka_sasl_password_file=str(_secret_file(tmp_path / "bad", "wrong-pw")))
    t0 = time.monotonic()
    with pytest.raises(KafkaConnectError, match="refused the login") as refused:
        VigilClient(bad.kafka_bootstrap, security=bad.kafka_security)
    assert time.monotonic() - t0 < 10, "the SDK waited for its bootstrap timeout"
    assert KAFKA_USER in str(refused.value) and "wrong-pw" not in str(refused.value)
    # A service exits at once with the reason, rather than retrying (or being restarted)
    # into the same refusal.
    env = {**os.environ, **bad.as_env()}
    for service in ("gateway", "worker", "tail"):
        argv = [sys.executable, "-m", "vigil.cli", service]
        if service == "tail":
            argv.append(topics.RESULTS)
        t0 = time.monotonic()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        took = time.monotonic() - t0
        assert done.returncode != 0, service
        # The broker's own reason, passed on.
        assert "KafkaConnectError" in done.stderr, done.stderr
        assert "Authentication failed" in done.stderr.rsplit("KafkaConnectError", 1)[1]
        assert "wrong-pw" not in done.stdout + done.stderr
        assert took < 60, f"vigil {service} took {took:.0f}s to give up"


def test_the_gateway_client_calls_triton_over_tls_and_fails_clearly_without_the_ca(
    secured: Secured,
) -> None:
    s = secured.settings
    route = ModelRoute(s.model_name, load_adapter(s.model_adapter))
    prompt = ReplayBook.load(s.gsm8k_path).questions()[0]

    async def call(tls: GrpcTls | None) -> str:
        client = TritonClient(s.triton_grpc_url, timeout_s=10, tls=tls)
        try:
            generation = await client.generate(
                route, prompt, GenerationParams(max_tokens=256), "tls-1"
            )
            return generation.text
        finally:
            await client.close()

    assert asyncio.run(call(s.triton_tls))
    with pytest.raises(ModelCallError, match="TLS with the server failed"):
        asyncio.run(call(GrpcTls(enabled=True, root_cert=str(secured.certs.other_ca))))
    with pytest.raises(ModelCallError) as plaintext:
        asyncio.run(call(None))
    assert plaintext.value.kind == "unavailable"


def test_no_secret_shows_in_a_log_or_in_vigil_output(secured: Secured) -> None:
    """Last in the module: every component has run (and the refusals above logged)."""
    s = secured.settings
    secrets = (KAFKA_PASSWORD, REDIS_PASSWORD)
    # vigil config with the secrets given directly (not as files): masked.
    direct = s.replace(kafka_sasl_password=KAFKA_PASSWORD, redis_password=REDIS_PASSWORD)
    shown = subprocess.run(
        [sys.executable, "-m", "vigil.cli", "config"],
        env={**os.environ, **direct.as_env()},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "VIGIL_KAFKA_SASL_PASSWORD=**********" in shown
    assert f"VIGIL_KAFKA_SASL_USERNAME={KAFKA_USER}" in shown
    outputs = {"vigil config": shown, "vigil up output": "\n".join(secured.printed)}
    outputs["settings repr"] = repr(direct) + str(direct.kafka_security)
    outputs["redis connection"] = repr(direct.redis_connection) + direct.redis_connection.describe()
    logs = [p for p in s.run_dir.rglob("*") if p.is_file() and "log" in p.name]
    assert len(logs) >= 6, logs  # redis, kafka, triton, gateway, worker, relay, monitor
    for path in logs:
        outputs[str(path)] = path.read_text(errors="replace")
    leaks = [name for name, text in outputs.items() for secret in secrets if secret in text]
    assert not leaks, f"a secret shows in: {leaks}"
