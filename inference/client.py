"""The async Triton client the gateway uses: one gRPC channel per process, any model contract.

One ``tritonclient.grpc.aio`` client serves every call of the process (creating clients per
call leaks with some grpcio versions). The model's :class:`~inference.adapters.ModelAdapter`
builds the tensors and reads the responses; this module only moves them and classifies what
went wrong (:class:`ModelCallError` ``kind``), which is what the retry and circuit-breaker
policy in ``inference/gateway.py`` acts on.

Decoupled models (vLLM backend, the replay reasoner) only answer ``stream_infer``; with
PyTriton the final flag arrives on a separate empty response that aio clients never see, so
completion is "the server half-closed this request's stream", not ``triton_final_response``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from vigil.connections import GrpcTls
from vigil.inference.adapters import Chunk, GenerationParams, ModelAdapter
from vigil.inference.exceptions import ModelCallError

# The channel reconnects by itself after an outage; gRPC's default backoff grows to 120 s,
# which would keep a restarted Triton idle for minutes. Cap it at 2 s.
CHANNEL_ARGS: list[tuple[str, Any]] = [
    ("grpc.max_send_message_length", 2**31 - 1),
    ("grpc.max_receive_message_length", 2**31 - 1),
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2000),
]

_UNAVAILABLE_CODES = {grpc.StatusCode.UNAVAILABLE}
_TIMEOUT_CODES = {grpc.StatusCode.DEADLINE_EXCEEDED}
# Nothing ran: the server is not there, or is there but (un)loading the model, as a Triton
# that is stopping or starting says ("... has no available versions", "... is not ready").
_UNAVAILABLE_TEXT = (
    "unavailable",
    "failed to connect",
    "connection refused",
    "socket closed",
    "no available versions",
    "is not ready",
)
# The server has no such model at all: a misrouted request (or a server that is still
# building its repository). Nothing ran; retried, but it says nothing about the server.
_NOT_READY_TEXT = ("is not found",)
# A TLS handshake that failed (an unknown CA, a plaintext server, a refused client
# certificate): nothing ran; said as such, since a retry alone will not mend it.
_TLS_TEXT = ("ssl", "tls", "handshake", "certificate")


@dataclass(frozen=True)
class Generation:
    text: str
    model_name: str
    model_version: str
    latency_ms: float
    adapter: str = ""
    output_tokens: int | None = None
    input_tokens: int | None = None


@dataclass(frozen=True)
class ModelRoute:
    """A Triton model and the contract it speaks."""

    model_name: str
    adapter: ModelAdapter


class TritonClient:
    """Calls LLMs on one Triton over gRPC, whatever their contract (see ``adapters``)."""

    def __init__(self, url: str, *, timeout_s: float, tls: GrpcTls | None = None) -> None:
        """``tls``: gRPC over TLS (``settings.triton_tls``: root certificate, client
        certificate and key); None or disabled: a plaintext channel."""
        self.url = url
        self.timeout_s = timeout_s
        self._client = grpcclient.InferenceServerClient(
            url=url, channel_args=CHANNEL_ARGS, **(tls or GrpcTls()).tritonclient_kwargs()
        )

    async def close(self) -> None:
        await self._client.close()

    async def generate(
        self, route: ModelRoute, prompt: str, params: GenerationParams, request_id: str
    ) -> Generation:
        """One completion. Raises :class:`ModelCallError` with its ``kind``."""
        adapter = route.adapter
        request = {
            "model_name": route.model_name,
            "inputs": adapter.inputs(prompt, params),
            "outputs": adapter.outputs(),
            "request_id": request_id,
        }
        t0 = time.perf_counter()
        try:
            if adapter.decoupled:
                chunks, version = await self._stream(request, adapter)
            else:
                chunks, version = await self._unary(request, adapter)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise classify(exc, route.model_name) from exc
        outputs = [c.output_tokens for c in chunks if c.output_tokens is not None]
        inputs = [c.input_tokens for c in chunks if c.input_tokens is not None]
        return Generation(
            text="".join(c.text for c in chunks),
            model_name=route.model_name,
            model_version=version,
            latency_ms=(time.perf_counter() - t0) * 1000.0,
            adapter=adapter.name,
            output_tokens=sum(outputs) if outputs else None,
            input_tokens=max(inputs) if inputs else None,
        )

    async def _stream(
        self, request: dict[str, Any], adapter: ModelAdapter
    ) -> tuple[list[Chunk], str]:
        async def one_request() -> AsyncIterator[dict[str, Any]]:
            yield request

        chunks: list[Chunk] = []
        version = ""
        responses = self._client.stream_infer(
            inputs_iterator=one_request(), stream_timeout=self.timeout_s
        )
        async for result, error in responses:
            if error is not None:
                raise error
            if result is None:
                continue
            chunks.append(adapter.read(result))
            version = result.get_response().model_version or version
        return chunks, version

    async def _unary(
        self, request: dict[str, Any], adapter: ModelAdapter
    ) -> tuple[list[Chunk], str]:
        result = await self._client.infer(
            request["model_name"],
            request["inputs"],
            outputs=request["outputs"],
            request_id=request["request_id"],
            client_timeout=self.timeout_s,
        )
        return [adapter.read(result)], result.get_response().model_version


def classify(exc: BaseException, model_name: str) -> ModelCallError:
    """What a failed call means for the gateway: unavailable, timeout, or a model error."""
    if isinstance(exc, ModelCallError):
        return exc
    if isinstance(exc, grpc.aio.AioRpcError):
        code = exc.code()
        text = exc.details() or str(code)
        if code in _TIMEOUT_CODES:
            kind = "timeout"
        elif code in _UNAVAILABLE_CODES or _looks(text, _UNAVAILABLE_TEXT):
            kind = "unavailable"
            if _looks(text, _TLS_TEXT):
                return ModelCallError(
                    f"triton {model_name}: TLS with the server failed (check "
                    f"VIGIL_TRITON_GRPC_SSL and its certificates): {_last_line(text)}",
                    kind=kind,
                    code=str(code),
                )
        elif _looks(text, _NOT_READY_TEXT):
            kind = "not_ready"
        else:
            kind = "model"
        return ModelCallError(f"triton {model_name}: {_last_line(text)}", kind=kind, code=str(code))
    if isinstance(exc, InferenceServerException):
        status = str(exc.status() or "")
        text = exc.message() or str(exc)
        if "DEADLINE_EXCEEDED" in status or "deadline exceeded" in text.lower():
            kind = "timeout"
        elif "UNAVAILABLE" in status or _looks(text, _UNAVAILABLE_TEXT):
            kind = "unavailable"
        elif _looks(text, _NOT_READY_TEXT):
            kind = "not_ready"
        else:
            kind = "model"
        return ModelCallError(
            f"triton {model_name}: {_last_line(text)}", kind=kind, code=status or None
        )
    if isinstance(exc, TimeoutError):
        return ModelCallError(f"triton {model_name}: deadline exceeded", kind="timeout")
    if isinstance(exc, OSError | ConnectionError):
        return ModelCallError(f"triton unreachable: {exc}", kind="unavailable")
    return ModelCallError(f"triton {model_name}: {type(exc).__name__}: {exc}", kind="model")


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*: \S")


def _last_line(message: str) -> str:
    """PyTriton returns the model's whole traceback; the reason is its last exception line."""
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    raised = [ln for ln in lines if _EXCEPTION_LINE.match(ln)]
    if raised:
        return raised[-1]
    return lines[-1] if lines else message


def _looks(text: str, markers: tuple[str, ...]) -> bool:
    # Only the reason line: a model's traceback may mention anything.
    low = _last_line(text).lower()
    return any(marker in low for marker in markers)
