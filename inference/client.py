"""The async Triton client the gateway uses: one gRPC channel per process, one stream per request.

Decoupled LLM models (vLLM backend, the replay reasoner) only answer ``stream_infer``; with
PyTriton the final flag arrives on a separate empty response that aio clients never see, so
completion is "the server half-closed this request's stream", not ``triton_final_response``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from inference.exceptions import ModelCallError

# gRPC codes that mean "the server wasn't there": safe to retry, nothing ran.
_RETRYABLE = {"StatusCode.UNAVAILABLE", "StatusCode.CONNECTION_REFUSED"}


@dataclass(frozen=True)
class Generation:
    text: str
    model_name: str
    model_version: str
    latency_ms: float


class ReasonerClient:
    """Calls one decoupled text-generation model over gRPC (vLLM tensor contract)."""

    def __init__(self, url: str, model_name: str, *, timeout_s: float) -> None:
        self.url = url
        self.model_name = model_name
        self.timeout_s = timeout_s
        self._client = grpcclient.InferenceServerClient(url=url)

    async def close(self) -> None:
        await self._client.close()

    async def ready(self) -> bool:
        try:
            return bool(await self._client.is_model_ready(self.model_name))
        except InferenceServerException:
            return False

    def _inputs(self, prompt: str, sampling: dict[str, Any]) -> list[grpcclient.InferInput]:
        text = grpcclient.InferInput("text_input", [1], "BYTES")
        text.set_data_from_numpy(np.array([prompt.encode("utf-8")], dtype=np.object_))
        params = grpcclient.InferInput("sampling_parameters", [1], "BYTES")
        params.set_data_from_numpy(np.array([orjson.dumps(sampling)], dtype=np.object_))
        exclude = grpcclient.InferInput("exclude_input_in_output", [1], "BOOL")
        exclude.set_data_from_numpy(np.array([True], dtype=bool))
        return [text, params, exclude]

    async def generate(self, prompt: str, sampling: dict[str, Any], request_id: str) -> Generation:
        """One completion. Raises :class:`ModelCallError` (``retryable`` for transport errors)."""
        request = {
            "model_name": self.model_name,
            "inputs": self._inputs(prompt, sampling),
            "outputs": [grpcclient.InferRequestedOutput("text_output")],
            "request_id": request_id,
        }

        async def one_request() -> AsyncIterator[dict[str, Any]]:
            yield request

        t0 = time.perf_counter()
        parts: list[str] = []
        version = ""
        try:
            responses = self._client.stream_infer(
                inputs_iterator=one_request(), stream_timeout=self.timeout_s
            )
            async for result, error in responses:
                if error is not None:
                    raise error
                if result is None:
                    continue
                out = result.as_numpy("text_output")
                if out is not None:
                    parts.extend(
                        v.decode("utf-8") if isinstance(v, bytes) else str(v)
                        for v in out.reshape(-1)
                    )
                version = result.get_response().model_version or version
        except InferenceServerException as exc:
            status = str(exc.status() or "")
            raise ModelCallError(
                f"triton {self.model_name}: {_last_line(exc.message() or str(exc))}",
                retryable=status in _RETRYABLE or _looks_unavailable(exc),
                code=status or None,
            ) from exc
        except asyncio.CancelledError:
            raise
        except (OSError, ConnectionError) as exc:
            raise ModelCallError(f"triton unreachable: {exc}", retryable=True) from exc
        return Generation(
            text="".join(parts),
            model_name=self.model_name,
            model_version=version,
            latency_ms=(time.perf_counter() - t0) * 1000.0,
        )


def _last_line(message: str) -> str:
    """PyTriton returns the model's whole traceback; the reason is its last line."""
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else message


def _looks_unavailable(exc: InferenceServerException) -> bool:
    text = str(exc).lower()
    return "unavailable" in text or "failed to connect" in text or "connection refused" in text
