"""The verifier worker (``vigil verifier``) on the session stack: real Kafka, and the real
tritonserver serving the verifier model (SmolLM2-135M in llama.cpp): each ``VerifyRequest``
gets one ``Judgement`` from the model (verified, or not verified because its answer could not
be read: never a crash, never silence); a request whose wait ended is answered without a
model call; a record that is not a request is dead-lettered."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from kafka import KafkaProducer

from tests.conftest import consume_until
from vigil.settings import EXTERNAL_DATA, VigilSettings
from vigil.stack import service_process
from vigil.streams import topics
from vigil.supervisor import Supervisor
from vigil_client.contracts import DeadLetter, InferenceResult, Judgement, VerifyRequest

pytestmark = [pytest.mark.kafka, pytest.mark.triton]


@pytest.fixture(scope="module")
def verifier(stack: Supervisor, stack_settings: VigilSettings) -> Iterator[VigilSettings]:
    config = stack_settings.run_dir / "verifier-checks.toml"
    # A generous call timeout: a judgement takes seconds on two shared cores.
    config.write_text("[verifier]\nenabled = true\ntimeout_s = 120.0\n")
    settings = stack_settings.replace(checks_config=str(config))
    stack.start(service_process(stack, settings, "verifier"))
    try:
        yield settings
    finally:
        stack.stop("verifier")


def _shortest_processbench() -> tuple[str, str]:
    path = EXTERNAL_DATA / "processbench_gsm8k" / "model_solutions.jsonl"
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    row = min(rows, key=lambda r: len(r["processbench"]["solution"]))
    return row["question"], row["processbench"]["solution"]


def _request(rid: str, *, wait_s: float) -> bytes:
    question, solution = _shortest_processbench()
    now = datetime.now(UTC)
    result = InferenceResult(
        request_id=rid,
        request_created_at=now,
        prompt=question,
        output=solution,
        model_name="replay-reasoner",
        model_version="1",
        latency_ms=1.0,
    )
    return VerifyRequest(
        request_id=rid, deadline=now + timedelta(seconds=wait_s), result=result
    ).to_json()


def _send(settings: VigilSettings, records: list[tuple[str, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    for key, value in records:
        producer.send(topics.VERIFY, value, key=key.encode()).get(timeout=30)
    producer.close()


def test_each_request_gets_one_judgement_from_the_model(verifier: VigilSettings) -> None:
    t0 = time.monotonic()
    _send(
        verifier,
        [
            ("vw-judged", _request("vw-judged", wait_s=600)),
            ("vw-expired", _request("vw-expired", wait_s=-1)),
            ("vw-garbage", b"{not a request"),
        ],
    )
    got = consume_until(verifier, topics.JUDGEMENTS, ["vw-judged", "vw-expired"], 300)
    print(f"\njudgements in {time.monotonic() - t0:.1f}s")
    judged = [Judgement.from_json(v) for v in got["vw-judged"]]
    assert len(judged) == 1
    j = judged[0]
    assert j.verifier == "vigil-verifier" and j.mode == "critic"
    if j.status == "verified":
        assert j.latency_ms is not None and j.latency_ms > 0
        assert j.first_wrong_step is None or j.first_wrong_step >= 0
    else:
        # The small model's index may be past the steps: recorded as such, not a failure of
        # the call (no timeout, no circuit, no model error).
        assert j.not_verified is not None and j.not_verified.startswith("unparseable answer")
    (expired,) = [Judgement.from_json(v) for v in got["vw-expired"]]
    assert expired.status == "not_verified" and expired.latency_ms is None
    assert expired.not_verified == "its wait ended before it was judged"
    dead = consume_until(verifier, topics.RESULTS_DLQ, ["vw-garbage"], 60)
    (letter,) = [DeadLetter.from_json(v) for v in dead["vw-garbage"]]
    assert letter.stage == "verifier" and letter.reason == "invalid_schema"
