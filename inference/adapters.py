"""Model contract adapters: how one request becomes Triton tensors, and responses become text.

An LLM on Triton speaks one of a few tensor contracts. The gateway talks to every model
through the small :class:`ModelAdapter` interface, chosen per model by configuration
(``VIGIL_MODEL_ADAPTER``, ``VIGIL_GATEWAY_MODELS``). Built in:

* ``vllm``: Triton's vLLM backend. Decoupled (``stream_infer``, one stream per request),
  ``text_input`` [1] + JSON ``sampling_parameters`` + ``exclude_input_in_output=True`` ->
  ``text_output``; asks for ``num_input_tokens`` / ``num_output_tokens`` (vLLM backend
  r25.01 and later). ``vllm-basic`` is the same without the token-count inputs, for older
  backends, which reject inputs they don't know.
* ``trtllm``: the TensorRT-LLM ensemble, deployed non-decoupled (``decoupled_mode:False``).
  Unary ``infer``, every tensor ``[1, 1]`` (the ensemble batches), ``text_input``,
  ``max_tokens`` INT32 and typed sampling tensors -> ``text_output``. The ensemble reports
  no token counts, so results carry none. ``trtllm-pytriton`` is the same contract served by
  PyTriton (the replay reasoner), which cannot fail one request of a dynamic batch alone: it
  also asks for ``error_message`` and turns a non-empty one into this request's error.

A team adds its own contract without forking: anything with the attributes and methods of
:class:`ModelAdapter`, named in the settings by ``package.module:factory`` (a class or a
zero-argument callable), or registered under the ``vigil.model_adapters`` entry-point group,
or with :func:`register_adapter` before the gateway starts.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

import numpy as np
import orjson
import tritonclient.grpc.aio as grpcclient

from vigil.inference.exceptions import AdapterError, ModelCallError

ENTRY_POINT_GROUP = "vigil.model_adapters"


@dataclass(frozen=True)
class GenerationParams:
    """What one generation asks for, contract-neutral (from the request's ``sampling``)."""

    max_tokens: int
    temperature: float = 0.0
    seed: int = 0
    top_p: float | None = None
    top_k: int | None = None


@dataclass(frozen=True)
class Chunk:
    """What one Triton response adds: text, and token counts where the contract has them.

    ``output_tokens`` is per response (summed over a stream); ``input_tokens`` is the
    prompt's count, repeated on every response that carries it.
    """

    text: str
    output_tokens: int | None = None
    input_tokens: int | None = None


@runtime_checkable
class ModelAdapter(Protocol):
    """One model contract. Stateless: one instance serves every call to its models."""

    # Recorded in each result, so a result says which contract produced it.
    name: str
    # True: call with ``stream_infer``, one stream per request (decoupled models must be);
    # False: unary ``infer``.
    decoupled: bool

    def inputs(self, prompt: str, params: GenerationParams) -> list[grpcclient.InferInput]: ...

    def outputs(self) -> list[grpcclient.InferRequestedOutput]: ...

    def read(self, response: grpcclient.InferResult) -> Chunk: ...


def _tensor(name: str, value: np.ndarray, datatype: str) -> grpcclient.InferInput:
    t = grpcclient.InferInput(name, list(value.shape), datatype)
    t.set_data_from_numpy(value)
    return t


_NP_TYPES = {"BOOL": bool, "INT32": np.int32, "UINT64": np.uint64, "FP32": np.float32}


@lru_cache(maxsize=4096)
def _scalar(name: str, value: Any, datatype: str, batched: bool) -> grpcclient.InferInput:
    """A one-value tensor, built once per distinct value and shared by every request.

    Building tensors is a large part of the client's CPU per call; most knobs take the same
    few values. The request builder only reads an InferInput, and nothing here mutates one.
    """
    if datatype == "BYTES":
        arr = np.array([value], dtype=np.object_)
    else:
        arr = np.array([value], dtype=_NP_TYPES[datatype])
    return _tensor(name, arr.reshape(1, 1) if batched else arr, datatype)


def _strings(response: grpcclient.InferResult, name: str) -> list[str]:
    out = response.as_numpy(name)
    if out is None:
        return []
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in out.reshape(-1)]


def _texts(response: grpcclient.InferResult, name: str) -> str:
    return "".join(_strings(response, name))


def _count(response: grpcclient.InferResult, name: str) -> int | None:
    out = response.as_numpy(name)
    return None if out is None or out.size == 0 else int(out.reshape(-1).sum())


@lru_cache(maxsize=1024)
def _sampling_parameters(params: GenerationParams) -> grpcclient.InferInput:
    """vLLM's JSON sampling parameters (shared per distinct value, see :func:`_scalar`)."""
    sampling: dict[str, Any] = {
        "temperature": params.temperature,
        "max_tokens": params.max_tokens,
        "seed": params.seed,
    }
    if params.top_p is not None:
        sampling["top_p"] = params.top_p
    if params.top_k is not None:
        sampling["top_k"] = params.top_k
    return _scalar("sampling_parameters", orjson.dumps(sampling), "BYTES", False)


