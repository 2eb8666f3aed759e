"""Per-result monitoring features: the numbers and text that drift and bias checks compare.

One :class:`InferenceResult` in, one flat row out (a dict, so a window is a list of rows and
becomes a DataFrame in one call). Pure: no I/O, so the same code builds the live windows, the
stored reference and the benchmark's synthetic windows.

The check columns come from the screening worker's verdict on the result (its configured
checks and weights, ``verdicts.py``): ``check_<name>`` holds each check's score, ``flagged``
whether any check fired, ``risk_score`` the outcome's risk. Checks added later simply add
columns; the reference decides which columns a window is compared on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from vigil.streams.checks.solution import normalise_answer, parse_solution
from vigil_client.contracts import InferenceResult, ScreeningOutcome

# Columns by Evidently type (check_* columns are numerical too and found by prefix).
NUMERICAL = (
    "reasoning_chars",
    "step_count",
    "annotation_count",
    "answer_log_magnitude",
    "flagged",
    "risk_score",
    "self_consistency",
    "latency_ms",
    "output_tokens",
)
CATEGORICAL = ("answer_format", "model_version")
TEXT = ("prompt", "output")
CHECK_PREFIX = "check_"
# Not compared, but kept with each row: the sample links of an alert and bias segments.
META = ("request_id", "created_at", "product", "segments", "correct")

_ANSWER_FORMATS = (
    ("percent", re.compile(r"^-?[$€£]?\d[\d,]*(\.\d+)?\s*%$")),
    ("currency", re.compile(r"^-?[$€£]\s*-?\d[\d,]*(\.\d+)?$")),
    ("thousands", re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")),
    ("integer", re.compile(r"^-?\d+$")),
    ("decimal", re.compile(r"^-?\d*\.\d+$")),
    ("fraction", re.compile(r"^-?\d+\s*/\s*\d+$")),
)


def answer_format(answer: str | None) -> str:
    """How the final answer is written: a changed mix of formats is a behaviour change."""
    if answer is None:
        return "missing"
    text = answer.strip().rstrip(".").strip()
    for name, pattern in _ANSWER_FORMATS:
        if pattern.match(text):
            return name
    return "text"


def log_magnitude(value: float | None) -> float:
    """sign(x)·log10(1+|x|): answers span 0.5 to 10^7, so distances are taken on a log scale."""
    if value is None or not math.isfinite(value):
        return math.nan
    return math.copysign(math.log10(1.0 + abs(value)), value)


def self_consistency(output: str, samples: Sequence[str]) -> float:
    """Share of the extra samples whose final answer equals the output's (NaN without samples)."""
    if not samples:
        return math.nan
    mine = normalise_answer(parse_solution(output).final_answer or "")

    def same(sample: str) -> bool:
        theirs = normalise_answer(parse_solution(sample).final_answer or "")
        return mine is not None and theirs is not None and math.isclose(mine, theirs)

    return sum(1 for s in samples if same(s)) / len(samples)


def extract_features(
    result: InferenceResult, outcome: ScreeningOutcome, *, correct: bool | None = None
) -> dict[str, Any]:
    """The monitoring row of one result, with the worker's ``outcome`` on it.

    ``correct`` is ground truth where it is known (recorded data, a reviewer's decision);
    live traffic leaves it None.
    """
    parsed = parse_solution(result.output)
    annotations = sum(len(s.annotations) for s in parsed.steps)
    row: dict[str, Any] = {
        "request_id": result.request_id,
        "created_at": result.created_at.timestamp(),
        "product": result.product,
        "segments": dict(result.metadata),
        "correct": correct,
        "reasoning_chars": float(len(result.output)),
        "step_count": float(len(parsed.steps)),
        "annotation_count": float(annotations),
        # A missing answer is an ``answer_format`` ("missing"), not a 0/1 column: a rare
        # binary event makes the normed Wasserstein distance explode (reference std ~0).
        "answer_log_magnitude": log_magnitude(parsed.final_value),
        "flagged": 1.0 if any(c.flagged for c in outcome.checks) else 0.0,
        "risk_score": outcome.risk_score,
        "self_consistency": self_consistency(result.output, result.samples),
        "latency_ms": float(result.latency_ms),
        # Reported by the model when it can; a whitespace-token estimate otherwise.
        "output_tokens": float(
            result.output_tokens if result.output_tokens is not None else len(result.output.split())
        ),
        "answer_format": answer_format(parsed.final_answer),
        "model_version": result.model_version or "unknown",
        "prompt": result.prompt,
        "output": result.output,
    }
    for c in outcome.checks:
        row[f"{CHECK_PREFIX}{c.check}"] = float(c.score)
    return row


def numerical_columns(columns: Sequence[str]) -> list[str]:
    """The numerical feature columns among ``columns`` (fixed ones, then check scores)."""
    fixed = [c for c in NUMERICAL if c in columns]
    return fixed + sorted(c for c in columns if c.startswith(CHECK_PREFIX))
