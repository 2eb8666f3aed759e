"""The model contract adapters: tensors out, responses in, and how a team plugs in its own.

The wire format is tritonclient's own (InferInput, protobuf responses); the real tritonserver
path for both contracts is tests/integration/test_gateway_contracts.py.
"""

from __future__ import annotations

import sys
import types

import grpc
import numpy as np
import orjson
import pytest
import tritonclient.grpc.aio as grpcclient
from tritonclient.grpc import service_pb2
from tritonclient.utils import InferenceServerException, serialize_byte_tensor

from vigil.inference.adapters import (
    Chunk,
    GenerationParams,
    ModelAdapter,
    TrtLlmAdapter,
    VllmAdapter,
    load_adapter,
    register_adapter,
)
from vigil.inference.client import classify
from vigil.inference.exceptions import AdapterError, ModelCallError

PARAMS = GenerationParams(max_tokens=64, temperature=0.7, seed=3, top_p=0.9)


def tensors(inputs: list[grpcclient.InferInput]) -> dict[str, tuple[str, list[int]]]:
    return {t.name(): (t.datatype(), t.shape()) for t in inputs}


def response(**outputs: np.ndarray) -> grpcclient.InferResult:
    """A ModelInferResponse as tritonserver sends it (raw contents, BYTES length-prefixed)."""
    msg = service_pb2.ModelInferResponse(model_name="m", model_version="2")
    for name, value in outputs.items():
        out = msg.outputs.add()
        out.name = name
        out.shape.extend(value.shape)
        if value.dtype == np.object_:
            out.datatype = "BYTES"
            msg.raw_output_contents.append(serialize_byte_tensor(value).item())
        else:
            out.datatype = {np.dtype(np.uint32): "UINT32"}[value.dtype]
            msg.raw_output_contents.append(value.tobytes())
    return grpcclient.InferResult(msg)


def test_vllm_adapter_sends_the_vllm_backend_tensors() -> None:
    adapter = VllmAdapter()
    inputs = adapter.inputs("What is 2+2?", PARAMS)
    assert tensors(inputs) == {
        "text_input": ("BYTES", [1]),
        "sampling_parameters": ("BYTES", [1]),
        "exclude_input_in_output": ("BOOL", [1]),
        "stream": ("BOOL", [1]),
        "return_num_input_tokens": ("BOOL", [1]),
        "return_num_output_tokens": ("BOOL", [1]),
    }
    sampling = next(t for t in inputs if t.name() == "sampling_parameters")
    assert adapter.decoupled and adapter.name == "vllm"
    assert [o.name() for o in adapter.outputs()] == [
        "text_output",
        "num_input_tokens",
        "num_output_tokens",
    ]
    # The JSON goes as one BYTES element (length-prefixed on the wire).
    raw = sampling._raw_content
    assert orjson.loads(raw[4:]) == {"temperature": 0.7, "max_tokens": 64, "seed": 3, "top_p": 0.9}
    basic = load_adapter("vllm-basic")
    assert "return_num_output_tokens" not in tensors(basic.inputs("q", PARAMS))


def test_vllm_adapter_reads_text_and_per_response_token_counts() -> None:
    adapter = VllmAdapter()
    chunk = adapter.read(
        response(
            text_output=np.array([b"6 + 1 = 7\n"], dtype=np.object_),
            num_output_tokens=np.array([5], dtype=np.uint32),
            num_input_tokens=np.array([12], dtype=np.uint32),
        )
    )
    assert chunk == Chunk("6 + 1 = 7\n", output_tokens=5, input_tokens=12)
    missing = adapter.read(response(text_output=np.array([b"x"], dtype=np.object_)))
    assert missing == Chunk("x")  # a backend that ignores the ask: no invented counts


def test_trtllm_adapter_sends_batched_typed_tensors() -> None:
    adapter = TrtLlmAdapter()
    inputs = adapter.inputs("What is 2+2?", PARAMS)
    assert tensors(inputs) == {
        "text_input": ("BYTES", [1, 1]),
        "max_tokens": ("INT32", [1, 1]),
        "temperature": ("FP32", [1, 1]),
        "top_p": ("FP32", [1, 1]),
        "top_k": ("INT32", [1, 1]),
        "seed": ("UINT64", [1, 1]),
        "stream": ("BOOL", [1, 1]),
        "exclude_input_in_output": ("BOOL", [1, 1]),
    }
    assert not adapter.decoupled
    # The same tensor set whatever the request sets, so requests can share a dynamic batch.
    bare = adapter.inputs("q", GenerationParams(max_tokens=5))
    assert tensors(bare) == tensors(inputs)
    chunk = adapter.read(response(text_output=np.array([[b"A: 4"]], dtype=np.object_)))
    assert chunk == Chunk("A: 4")  # the ensemble reports no token counts


