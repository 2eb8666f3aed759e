"""The gateway on the real stack: both LLM contracts on the real tritonserver, the k samples,
token counts, metadata, and the product SDK's whole loop (submit -> review -> decisions)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import consume_until
from vigil.inference.adapters import GenerationParams, load_adapter
from vigil.inference.client import ModelRoute, TritonClient
from vigil.inference.exceptions import ModelCallError
from vigil.inference.gateway import Gateway
from vigil.inference.replay_data import UNKNOWN_HINT, ReplayBook
from vigil.inference.replay_model import count_tokens, truncate_tokens
from vigil.inference.replay_plan import load_replay_book, replay_version, served_replay
from vigil.inference.runner import routes_from_settings
from vigil.reviewers.queue import ReviewQueue
from vigil.settings import REPO_ROOT, VigilSettings
from vigil.streams import topics
from vigil.streams.monitoring.store import MonitorStore
from vigil.supervisor import Supervisor
from vigil_client.client import VigilClient
from vigil_client.contracts import (
    DeadLetter,
    InferenceRequest,
    InferenceResult,
    ReviewDecision,
    ScreeningOutcome,
)

# What a product would get with the server's stack: none of it may come with the SDK.
SERVER_ONLY_MODULES = ("faust", "streamlit", "tritonclient", "orjson")


def test_both_llm_contracts_serve_k_samples_with_versions_tokens_and_metadata(
    stack: Supervisor, stack_settings: VigilSettings
) -> None:
    s = stack_settings
    book = load_replay_book(s)
    q1, q2, q3 = book.questions(s.replay_variant)[10:13]
    meta = {"locale": "en-GB", "segment": "grade-5"}
    with VigilClient(s.kafka_bootstrap, product="contracts-it", tenant="school-7") as client:
        vllm_id = client.submit(q1, metadata=meta, samples=3)
        trt_id = client.submit(q2, metadata=meta, samples=2, model=s.trtllm_model_name)
        short_id = client.submit(
            q3, model=s.trtllm_model_name, sampling={"max_tokens": 5, "seed": 0}
        )
        unknown_id = client.submit(q1, model="no-such-llm")
        client.flush()

    got = consume_until(s, topics.RESULTS, [vllm_id, trt_id, short_id], timeout_s=120)
    results = {rid: InferenceResult.from_json(got[rid][0]) for rid in (vllm_id, trt_id, short_id)}
    version = str(replay_version(s, book))
    served = served_replay(s, book)
    # The session stack's samples are the file's other variants (conftest.GPT3_REPLAY).
    assert served.cross_model

    def recorded(q: str, seed: int) -> str:
        return served.answer(q, seed)

    # vLLM contract: decoupled stream, the prompt not echoed, per-response token counts summed.
    r = results[vllm_id]
    assert (r.model_name, r.model_version, r.adapter) == (s.model_name, version, "vllm")
    assert r.output == recorded(q1, 0)
    assert r.samples == [recorded(q1, 1), recorded(q1, 2)]  # k = 3, different seeds
    assert len({r.output, *r.samples}) == 3
    assert (r.samples_requested, r.samples_degraded) == (3, None)
    assert r.output_tokens == count_tokens(r.output)
    assert r.input_tokens == count_tokens(q1)
    assert r.total_output_tokens == sum(count_tokens(t) for t in (r.output, *r.samples))
    assert (r.product, r.tenant, r.metadata) == ("contracts-it", "school-7", meta)
    assert r.latency_ms > 0

    # TensorRT-LLM ensemble contract: [1, 1] typed tensors, unary, dynamic batching.
    t = results[trt_id]
    trtllm = routes_from_settings(s).by_name[s.trtllm_model_name].adapter.name
    assert trtllm.startswith("trtllm")
    assert (t.model_name, t.model_version, t.adapter) == (s.trtllm_model_name, version, trtllm)
    assert t.output == recorded(q2, 0) and t.samples == [recorded(q2, 1)]
    assert t.output_tokens is None and t.input_tokens is None  # the ensemble reports none
    assert t.metadata == meta and t.tenant == "school-7"
    assert results[short_id].output == truncate_tokens(recorded(q3, 0), 5)

    dlq = consume_until(s, topics.REQUESTS_DLQ, [unknown_id], timeout_s=60)
    letter = DeadLetter.from_json(dlq[unknown_id][0])
    assert letter.reason == "unknown_model" and "no-such-llm" in (letter.error or "")


UNKNOWN = "the replay reasoner has no recorded answer for this prompt"


async def test_an_unknown_question_fails_alone_in_its_dynamic_batch(
    stack: Supervisor, stack_settings: VigilSettings
) -> None:
    s = stack_settings
    book = load_replay_book(s)
    # 48 known and 16 unknown questions, interleaved and all in flight at once: while Triton
    # runs one call the others queue, and the dynamic batcher merges them (up to 64).
    mix: list[tuple[str, bool]] = []
    for i, q in enumerate(book.questions(s.replay_variant)[40:88]):
        mix.append((q, True))
        if i % 3 == 0:
            mix.append((f"What is the airspeed of unladen swallow number {i}?", False))
    triton = TritonClient(s.triton_grpc_url, timeout_s=60.0)
    try:
        # Proof that such a mix shares batches (PyTriton keeps Triton's statistics behind a
        # per-run token): a client not asking for the error output gets PyTriton's
        # whole-call error, so known questions fail with the unknown one's error.
        plain = ModelRoute(s.trtllm_model_name, load_adapter("trtllm"))
        params = GenerationParams(max_tokens=512)
        calls = (triton.generate(plain, q, params, f"plain-{i}") for i, (q, _) in enumerate(mix))
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        shared = [o for (_, ok), o in zip(mix, outcomes, strict=True) if ok and UNKNOWN in str(o)]
        assert shared and all(isinstance(o, ModelCallError) for o in shared)

        # Through the gateway, with the adapter that reads the per-request error.
        routes = routes_from_settings(
            s.replace(gateway_models={s.trtllm_model_name: "trtllm-pytriton"})
        )
        gateway = Gateway(
            triton, routes, source_topic=topics.REQUESTS, max_prompt_chars=s.max_prompt_chars
        )
        requests = [InferenceRequest(prompt=q, model=s.trtllm_model_name) for q, _ in mix]
        handled = await asyncio.gather(*(gateway.handle(r.to_json()) for r in requests))
    finally:
        await triton.close()

    for (q, ok), request, h in zip(mix, requests, handled, strict=True):
        if ok:
            assert h.result is not None, h.dead_letter
            assert h.result.output == served_replay(s, book).answer(q)
            assert h.result.adapter == "trtllm-pytriton"
        else:
            letter = h.dead_letter
            assert letter is not None and letter.request_id == request.request_id
            assert (letter.reason, letter.attempts) == ("model_error", 1)
            assert letter.error == (
                f"triton {s.trtllm_model_name}: UnknownQuestion: {UNKNOWN}{UNKNOWN_HINT}"
            )
    assert gateway.counts["results"] == 48 and gateway.counts["dead_letter.model_error"] == 16


def test_a_product_gets_decisions_and_corrections_for_its_own_requests(
    stack: Supervisor, stack_settings: VigilSettings
) -> None:
    s = stack_settings
    questions = ReplayBook.load(s.gsm8k_path).questions()
    with VigilClient(s.kafka_bootstrap, product="sdk-it", tenant="acme") as vigil:
        # The SDK's producer is durable too.
        assert vigil._producer.config["acks"] in ("all", -1)
        assert vigil._producer.config["enable_idempotence"] is True
        held = vigil.submit(questions[20], hold_for_review=True, metadata={"plan": "pro"})
        approved = vigil.submit(questions[21], hold_for_review=True, wait=True)
        vigil.flush()

        screened = consume_until(s, topics.SCREENED, [held, approved], timeout_s=120)
        for rid in (held, approved):
            assert ScreeningOutcome.from_json(screened[rid][0]).verdict == "queued"
        queue = ReviewQueue.connect(s.redis_connection)
        for rid, kind in ((held, "correct"), (approved, "approve")):
            item = queue.get(rid)
            assert item is not None and item.hold_for_review and item.product == "sdk-it"
            queue.decide(
                ReviewDecision(
                    request_id=rid,
                    decision=kind,  # type: ignore[arg-type]
                    reviewer="reviewer",
                    corrected_answer="42" if kind == "correct" else None,
                    model_name=item.model_name,
                    model_version=item.model_version,
                    product=item.product,
                    tenant=item.tenant,
                    metadata=item.metadata,
                )
            )

        mine = {held, approved}
        decisions: dict[str, ReviewDecision] = {}
        for d in vigil.decisions(request_ids=mine, from_beginning=True, timeout_ms=60_000):
            decisions[d.request_id] = d
            if set(decisions) == mine:
                break
        assert decisions[held].decision == "correct" and decisions[held].corrected_answer == "42"
        assert decisions[held].metadata == {"plan": "pro"}
        assert decisions[approved].decision == "approve"
        corrections = [
            d.request_id
            for d in vigil.corrections(request_ids=mine, from_beginning=True, timeout_ms=5_000)
        ]
        assert corrections == [held]

    # Another product never sees them.
    with VigilClient(s.kafka_bootstrap, product="someone-else") as other:
        assert not list(other.decisions(request_ids=mine, from_beginning=True, timeout_ms=3_000))


def test_the_runnable_product_example_submits_and_waits(
    stack: Supervisor, stack_settings: VigilSettings, tmp_path: Path
) -> None:
    """The example, run by a fresh venv holding the SDK alone (``pip install ./sdk``)."""
    s = stack_settings
    venv = tmp_path / "product-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    # From a copy: a non-editable install builds in the source tree (build/, egg-info).
    sdk = shutil.copytree(
        REPO_ROOT / "sdk",
        tmp_path / "sdk",
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"),
    )
    t0 = time.monotonic()
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, str(sdk)], check=True, timeout=300)
    print(f"\nvigil-client installed into a fresh venv in {time.monotonic() - t0:.1f}s")

    # Run outside the repository, so nothing of it is importable but the installed SDK.
    probe = subprocess.run(
        [
            python,
            "-c",
            "import importlib.util, vigil_client\n"
            "print(vigil_client.__file__)\n"
            f"print([m for m in {SERVER_ONLY_MODULES!r} if importlib.util.find_spec(m)])",
        ],
        cwd=tmp_path,
        # No inherited PYTHONPATH: it may name the repository's sdk/ (as a worktree's runs do).
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    location, importable = probe.stdout.splitlines()
    assert Path(location).is_relative_to(venv), location
    assert importable == "[]", f"the SDK's venv has server modules: {importable}"

    out = subprocess.run(
        [
            python,
            str(REPO_ROOT / "examples" / "product_example.py"),
            str(s.gsm8k_path),
            "--trtllm-model",
            s.trtllm_model_name,
            "--count",
            "4",
            "--wait-s",
            "2",
        ],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "VIGIL_KAFKA_BOOTSTRAP": s.kafka_bootstrap},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    ids = [line.split()[1] for line in out.stdout.splitlines() if line.startswith("submitted")]
    assert len(ids) == 4
    got = consume_until(s, topics.RESULTS, ids, timeout_s=120)
    assert set(ids) <= set(got)


def test_vigil_ask_answers_or_says_why_not_and_the_console_keeps_why(
    stack: Supervisor, stack_settings: VigilSettings
) -> None:
    """``vigil ask`` through the real stack: a recorded question is answered; one the replay
    never saw gets the dead letter's reason, what a replay answers and the README pointer,
    and the monitor keeps it for the console's Alerts page."""
    s = stack_settings
    env = {**os.environ, **s.as_env()}
    known = load_replay_book(s).questions(s.replay_variant)[0]
    ok = subprocess.run(
        [sys.executable, "-m", "vigil.cli", "ask", known, "--wait-s", "60"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith(f"{s.model_name} v") and "answered:" in ok.stdout
    question = "What is the capital of France, and why is it not Lyon?"
    out = subprocess.run(
        [sys.executable, "-m", "vigil.cli", "ask", question, "--wait-s", "60"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "no answer: the gateway gave up (model_error)" in out.stdout
    assert f"UnknownQuestion: {UNKNOWN}" in out.stdout
    assert "README, 'Using an existing Kafka, Redis or Triton'" in out.stdout
    store = MonitorStore.connect(s.redis_connection, s.monitor.app_id)
    deadline = time.monotonic() + 60
    while not store.dead_letters(5) and time.monotonic() < deadline:
        time.sleep(0.5)
    letters = store.dead_letters(50)
    assert any(d["reason"] == "model_error" and "UnknownQuestion" in d["error"] for d in letters), (
        letters
    )
    assert all("payload" not in d for d in letters)  # the prompt stays the product's
    assert store.dead_letter_counts()["model_error"] >= 1
