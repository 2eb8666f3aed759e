"""What ``vigil ask`` prints for each outcome (pure)."""

from __future__ import annotations

from vigil.dead_letters import REAL_MODEL_POINTER, explain
from vigil.streams.ask import Answer
from vigil_client.contracts import DeadLetter


def _letter(reason: str, error: str) -> DeadLetter:
    return DeadLetter(
        request_id="r1",
        source_topic="llm.requests",
        stage="gateway",
        reason=reason,
        error=error,
        payload="{}",
    )


def test_an_unknown_question_is_explained_with_the_real_model_pointer() -> None:
    text = Answer("r1", letter=_letter("model_error", "triton m: UnknownQuestion: no")).explain()
    assert text.startswith("no answer: the gateway gave up (model_error): triton m:")
    assert "replay model" in text and REAL_MODEL_POINTER in text


def test_other_outcomes() -> None:
    assert explain("model_error", "timeout") is not None
    assert explain("invalid_schema", "bad json") is None
    assert "bad json" in Answer("r1", letter=_letter("invalid_schema", "bad json")).explain()
    assert "vigil up" in Answer("r1").explain()
