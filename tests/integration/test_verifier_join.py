"""The verifier's asynchronous join, on a real Kafka and Redis: the screening worker holds a
result for its judgement and settles it exactly once, whatever the judgement does.

The test plays the verifier (it reads ``llm.verify`` and writes ``llm.judgements``), so it can
send a judgement on time, late, never or twice; the verifier worker and its model on Triton
are tested in test_verifier_triton.py. Cases:

- on time: a clean result the verifier rejects is queued, with the verifier's step, reason
  and score on the outcome and the review item;
- never, then late: the result is settled after ``max_wait_s`` "not verified: timeout"; the
  late judgement changes nothing;
- twice, disagreeing: the first judgement decides; the second changes nothing;
- the worker killed (kill -9) between the cheap verdict and the judgement: the next worker
  joins the judgement, and the result has one outcome.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaProducer

from tests.conftest import free_port
from tests.topic_reader import TopicReader
from vigil.reviewers.queue import ReviewQueue
from vigil.reviewers.redis_server import redis_process
from vigil.settings import VigilSettings, load_settings
from vigil.streams import topics
from vigil.streams.kafka_broker import broker_process
from vigil.streams.topics import ensure_topics
from vigil.supervisor import ProcessSpec, Supervisor, marker_ready
from vigil_client.contracts import InferenceResult, Judgement, ScreeningOutcome, VerifyRequest

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

MAX_WAIT_S = 6.0
PROMPT = "Tom has 3 apples and buys 4 more. How many apples does he have now?"
OUTPUT = "Tom starts with 3 apples.\nHe buys 4 more, so 3 + 4 = 7.\nThe answer is \\boxed{7}."


@pytest.fixture(scope="module")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Supervisor, VigilSettings]]:
    run_dir: Path = tmp_path_factory.mktemp("vigil-verifier-join")
    config = run_dir / "checks.toml"
    config.write_text(
        f"[sampling]\nclean_rate = 0.0\n[verifier]\nenabled = true\nmax_wait_s = {MAX_WAIT_S}\n"
    )
    settings = load_settings(
        run_dir=run_dir,
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        kafka_controller_port=free_port(),
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        topic_partitions=2,
        checks_config=str(config),
        worker_session_timeout_s=6.0,
    )
    with Supervisor(settings.logs_dir) as sup:
        sup.start(redis_process(settings))
        sup.start(broker_process(settings))
        ensure_topics(settings.kafka_bootstrap, settings.topic_partitions)
        sup.start(_worker_spec(sup, settings))
        yield sup, settings


def _worker_spec(sup: Supervisor, settings: VigilSettings) -> ProcessSpec:
    return ProcessSpec(
        name="worker",
        argv=[sys.executable, "-m", "vigil.cli", "worker"],
        env={"DO_NOT_TRACK": "1", "PYTHONUNBUFFERED": "1", **settings.as_env()},
        ready=marker_ready(settings.ready_dir, "worker", lambda: sup.pid("worker")),
        ready_timeout_s=120.0,
        cwd=Path(__file__).resolve().parents[2],
    )


class Records(TopicReader):
    def __init__(self, settings: VigilSettings, prefix: str) -> None:
        self.outcomes: dict[str, list[ScreeningOutcome]] = defaultdict(list)
        self.requests: dict[str, list[VerifyRequest]] = defaultdict(list)
        super().__init__(settings, (topics.SCREENED, topics.VERIFY), prefix)

    def keep(self, topic: str, rid: str, value: bytes) -> None:
        if topic == topics.SCREENED:
            self.outcomes[rid].append(ScreeningOutcome.from_json(value))
        else:
            self.requests[rid].append(VerifyRequest.from_json(value))

    def wait(self, what: str, rid: str, timeout_s: float) -> list[object]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                got = list(getattr(self, what)[rid])
            if got:
                return got
            time.sleep(0.1)
        return []


@pytest.fixture
def reader(infra: tuple[Supervisor, VigilSettings]) -> Iterator[Records]:
    records = Records(infra[1], "vj-")
    yield records
    records.close()


def _send(settings: VigilSettings, topic: str, rid: str, value: bytes) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    producer.send(topic, value, key=rid.encode()).get(timeout=30)
    producer.close()


def _result(rid: str) -> InferenceResult:
    now = datetime.now(UTC)
    return InferenceResult(
        request_id=rid,
        created_at=now,
        request_created_at=now,
        prompt=PROMPT,
        output=OUTPUT,
        model_name="replay-reasoner",
        model_version="1",
        latency_ms=5.0,
    )


def _judgement(rid: str, step: int | None) -> bytes:
    return Judgement(
        request_id=rid,
        status="verified",
        verifier="test-verifier",
        mode="critic",
        first_wrong_step=step,
        reason="3 + 4 is not what the question asks" if step is not None else "",
        score=0.9 if step is not None else 0.1,
    ).to_json()


def _screen(settings: VigilSettings, reader: Records, rid: str) -> None:
    """Publish the result and wait until the worker held it for the verifier."""
    _send(settings, topics.RESULTS, rid, _result(rid).to_json())
    assert reader.wait("requests", rid, 60), f"{rid}: no verify request"


def _verifier(outcome: ScreeningOutcome) -> list[str]:
    return [e.message for c in outcome.checks if c.check == "verifier" for e in c.evidence]


def test_on_time_judgement_joins_and_queues_a_clean_result(
    infra: tuple[Supervisor, VigilSettings], reader: Records
) -> None:
    _, settings = infra
    rid = "vj-on-time"
    _screen(settings, reader, rid)
    # Held: no outcome before its judgement.
    assert not reader.wait("outcomes", rid, 1.5)
    _send(settings, topics.JUDGEMENTS, rid, _judgement(rid, 1))
    (outcome,) = reader.wait("outcomes", rid, 30)
    assert isinstance(outcome, ScreeningOutcome)
    assert outcome.verdict == "queued" and "verifier" in outcome.tags
    assert outcome.first_faulty_step == 1
    assert any("step 2 is wrong" in m and "model's opinion" in m for m in _verifier(outcome))
    item = ReviewQueue.connect(settings.redis_connection).get(rid)
    assert item is not None and item.first_faulty_step == 1
    assert any(c.check == "verifier" and c.score == 0.9 for c in item.checks)


def test_a_judgement_that_never_comes_times_out_and_a_late_one_changes_nothing(
    infra: tuple[Supervisor, VigilSettings], reader: Records
) -> None:
    _, settings = infra
    rid = "vj-late"
    t0 = time.monotonic()
    _screen(settings, reader, rid)
    (outcome,) = reader.wait("outcomes", rid, MAX_WAIT_S + 20)
    waited = time.monotonic() - t0
    assert isinstance(outcome, ScreeningOutcome)
    assert outcome.verdict == "clean"
    assert any(m.startswith("not verified: timeout") for m in _verifier(outcome))
    assert waited < MAX_WAIT_S + 15
    _send(settings, topics.JUDGEMENTS, rid, _judgement(rid, 0))
    time.sleep(3)
    with reader.lock:
        verdicts = {o.verdict for o in reader.outcomes[rid]}
    assert verdicts == {"clean"}


def test_two_disagreeing_judgements_the_first_decides(
    infra: tuple[Supervisor, VigilSettings], reader: Records
) -> None:
    _, settings = infra
    rid = "vj-twice"
    _screen(settings, reader, rid)
    _send(settings, topics.JUDGEMENTS, rid, _judgement(rid, None))
    _send(settings, topics.JUDGEMENTS, rid, _judgement(rid, 0))
    assert reader.wait("outcomes", rid, 30)
    time.sleep(3)
    with reader.lock:
        outcomes = list(reader.outcomes[rid])
    assert {o.verdict for o in outcomes} == {"clean"}
    assert {o.to_json() for o in outcomes} == {outcomes[0].to_json()}
    assert any("no wrong step" in m for m in _verifier(outcomes[0]))


def test_worker_killed_between_cheap_verdict_and_judgement(
    infra: tuple[Supervisor, VigilSettings], reader: Records
) -> None:
    sup, settings = infra
    rid = "vj-killed"
    _screen(settings, reader, rid)
    pid = sup.pid("worker")
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)
    sup.stop("worker")
    _send(settings, topics.JUDGEMENTS, rid, _judgement(rid, 2))
    sup.start(_worker_spec(sup, settings))
    (outcome,) = reader.wait("outcomes", rid, 60)
    time.sleep(2)
    with reader.lock:
        outcomes = list(reader.outcomes[rid])
    assert isinstance(outcome, ScreeningOutcome)
    assert {o.verdict for o in outcomes} == {"queued"}
    assert outcomes[0].first_faulty_step == 2
