"""What a dead letter means, said plainly: one wording for the CLI (``vigil ask``) and the
console's Alerts page. The error text itself comes from the hop that gave up."""

from __future__ import annotations

REAL_MODEL_POINTER = "README, 'Using an existing Kafka, Redis or Triton'"
UNKNOWN_QUESTION = (
    "The served model is a replay model: it answers only the GSM8K questions recorded in its"
    " files (as `vigil publish` sends them), and this question is not one of them. To answer"
    f" any question, point Vigil at a real model: {REAL_MODEL_POINTER}."
)


def explain(reason: str, error: str | None) -> str | None:
    """The explanation of a dead letter's ``reason`` and ``error``, when there is one to give."""
    if "UnknownQuestion" in (error or ""):
        return UNKNOWN_QUESTION
    if reason == "model_error":
        return "The model call failed; the error says why (the gateway retried it first)."
    return None
