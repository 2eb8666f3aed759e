"""The whole record path on the real Kafka, Triton and Redis.

product SDK -> llm.requests -> gateway -> Triton (replay reasoner) -> llm.results -> Faust
screening -> Redis review queue -> a reviewer decides -> outbox relay -> review.decisions.
"""

from __future__ import annotations

import random
import uuid

import orjson
from kafka import KafkaProducer

from tests.conftest import MODERN_REPLAY_MODELS, consume_until
from vigil.inference.replay_data import ReplayBook
from vigil.inference.replay_plan import load_replay_book, replay_plan
from vigil.reviewers.queue import ReviewQueue
from vigil.settings import VigilSettings
from vigil.streams import topics
from vigil.streams.checks.routing import RANDOM_SAMPLE
from vigil.streams.checks.steps import check_steps
from vigil.supervisor import Supervisor
from vigil_client.client import VigilClient
from vigil_client.contracts import DeadLetter, InferenceResult, ReviewDecision, ScreeningOutcome


def test_gsm8k_requests_end_clean_or_queued_and_a_decision_reaches_kafka(
    stack: Supervisor, stack_settings: VigilSettings
) -> None:
    s = stack_settings
    book = ReplayBook.load(s.gsm8k_path)
    questions = book.questions()
    rng = random.Random(7)

    # Expected verdicts come from the same pure checks run offline on the recorded outputs;
    # include some the checks flag so both paths of the pipeline are exercised.
    def offline_flagged(q: str) -> bool:
        return check_steps(book.answer(q, s.replay_variant)[1]).flagged

    flagged_qs = [q for q in questions if offline_flagged(q)]
    picked = rng.sample(questions, 30) + rng.sample(flagged_qs, 10)
    expected = {q: offline_flagged(q) for q in picked}
    with VigilClient(s.kafka_bootstrap, product="it-test") as client:
        ids = [client.submit(q, metadata={"locale": "en-GB"}) for q in picked]
        client.flush()
    expected_verdict = {
        rid: "queued" if expected[q] else "clean" for rid, q in zip(ids, picked, strict=True)
    }

    screened = consume_until(s, topics.SCREENED, ids, timeout_s=180)
    missing = set(ids) - set(screened)
    assert not missing, f"{len(missing)} request ids never reached a final state"
    verdicts, routes = {}, {}
    for rid in ids:
        outcomes = {ScreeningOutcome.from_json(v).verdict for v in screened[rid]}
        assert len(outcomes) == 1, f"{rid} ended in more than one state: {outcomes}"
        verdicts[rid] = outcomes.pop()
        routes[rid] = ScreeningOutcome.from_json(screened[rid][0]).route
    assert verdicts == expected_verdict
    queued = [rid for rid, v in verdicts.items() if v == "queued"]
    assert len(queued) >= 10

    queue = ReviewQueue.connect(s.redis_connection)
    for rid in queued:
        item = queue.get(rid)
        assert item is not None and queue.state(rid) == "pending"
        assert item.checks and any(c.flagged for c in item.checks)
    for rid in verdicts:
        if verdicts[rid] == "clean":
            # Only the clean results sampled for review (2 % by default) have an item.
            sampled = routes[rid] == RANDOM_SAMPLE
            assert (queue.get(rid) is not None) == sampled, (rid, routes[rid])

    # A reviewer corrects one item and approves another (what the console's form calls).
    a, b = queued[0], queued[-1] if len(queued) > 1 else queued[0]
    item_a = queue.get(a)
    assert item_a is not None
    corrected = queue.decide(
        ReviewDecision(
            request_id=a,
            decision="correct",
            reviewer="reviewer",
            corrected_answer="42",
            first_wrong_step=item_a.first_faulty_step,
            model_name=item_a.model_name,
            model_version=item_a.model_version,
            product=item_a.product,
            metadata=item_a.metadata,
        )
    )
    decided = {a: corrected.decision_id}
    if b != a:
        item_b = queue.get(b)
        assert item_b is not None
        approved = queue.decide(
            ReviewDecision(
                request_id=b,
                decision="approve",
                reviewer="lead",
                model_name=item_b.model_name,
                model_version=item_b.model_version,
            )
        )
        decided[b] = approved.decision_id

    on_kafka = consume_until(s, topics.DECISIONS, decided, timeout_s=60)
    for rid, decision_id in decided.items():
        got = [ReviewDecision.from_json(v) for v in on_kafka.get(rid, [])]
        assert any(d.decision_id == decision_id for d in got), f"decision for {rid} not on Kafka"
    first = ReviewDecision.from_json(on_kafka[a][0])
    assert first.decision == "correct" and first.corrected_answer == "42"
    assert first.product == "it-test" and first.metadata == {"locale": "en-GB"}