def test_trtllm_pytriton_adapter_turns_a_per_request_error_output_into_that_requests_error() -> (
    None
):
    adapter = load_adapter("trtllm-pytriton")
    assert isinstance(adapter, TrtLlmAdapter)
    assert adapter.name == "trtllm-pytriton"
    assert [o.name() for o in adapter.outputs()] == ["text_output", "error_message"]
    # The plain ensemble adapter does not ask for it: a real ensemble rejects unknown outputs.
    assert [o.name() for o in TrtLlmAdapter().outputs()] == ["text_output"]
    ok = adapter.read(
        response(
            text_output=np.array([[b"A: 4"]], dtype=np.object_),
            error_message=np.array([[b""]], dtype=np.object_),
        )
    )
    assert ok == Chunk("A: 4")
    with pytest.raises(ModelCallError, match="UnknownQuestion: no recorded answer") as failed:
        adapter.read(
            response(
                text_output=np.array([[b""]], dtype=np.object_),
                error_message=np.array(
                    [[b"UnknownQuestion: no recorded answer"]], dtype=np.object_
                ),
            )
        )
    assert failed.value.kind == "model"  # dead-lettered as model_error, never retried


class EchoAdapter:
    """What a team's own contract looks like: a plain class, no Vigil base class needed."""

    name = "echo"
    decoupled = False

    def inputs(self, prompt: str, params: GenerationParams) -> list[grpcclient.InferInput]:
        t = grpcclient.InferInput("PROMPT", [1], "BYTES")
        t.set_data_from_numpy(np.array([prompt.encode()], dtype=np.object_))
        return [t]

    def outputs(self) -> list[grpcclient.InferRequestedOutput]:
        return [grpcclient.InferRequestedOutput("COMPLETION")]

    def read(self, response: grpcclient.InferResult) -> Chunk:
        return Chunk(str(response.as_numpy("COMPLETION")))


def test_a_team_plugs_in_its_own_contract_by_dotted_path_or_registration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = types.ModuleType("team_adapters")
    module.EchoAdapter = EchoAdapter  # type: ignore[attr-defined]
    module.not_an_adapter = lambda: object()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "team_adapters", module)
    adapter = load_adapter("team_adapters:EchoAdapter")
    assert isinstance(adapter, ModelAdapter) and adapter.name == "echo"
    register_adapter("echo", EchoAdapter)
    assert load_adapter("echo").name == "echo"
    with pytest.raises(AdapterError, match="lacks"):
        load_adapter("team_adapters:not_an_adapter")
    with pytest.raises(AdapterError, match="cannot load"):
        load_adapter("team_adapters:Missing")
    with pytest.raises(AdapterError, match="unknown model adapter 'tgi'"):
        load_adapter("tgi")


def rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (
            rpc_error(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses"),
            "unavailable",
        ),
        (rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"), "timeout"),
        (rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "unexpected input 'x'"), "model"),
        (
            InferenceServerException("Deadline Exceeded", status="StatusCode.DEADLINE_EXCEEDED"),
            "timeout",
        ),
        (
            InferenceServerException(
                "Request for unknown model: 'm' has no available versions",
                status="StatusCode.NOT_FOUND",
            ),
            "unavailable",  # known to the server, (un)loading: a stopping or starting Triton
        ),
        (
            InferenceServerException(
                "Request for unknown model: 'gpt-9' is not found", status="StatusCode.NOT_FOUND"
            ),
            "not_ready",  # not served at all: retried, but no reason to stop all traffic
        ),
        (
            # PyTriton sends the model's traceback; only its exception line is the reason.
            InferenceServerException(
                'Traceback (most recent call last):\n  File "x.py", line 1, in not_found\n'
                "inference.exceptions.UnknownQuestion: no recorded answer\n\nAt:\n  x.py(1): f\n"
            ),
            "model",
        ),
        (ConnectionRefusedError("refused"), "unavailable"),
        (TimeoutError(), "timeout"),
    ],
)
def test_errors_are_classified_for_the_retry_policy(exc: BaseException, kind: str) -> None:
    error = classify(exc, "m")
    assert error.kind == kind
    assert error.retryable == (kind in ("unavailable", "not_ready"))


def test_the_reason_of_a_model_traceback_is_its_exception_line() -> None:
    exc = InferenceServerException(
        "Model execute error: Traceback (most recent call last):\n"
        '  File "model.py", line 492, in execute\n'
        "inference.exceptions.UnknownQuestion: the replay reasoner has no recorded answer\n"
        "\n\nAt:\n  /tmp/model.py(501): execute\n",
        status="StatusCode.INTERNAL",
    )
    assert str(classify(exc, "m")).endswith(
        "UnknownQuestion: the replay reasoner has no recorded answer"
    )
