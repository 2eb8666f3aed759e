"""The replay reasoner: Triton models that answer GSM8K questions with recorded real outputs.

Each model serves one recorded variant (:class:`Replayed`) of the book; the text is sent as
it was recorded, whatever its format (``A:`` lines, ``\\boxed{}``, prose), cut only by
``max_tokens``.

Two tensor contracts over the same recorded book, so both gateway adapters meet a real
tritonserver:

* :func:`make_infer_func` speaks Triton's **vLLM backend** contract: decoupled (one gRPC stream
  per request, ``max_batch_size`` 0), ``text_input`` (+ optional JSON ``sampling_parameters``,
  ``exclude_input_in_output``, ``stream``, ``return_num_input_tokens``,
  ``return_num_output_tokens``) -> ``text_output`` (+ ``num_input_tokens`` /
  ``num_output_tokens`` when asked, per response, as vLLM sends them). The prompt is echoed
  unless ``exclude_input_in_output`` is true, as vLLM does.
* :func:`make_trtllm_infer_func` speaks the **TensorRT-LLM ensemble** contract: batched
  (``max_batch_size`` > 0, requests shaped ``[1, 1]``, dynamic batching merges them),
  ``text_input`` + ``max_tokens`` INT32 + typed sampling tensors (``temperature``, ``top_p``,
  ``top_k``, ``seed``, ``stream``, ``exclude_input_in_output``) -> ``text_output``. The
  ensemble has no token-count output, so neither has this one. It adds one output the ensemble
  lacks, :data:`ERROR_OUTPUT`, so that one bad request does not fail its whole dynamic batch
  (see :func:`make_trtllm_infer_func`).

Token counts come from a word/punctuation tokenizer (:func:`count_tokens`): the replay has no
real tokenizer, but the numbers are real counts of what it sends and follow the contract.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from vigil.inference.exceptions import InferenceError
from vigil.inference.replay_data import ReplayBook


@dataclass(frozen=True)
class Replayed:
    """One recorded variant as a model answers with it (see :meth:`ReplayBook.answer`)."""

    book: ReplayBook
    variant: str
    cross_model: bool = False
    counterfactual: str | None = None
    # From ``swap_at`` (Unix time) on, ``swap_variant`` answers instead: the model behind an
    # unchanged name and version label is replaced, as a silent regression would be.
    swap_variant: str | None = None
    swap_at: float = 0.0

    def __post_init__(self) -> None:
        # An unknown variant fails here, when the server binds the model, not per request.
        self.book.variant(self.variant)
        if self.counterfactual:
            self.book.variant(self.counterfactual)
        if self.swap_variant:
            self.book.variant(self.swap_variant)

    def current_variant(self, now: float | None = None) -> str:
        """The variant answering now (the swap's once its time has come)."""
        if self.swap_variant and self.swap_at and (now or time.time()) >= self.swap_at:
            return self.swap_variant
        return self.variant

    def answer(self, prompt: str, seed: int | None = None) -> str:
        return self.book.answer(
            prompt,
            self.current_variant(),
            seed,
            cross_model=self.cross_model,
            counterfactual=self.counterfactual or None,
        )[1]


_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """The replay's tokenizer: words, numbers and single punctuation marks."""
    return len(_TOKEN.findall(text))


def truncate_tokens(text: str, max_tokens: int) -> str:
    """Cut ``text`` after ``max_tokens`` tokens, as a length-limited generation stops."""
    if max_tokens <= 0:
        return ""
    end = 0
    for i, match in enumerate(_TOKEN.finditer(text)):
        if i == max_tokens:
            return text[:end]
        end = match.end()
    return text


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


def _int_or_none(value: Any) -> int | None:
    # vLLM's sample client sends numbers as strings ({"max_tokens": "100"}); accept both.
    return None if value is None else int(float(value))


def make_infer_func(model: Replayed, *, delay_s: float = 0.0) -> Any:
    """The PyTriton callable of the vLLM-shaped model (a generator: the model is decoupled).

    ``delay_s`` simulates generation time per request (0 in the default stack).
    """

    def infer(requests: list[Any]) -> Iterator[list[dict[str, np.ndarray]]]:
        # batching=False: Triton hands over one request at a time. An exception here becomes an
        # error response for that request (e.g. an unknown question); the server keeps serving.
        for request in requests:
            prompt = _text(_scalar(request, "text_input") or b"")
            if not prompt.strip():
                raise InferenceError("text_input is empty")
            params = _sampling(request)
            seed = _int_or_none(params.get("seed"))
            max_tokens = _int_or_none(params.get("max_tokens"))
            solution = model.answer(prompt, seed)
            if max_tokens is not None:
                solution = truncate_tokens(solution, max_tokens)
            exclude = bool(_scalar(request, "exclude_input_in_output") or False)
            stream = bool(_scalar(request, "stream") or False)
            if stream and not exclude:
                # vLLM refuses this combination too: streamed deltas can't echo the prompt.
                raise InferenceError("streaming requires exclude_input_in_output=true")
            want_in = bool(_scalar(request, "return_num_input_tokens") or False)
            want_out = bool(_scalar(request, "return_num_output_tokens") or False)
            if delay_s:
                time.sleep(delay_s)
            text = solution if exclude else prompt + solution
            for delta in _chunks(text, 3 if stream else 1):
                response = {"text_output": np.array([delta.encode("utf-8")], dtype=np.object_)}
                if want_in:
                    response["num_input_tokens"] = np.array([count_tokens(prompt)], np.uint32)
                if want_out:
                    # Per response, the tokens generated since the previous one (vLLM's rule);
                    # an echoed prompt is not generated output.
                    generated = delta[len(prompt) :] if not exclude else delta
                    response["num_output_tokens"] = np.array([count_tokens(generated)], np.uint32)
                yield [response]

    return infer


def _column(request: Any, name: str, rows: int) -> list[Any] | None:
    """One value per batch row of an optional ``[batch, 1]`` tensor (None when absent)."""
    if name not in request.data:
        return None
    arr = np.asarray(request[name]).reshape(rows, -1)
    return [row[0] if row.size else None for row in arr]


# A per-request error, for a client that asks for it (the ``trtllm-pytriton`` adapter): ""
# when the request was answered, else why not. PyTriton 0.7 reports errors per call only
# (an exception in the infer function fails every request of the dynamic batch) and its
# responses carry tensors only, so this output is how one request of a batch fails alone.
ERROR_OUTPUT = "error_message"


def _bytes_column(values: list[str]) -> np.ndarray:
    return np.array([[v.encode("utf-8")] for v in values], dtype=np.object_)


def _trtllm_texts(model: Replayed, request: Any, rows: int) -> list[str]:
    """The generations of one client request's rows; raises InferenceError on bad input."""
    prompts = np.asarray(request["text_input"]).reshape(-1)
    max_tokens = _column(request, "max_tokens", rows)
    if max_tokens is None:
        raise InferenceError("max_tokens is required (TensorRT-LLM ensemble contract)")
    seeds = _column(request, "seed", rows) or [None] * rows
    excludes = _column(request, "exclude_input_in_output", rows) or [False] * rows
    streams = _column(request, "stream", rows) or [False] * rows
    texts = []
    for i in range(rows):
        if bool(streams[i]):
            raise InferenceError(
                "stream=true needs a decoupled deployment; this model is not decoupled"
            )
        prompt = _text(prompts[i])
        if not prompt.strip():
            raise InferenceError("text_input is empty")
        seed = None if seeds[i] is None else int(seeds[i])
        solution = truncate_tokens(model.answer(prompt, seed), int(max_tokens[i]))
        texts.append(solution if bool(excludes[i]) else prompt + solution)
    return texts


def make_trtllm_infer_func(model: Replayed, *, delay_s: float = 0.0) -> Any:
    """The PyTriton callable of the TensorRT-LLM-ensemble-shaped model (batched, not decoupled).

    With dynamic batching Triton hands over several client requests per call; one call costs
    one round trip between tritonserver and this process however many requests it carries,
    which is where the batching gain comes from. ``delay_s`` is paid once per call, as a
    batched forward pass would be.

    A request that fails (unknown question, bad input) fails alone when its client asked for
    :data:`ERROR_OUTPUT`: its rows get an empty ``text_output`` and the reason there, and the
    other requests of the batch get their answers, as TensorRT-LLM fails only that request. A
    client that did not ask would never see that output (PyTriton sends requested outputs
    only), so for it the error is raised: the whole call fails, loudly, never an empty answer.
    """

    def infer(requests: list[Any]) -> list[dict[str, np.ndarray]]:
        if delay_s:
            time.sleep(delay_s)
        responses = []
        for request in requests:
            rows = np.asarray(request["text_input"]).size
            # None when PyTriton did not pass the names on (PYTRITON_NO_TENSORSTORE): not asked.
            reports = ERROR_OUTPUT in (request.requested_output_names or ())
            try:
                texts, errors = _trtllm_texts(model, request, rows), [""] * rows
            except InferenceError as exc:
                if not reports:
                    raise
                texts, errors = [""] * rows, [f"{type(exc).__name__}: {exc}"] * rows
            response = {"text_output": _bytes_column(texts)}
            if reports:
                response[ERROR_OUTPUT] = _bytes_column(errors)
            responses.append(response)
        return responses

    return infer
