"""``vigil ask "question"``: one request through the real pipeline, and its answer or, when
the model cannot answer, the dead letter's reason said plainly (for a replay model: what it
can answer, and where a real model comes in)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from vigil.dead_letters import explain
from vigil.settings import VigilSettings
from vigil.streams import kafka_clients
from vigil.streams.topics import REQUESTS_DLQ, RESULTS
from vigil_client.client import VigilClient
from vigil_client.contracts import DeadLetter, InferenceResult


@dataclass(frozen=True)
class Answer:
    """What came back: the result, or the dead letter, or nothing in time."""

    request_id: str
    result: InferenceResult | None = None
    letter: DeadLetter | None = None

    def explain(self) -> str:
        if self.result is not None:
            r = self.result
            return f"{r.model_name} v{r.model_version} answered:\n{r.output}"
        if self.letter is None:
            return (
                f"no answer to {self.request_id} yet: is the stack running (`vigil up`)? "
                "`vigil tail llm.requests.dlq` shows requests that failed"
            )
        letter = self.letter
        head = f"no answer: the {letter.stage} gave up ({letter.reason}): {letter.error or ''}"
        why = explain(letter.reason, letter.error)
        return head if why is None else f"{head}\n\n{why}"


def ask(settings: VigilSettings, question: str, *, wait_s: float = 60.0) -> Answer:
    """Publish ``question`` and wait for its result or dead letter."""
    consumer = kafka_clients.consumer(
        settings.kafka_bootstrap,
        settings.kafka_security,
        client_id="vigil-ask",
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        consumer_timeout_ms=500,
    )
    try:
        # From the ends as they are now, fixed before the request goes out: nothing missed.
        parts = [
            kafka_clients.TopicPartition(topic, p)
            for topic in (RESULTS, REQUESTS_DLQ)
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(parts)
        consumer.seek_to_end()
        for tp in parts:
            consumer.position(tp)
        with VigilClient(
            settings.kafka_bootstrap, product="vigil-ask", security=settings.kafka_security
        ) as client:
            rid = client.submit(question, wait=True)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            for msg in consumer:
                if msg.key is None or msg.key.decode(errors="replace") != rid:
                    continue
                if msg.topic == RESULTS:
                    return Answer(rid, result=InferenceResult.from_json(msg.value))
                return Answer(rid, letter=DeadLetter.from_json(msg.value))
        return Answer(rid)
    finally:
        consumer.close()
