"""Runs the real tritonserver (bundled in the nvidia-pytriton wheel) with the replay reasoner.

One server, two models over the same recorded book: ``VIGIL_MODEL_NAME`` in the vLLM
backend's shape (decoupled) and ``VIGIL_TRTLLM_MODEL_NAME`` in the TensorRT-LLM ensemble's
shape (batched, dynamic batching); with ``VIGIL_REPLAY_UNBATCHED_MODEL`` also the latter
without a dynamic batcher, for the batching benchmark.

``vigil triton`` calls :func:`serve`; ``vigil up`` starts that command as a supervised child via
:func:`triton_process`, which also sets ``LD_LIBRARY_PATH`` to the interpreter's LIBDIR: the
Python stub that tritonserver spawns needs libpython, and pyenv/venv interpreters don't put it
on the default search path.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sys
import sysconfig
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from vigil.exceptions import ConfigError
from vigil.settings import VigilSettings
from vigil.supervisor import ProcessSpec, mark_ready

TRTLLM_MAX_BATCH = 64


def _libdir_env() -> dict[str, str]:
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    current = os.environ.get("LD_LIBRARY_PATH", "")
    if libdir and libdir not in current.split(":"):
        return {"LD_LIBRARY_PATH": f"{libdir}:{current}" if current else libdir}
    return {}


def triton_ready(http_port: int, model_name: str) -> bool:
    """Ready means the server is up and this model is loaded (not merely a port open)."""
    url = f"http://127.0.0.1:{http_port}/v2/models/{model_name}/ready"
    with urllib.request.urlopen(url, timeout=2) as resp:
        return bool(resp.status == 200)


def triton_process(settings: VigilSettings, vigil_exe: list[str]) -> ProcessSpec:
    return ProcessSpec(
        name="triton",
        argv=[*vigil_exe, "triton"],
        env={**settings.as_env(), **_libdir_env()},
        ready=lambda: all(
            triton_ready(settings.triton_http_port, name)
            for name in (settings.model_name, settings.trtllm_model_name)
        ),
        ready_timeout_s=180.0,
    )


def triton_workspace(settings: VigilSettings) -> Path:
    """PyTriton's workspace for this run folder (removed when the server exits).

    PyTriton puts IPC sockets in it and Unix socket paths are capped at 107 bytes, so a deep
    run folder (pytest's temp dirs) can't hold it: a short path, one per run folder, so a
    restart after a kill finds (and clears) its own stale workspace."""
    tag = hashlib.sha1(str(settings.run_dir.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"vigil-triton-{tag}"


def grpc_tls_config(settings: VigilSettings) -> dict[str, Any]:
    """PyTriton's TritonConfig keywords for gRPC over TLS: the server's certificate and key
    (``VIGIL_TRITON_GRPC_SERVER_CERT``/``_KEY``), and with a client CA
    (``VIGIL_TRITON_GRPC_ROOT_CERT``) mutual TLS; none set: plaintext. The HTTP port (the
    readiness probe) stays plaintext on loopback."""
    cert, key = settings.triton_grpc_server_cert, settings.triton_grpc_server_key
    if not cert and not key:
        return {}
    if not (cert and key):
        raise ConfigError("the embedded Triton's TLS needs both its server cert and key")
    out: dict[str, Any] = {
        "grpc_use_ssl": True,
        "grpc_server_cert": Path(cert),
        "grpc_server_key": Path(key),
    }
    if settings.triton_grpc_root_cert:
        out["grpc_root_cert"] = Path(settings.triton_grpc_root_cert)
        if settings.triton_grpc_client_cert:
            # The gateway presents a certificate: the server asks every client for one.
            out["grpc_use_ssl_mutual"] = True
    return out


def _raise_system_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def serve(settings: VigilSettings, *, bind_address: str = "127.0.0.1") -> None:
    """Blocks serving the replay model until SIGINT/SIGTERM."""
    # Imported here: pytriton pulls in the server bundle, which only this process needs.
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig

    from vigil.inference.replay_data import ReplayBook
    from vigil.inference.replay_model import (
        ERROR_OUTPUT,
        VARIANT_VERSIONS,
        make_infer_func,
        make_trtllm_infer_func,
    )

    # Per-request dims; Triton prepends the batch dimension, so clients send [1, 1].
    trtllm_inputs = [
        Tensor(name="text_input", dtype=bytes, shape=(1,)),
        Tensor(name="max_tokens", dtype=np.int32, shape=(1,)),
        Tensor(name="temperature", dtype=np.float32, shape=(1,), optional=True),
        Tensor(name="top_p", dtype=np.float32, shape=(1,), optional=True),
        Tensor(name="top_k", dtype=np.int32, shape=(1,), optional=True),
        Tensor(name="seed", dtype=np.uint64, shape=(1,), optional=True),
        Tensor(name="stream", dtype=np.bool_, shape=(1,), optional=True),
        Tensor(name="exclude_input_in_output", dtype=np.bool_, shape=(1,), optional=True),
    ]
    trtllm_outputs = [
        Tensor(name="text_output", dtype=bytes, shape=(-1,)),
        # Not the ensemble's: how one request of a dynamic batch fails alone under PyTriton.
        Tensor(name=ERROR_OUTPUT, dtype=bytes, shape=(1,)),
    ]

    if _libdir_env():
        # Re-exec with the library path set: the stub reads it at process start.
        os.environ.update(_libdir_env())
        os.execv(sys.executable, [sys.executable, *sys.argv])

    book = ReplayBook.load(Path(settings.gsm8k_path)).with_counterfactual_variant(
        settings.replay_counterfactual_variant or None
    )
    workspace = triton_workspace(settings)
    # PyTriton refuses an existing workspace; one left by a killed server is stale (ours).
    shutil.rmtree(workspace, ignore_errors=True)
    config = TritonConfig(
        http_address=bind_address,
        http_port=settings.triton_http_port,
        grpc_address=bind_address,
        grpc_port=settings.triton_grpc_port,
        allow_metrics=False,
        exit_timeout_secs=5,
        log_verbose=0,
        **grpc_tls_config(settings),
    )
    delay_s = settings.replay_delay_ms / 1000.0
    version = VARIANT_VERSIONS[settings.replay_variant]
    # SIGTERM (how `vigil up` and compose stop us) would end the process on the spot; as an
    # exception it unwinds: PyTriton stops tritonserver and the workspace below is removed.
    signal.signal(signal.SIGTERM, _raise_system_exit)
    try:
        with Triton(config=config, workspace=str(workspace)) as triton:
            # The vLLM backend's shape: decoupled, max_batch_size 0, [1] inputs, JSON sampling.
            triton.bind(
                model_name=settings.model_name,
                model_version=version,
                infer_func=make_infer_func(book, settings.replay_variant, delay_s=delay_s),
                inputs=[
                    Tensor(name="text_input", dtype=bytes, shape=(1,)),
                    Tensor(name="sampling_parameters", dtype=bytes, shape=(1,), optional=True),
                    Tensor(
                        name="exclude_input_in_output", dtype=np.bool_, shape=(1,), optional=True
                    ),
                    Tensor(name="stream", dtype=np.bool_, shape=(1,), optional=True),
                    Tensor(
                        name="return_num_input_tokens", dtype=np.bool_, shape=(1,), optional=True
                    ),
                    Tensor(
                        name="return_num_output_tokens", dtype=np.bool_, shape=(1,), optional=True
                    ),
                ],
                outputs=[
                    Tensor(name="text_output", dtype=bytes, shape=(-1,)),
                    Tensor(name="num_input_tokens", dtype=np.uint32, shape=(1,)),
                    Tensor(name="num_output_tokens", dtype=np.uint32, shape=(-1,)),
                ],
                config=ModelConfig(batching=False, decoupled=True),
                strict=False,
            )
            # The TensorRT-LLM ensemble's shape: batched ([batch, 1] tensors), dynamic batching.
            trtllm = make_trtllm_infer_func(book, settings.replay_variant, delay_s=delay_s)
            triton.bind(
                model_name=settings.trtllm_model_name,
                model_version=version,
                infer_func=trtllm,
                inputs=trtllm_inputs,
                outputs=trtllm_outputs,
                config=ModelConfig(
                    batching=True, max_batch_size=TRTLLM_MAX_BATCH, batcher=DynamicBatcher()
                ),
                strict=False,
            )
            if settings.replay_unbatched_model:
                # The same model without a dynamic batcher: each request runs alone (benchmarks).
                triton.bind(
                    model_name=settings.replay_unbatched_model,
                    model_version=version,
                    infer_func=trtllm,
                    inputs=trtllm_inputs,
                    outputs=trtllm_outputs,
                    config=ModelConfig(
                        batching=True, max_batch_size=TRTLLM_MAX_BATCH, batcher=None
                    ),
                    strict=False,
                )
            mark_ready(settings.ready_dir, "triton")
            print(
                f"replay reasoner serving {settings.replay_variant} ({len(book)} questions) as "
                f"{settings.model_name!r} (vLLM contract) and {settings.trtllm_model_name!r} "
                f"(TensorRT-LLM contract) on {bind_address}:{settings.triton_grpc_port} (gRPC)",
                flush=True,
            )
            triton.serve()
    finally:
        # Ours, not PyTriton's: it leaves a workspace it was given.
        shutil.rmtree(workspace, ignore_errors=True)