def test_current_models_free_form_output_goes_the_whole_path_under_its_own_labels(
    stack: Supervisor, stack_settings: VigilSettings
) -> None:
    """Replay models of Re2's gpt-4o-mini and ProcessBench's Qwen2.5-7B (free-form chain of
    thought, no `A:` line), served beside the default one, end to end. What the checks make
    of the text is theirs to say; here: every result arrives with its model's recorded text,
    samples and labels, is screened exactly once, and a queued one is in the review queue as
    the model wrote it."""
    s = stack_settings
    book = load_replay_book(s)
    plan = {m.model_name: m for m in replay_plan(s, book)}
    rng = random.Random(13)
    sent: dict[str, tuple[str, str]] = {}  # request id -> (model, question)
    held: list[str] = []
    with VigilClient(s.kafka_bootstrap, product="it-modern") as client:
        for model in MODERN_REPLAY_MODELS:
            questions = book.questions(plan[model].replayed.variant)
            for i, q in enumerate(rng.sample(questions, 6)):
                # One held per model: queued whatever the checks say, so its item is there.
                rid = client.submit(q, model=model, samples=2, hold_for_review=i == 0)
                sent[rid] = (model, q)
                if i == 0:
                    held.append(rid)
        client.flush()

    results = consume_until(s, topics.RESULTS, sent, timeout_s=180)
    assert set(sent) <= set(results), "some requests got no result"
    for rid, (model, q) in sent.items():
        [raw] = results[rid]
        r = InferenceResult.from_json(raw)
        served = plan[model]
        variant = book.variant(served.replayed.variant)
        # The labels say which recorded model wrote it: the route's name and that variant's
        # version in its file (not the default model's).
        assert (r.model_name, r.model_version) == (model, str(variant.version))
        assert variant.id == MODERN_REPLAY_MODELS[model]
        assert r.output == served.replayed.answer(q)
        assert r.output == (book.recorded(q, variant.id) or ("", False))[0]
        assert r.samples == [served.replayed.answer(q, 1)]
        assert "<<" not in r.output and "\nA:" not in r.output  # not the GPT-3 format
        assert r.output_tokens is not None and r.output_tokens > 0

    screened = consume_until(s, topics.SCREENED, sent, timeout_s=180)
    assert set(sent) <= set(screened), "some results were never screened"
    queue = ReviewQueue.connect(s.redis_connection)
    for rid, (model, q) in sent.items():
        outcomes = [ScreeningOutcome.from_json(v) for v in screened[rid]]
        assert len({o.verdict for o in outcomes}) == 1, outcomes
        verdict = outcomes[0].verdict
        assert verdict in ("clean", "queued") and outcomes[0].checks
        if rid in held:
            assert verdict == "queued"
        if verdict == "queued":
            item = queue.get(rid)
            assert item is not None and item.product == "it-modern"
            assert (item.model_name, item.model_version) == (
                model,
                str(plan[model].version),
            )
            assert item.output == plan[model].replayed.answer(q) and item.prompt == q
    dead = set(consume_until(s, topics.RESULTS_DLQ, sent, timeout_s=5)) & set(sent)
    assert not dead, f"results dead-lettered by the worker: {sorted(dead)}"


def test_bad_requests_are_dead_lettered_with_a_reason_and_the_gateway_keeps_going(
    stack: Supervisor, stack_settings: VigilSettings
) -> None:
    s = stack_settings
    producer = KafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all")
    bad_schema_id = f"bad-{uuid.uuid4().hex}"
    unknown_id = f"unknown-{uuid.uuid4().hex}"
    oversize_id = f"big-{uuid.uuid4().hex}"
    producer.send(topics.REQUESTS, b"{not json", key=b"garbage")
    producer.send(
        topics.REQUESTS,
        orjson.dumps({"request_id": bad_schema_id, "prompt": ""}),
        key=bad_schema_id.encode(),
    )
    producer.send(
        topics.REQUESTS,
        orjson.dumps({"request_id": oversize_id, "prompt": "x" * (s.max_prompt_chars + 1)}),
        key=oversize_id.encode(),
    )
    producer.send(
        topics.REQUESTS,
        orjson.dumps({"request_id": unknown_id, "prompt": "What is the airspeed of a swallow?"}),
        key=unknown_id.encode(),
    )
    good = VigilClient(s.kafka_bootstrap, product="it-test")
    good_id = good.submit(ReplayBook.load(s.gsm8k_path).questions()[3], wait=True)
    good.close()
    producer.flush()
    producer.close()

    dlq = consume_until(
        s, topics.REQUESTS_DLQ, [bad_schema_id, unknown_id, oversize_id, "garbage"], 120
    )
    letters = {k: DeadLetter.from_json(v[0]) for k, v in dlq.items()}
    assert letters["garbage"].reason == "malformed_json"
    assert letters[bad_schema_id].reason == "invalid_schema"
    assert "prompt" in (letters[bad_schema_id].error or "")
    assert letters[oversize_id].reason == "oversize"
    assert letters[unknown_id].reason == "model_error"
    assert "no recorded answer" in (letters[unknown_id].error or "")
    # ...and the good request behind them still went through.
    assert good_id in consume_until(s, topics.SCREENED, [good_id], timeout_s=120)
