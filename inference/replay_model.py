"""The replay reasoner: a Triton model that answers GSM8K questions with recorded real outputs.

It speaks the tensor contract of Triton's vLLM backend, so the gateway already talks to it as
to a live LLM: decoupled (one gRPC stream per request), ``text_input`` (+ optional JSON
``sampling_parameters``, ``exclude_input_in_output``, ``stream``) -> ``text_output``, with
the prompt echoed unless ``exclude_input_in_output`` is true, as vLLM does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson

from inference.exceptions import InferenceError
from inference.replay_data import ReplayBook
from vigil.settings import VARIANTS

# Triton model versions stand for the recorded variants: serving 6B after 175B is a real
# model-version change that the results carry and drift checks must catch.
VARIANT_VERSIONS: dict[str, int] = {v: i + 1 for i, v in enumerate(VARIANTS)}


def _scalar(request: Any, name: str) -> Any | None:
    if name not in request.data:
        return None
    arr = np.asarray(request[name]).reshape(-1)
    return arr[0] if arr.size else None


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _sampling(request: Any) -> dict[str, Any]:
    """vLLM takes JSON ``sampling_parameters``, or, when absent, the request parameters."""
    raw = _scalar(request, "sampling_parameters")
    if raw is None:
        return dict(request.parameters or {})
    try:
        params = orjson.loads(_text(raw) or "{}")
    except orjson.JSONDecodeError as exc:
        raise InferenceError(f"sampling_parameters is not JSON: {exc}") from exc
    if not isinstance(params, dict):
        raise InferenceError("sampling_parameters must be a JSON object")
    return params


def _chunks(text: str, n: int) -> list[str]:
    """Split text into n streamed deltas on line boundaries (what a streaming LLM would send)."""
    lines = text.splitlines(keepends=True)
    if n <= 1 or len(lines) <= 1:
        return [text]
    size = -(-len(lines) // n)
    return ["".join(lines[i : i + size]) for i in range(0, len(lines), size)]


def make_infer_func(book: ReplayBook, variant: str) -> Any:
    """The PyTriton inference callable (a generator: the model is decoupled)."""
    if variant not in VARIANT_VERSIONS:
        raise InferenceError(f"unknown replay variant {variant!r}; choose one of {VARIANTS}")

    def infer(requests: list[Any]) -> Iterator[list[dict[str, np.ndarray]]]:
        # batching=False: Triton hands over one request at a time. An exception here becomes an
        # error response for that request (e.g. an unknown question); the server keeps serving.
        for request in requests:
            prompt = _text(_scalar(request, "text_input") or b"")
            if not prompt.strip():
                raise InferenceError("text_input is empty")
            params = _sampling(request)
            seed = params.get("seed")
            _, solution = book.answer(prompt, variant, int(seed) if seed is not None else None)
            exclude = bool(_scalar(request, "exclude_input_in_output") or False)
            stream = bool(_scalar(request, "stream") or False)
            if stream and not exclude:
                # vLLM refuses this combination too: streamed deltas can't echo the prompt.
                raise InferenceError("streaming requires exclude_input_in_output=true")
            text = solution if exclude else prompt + solution
            for delta in _chunks(text, 3 if stream else 1):
                yield [{"text_output": np.array([delta.encode("utf-8")], dtype=np.object_)}]

    return infer