class VllmAdapter:
    """Triton's vLLM backend (``max_batch_size`` 0, decoupled)."""

    decoupled = True

    def __init__(self, *, token_counts: bool = True) -> None:
        self.token_counts = token_counts
        self.name = "vllm" if token_counts else "vllm-basic"

    def inputs(self, prompt: str, params: GenerationParams) -> list[grpcclient.InferInput]:
        tensors = [
            _tensor("text_input", np.array([prompt.encode("utf-8")], dtype=np.object_), "BYTES"),
            _sampling_parameters(params),
            # vLLM echoes the prompt in non-streaming output unless told not to.
            _scalar("exclude_input_in_output", True, "BOOL", False),
            _scalar("stream", False, "BOOL", False),
        ]
        if self.token_counts:
            tensors.append(_scalar("return_num_input_tokens", True, "BOOL", False))
            tensors.append(_scalar("return_num_output_tokens", True, "BOOL", False))
        return tensors

    def outputs(self) -> list[grpcclient.InferRequestedOutput]:
        names = ["text_output"]
        if self.token_counts:
            names += ["num_input_tokens", "num_output_tokens"]
        return [grpcclient.InferRequestedOutput(n) for n in names]

    def read(self, response: grpcclient.InferResult) -> Chunk:
        if not self.token_counts:
            return Chunk(_texts(response, "text_output"))
        return Chunk(
            _texts(response, "text_output"),
            output_tokens=_count(response, "num_output_tokens"),
            input_tokens=_count(response, "num_input_tokens"),
        )


class TrtLlmAdapter:
    """The TensorRT-LLM ensemble (``max_batch_size`` > 0: every tensor is ``[1, 1]``).

    ``error_output``: the output in which the model reports a failed request (empty string:
    answered). For models that can only fail a whole dynamic batch by raising (PyTriton 0.7),
    so that one bad request does not fail the requests batched with it. The real ensemble has
    no such output and would reject the ask, hence off by default.
    """

    decoupled = False

    def __init__(self, *, error_output: str | None = None) -> None:
        self.error_output = error_output
        self.name = "trtllm" if error_output is None else "trtllm-pytriton"

    def inputs(self, prompt: str, params: GenerationParams) -> list[grpcclient.InferInput]:
        # Every request sends the same tensors, defaults included: requests with different
        # input sets cannot share a dynamic batch.
        return [
            _tensor("text_input", np.array([[prompt.encode("utf-8")]], dtype=np.object_), "BYTES"),
            _scalar("max_tokens", params.max_tokens, "INT32", True),
            _scalar("temperature", params.temperature, "FP32", True),
            _scalar("top_p", 1.0 if params.top_p is None else params.top_p, "FP32", True),
            # top_k 0 means "no top-k limit" in TensorRT-LLM's sampling config.
            _scalar("top_k", params.top_k or 0, "INT32", True),
            _scalar("seed", params.seed % 2**64, "UINT64", True),
            _scalar("stream", False, "BOOL", True),
            _scalar("exclude_input_in_output", True, "BOOL", True),
        ]

    def outputs(self) -> list[grpcclient.InferRequestedOutput]:
        names = ["text_output"]
        if self.error_output is not None:
            names.append(self.error_output)
        return [grpcclient.InferRequestedOutput(n) for n in names]

    def read(self, response: grpcclient.InferResult) -> Chunk:
        if self.error_output is not None:
            errors = [e for e in _strings(response, self.error_output) if e]
            if errors:
                # What an error response would have said: the model refused this request.
                model = response.get_response().model_name
                raise ModelCallError(f"triton {model}: {errors[0]}", kind="model")
        return Chunk(_texts(response, "text_output"))


_REGISTRY: dict[str, Callable[[], ModelAdapter]] = {
    "vllm": VllmAdapter,
    "vllm-basic": lambda: VllmAdapter(token_counts=False),
    "trtllm": TrtLlmAdapter,
    # The name of the replay's per-request error output (inference.replay_model.ERROR_OUTPUT).
    "trtllm-pytriton": lambda: TrtLlmAdapter(error_output="error_message"),
}


def register_adapter(name: str, factory: Callable[[], ModelAdapter]) -> None:
    """Make ``name`` usable in the settings (call before the gateway starts)."""
    _REGISTRY[name] = factory


def _from_path(spec: str) -> Callable[[], Any]:
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
        factory = getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise AdapterError(f"cannot load model adapter {spec!r}: {exc}") from exc
    return factory


def _from_entry_point(name: str) -> Callable[[], Any] | None:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return ep.load()
    return None


def load_adapter(spec: str) -> ModelAdapter:
    """The adapter named by ``spec``: a built-in or registered name, an entry point, or
    ``package.module:factory``. Fails loudly at start-up, not at the first request."""
    factory = _REGISTRY.get(spec)
    if factory is None and ":" in spec:
        factory = _from_path(spec)
    if factory is None:
        factory = _from_entry_point(spec)
    if factory is None:
        known = ", ".join(sorted(_REGISTRY))
        raise AdapterError(
            f"unknown model adapter {spec!r}: use one of {known}, an entry point in "
            f"{ENTRY_POINT_GROUP!r}, or 'package.module:factory'"
        )
    adapter = factory()
    if not isinstance(adapter, ModelAdapter):
        raise AdapterError(f"model adapter {spec!r} lacks name/decoupled/inputs/outputs/read")
    return adapter
