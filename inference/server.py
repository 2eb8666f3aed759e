"""Runs the real tritonserver (bundled in the nvidia-pytriton wheel) with the replay reasoner.

One server, the models of :func:`~inference.replay_plan.replay_plan` over one recorded book:
``VIGIL_MODEL_NAME`` in the vLLM backend's shape (decoupled) and ``VIGIL_TRTLLM_MODEL_NAME``
in the TensorRT-LLM ensemble's shape (batched, dynamic batching), both serving
``VIGIL_REPLAY_VARIANT``; with ``VIGIL_REPLAY_UNBATCHED_MODEL`` also the latter without a
dynamic batcher, for the batching benchmark; and each of ``VIGIL_REPLAY_MODELS`` in the vLLM
shape. Besides, the verifier models (``inference/verifier_model.py``, ``VIGIL_VERIFIER_*``):
a real generative model as a critic and as a process reward model, when installed.

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
from vigil.inference.replay_plan import (
    ServedReplay,
    describe,
    load_replay_book,
    replay_model_names,
    replay_plan,
)
from vigil.inference.verifier_model import verifier_names
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
            for name in [*replay_model_names(settings), *verifier_names(settings.verifier)]
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


def _vllm_tensors() -> tuple[list[Any], list[Any]]:
    """The vLLM backend's inputs and outputs: [1] per request, JSON sampling parameters."""
    from pytriton.model_config import Tensor

    flag = np.bool_
    inputs = [
        Tensor(name="text_input", dtype=bytes, shape=(1,)),
        Tensor(name="sampling_parameters", dtype=bytes, shape=(1,), optional=True),
        Tensor(name="exclude_input_in_output", dtype=flag, shape=(1,), optional=True),
        Tensor(name="stream", dtype=flag, shape=(1,), optional=True),
        Tensor(name="return_num_input_tokens", dtype=flag, shape=(1,), optional=True),
        Tensor(name="return_num_output_tokens", dtype=flag, shape=(1,), optional=True),
    ]
    outputs = [
        Tensor(name="text_output", dtype=bytes, shape=(-1,)),
        Tensor(name="num_input_tokens", dtype=np.uint32, shape=(1,)),
        Tensor(name="num_output_tokens", dtype=np.uint32, shape=(-1,)),
    ]
    return inputs, outputs


def _trtllm_tensors() -> tuple[list[Any], list[Any]]:
    """The TensorRT-LLM ensemble's inputs and outputs, per request (Triton prepends the batch
    dimension, so clients send [1, 1])."""
    from pytriton.model_config import Tensor

    from vigil.inference.replay_model import ERROR_OUTPUT

    inputs = [
        Tensor(name="text_input", dtype=bytes, shape=(1,)),
        Tensor(name="max_tokens", dtype=np.int32, shape=(1,)),
        Tensor(name="temperature", dtype=np.float32, shape=(1,), optional=True),
        Tensor(name="top_p", dtype=np.float32, shape=(1,), optional=True),
        Tensor(name="top_k", dtype=np.int32, shape=(1,), optional=True),
        Tensor(name="seed", dtype=np.uint64, shape=(1,), optional=True),
        Tensor(name="stream", dtype=np.bool_, shape=(1,), optional=True),
        Tensor(name="exclude_input_in_output", dtype=np.bool_, shape=(1,), optional=True),
    ]
    outputs = [
        Tensor(name="text_output", dtype=bytes, shape=(-1,)),
        # Not the ensemble's: how one request of a dynamic batch fails alone under PyTriton.
        Tensor(name=ERROR_OUTPUT, dtype=bytes, shape=(1,)),
    ]
    return inputs, outputs


def _bind(triton: Any, served: ServedReplay, delay_s: float, trtllm_funcs: dict[int, Any]) -> None:
    from pytriton.model_config import DynamicBatcher, ModelConfig

    from vigil.inference.replay_model import make_infer_func, make_trtllm_infer_func

    if served.contract == "vllm":
        # The vLLM backend's shape: decoupled, max_batch_size 0.
        inputs, outputs = _vllm_tensors()
        func = make_infer_func(served.replayed, delay_s=delay_s)
        config = ModelConfig(batching=False, decoupled=True)
    else:
        # The TensorRT-LLM ensemble's shape: batched ([batch, 1] tensors); the unbatched
        # model is the same function without a dynamic batcher: each request runs alone.
        inputs, outputs = _trtllm_tensors()
        key = id(served.replayed)
        func = trtllm_funcs.setdefault(
            key, make_trtllm_infer_func(served.replayed, delay_s=delay_s)
        )
        batcher = DynamicBatcher() if served.contract == "trtllm" else None
        config = ModelConfig(batching=True, max_batch_size=TRTLLM_MAX_BATCH, batcher=batcher)
    triton.bind(
        model_name=served.model_name,
        model_version=served.version,
        infer_func=func,
        inputs=inputs,
        outputs=outputs,
        config=config,
        strict=False,
    )


def _bind_verifiers(triton: Any, settings: VigilSettings) -> str:
    """The verifier models (critic and PRM) on one llama.cpp model, when the settings serve
    them; what was bound, for the start-up line."""
    names = verifier_names(settings.verifier)
    if not names:
        return f"verifier: not served (VIGIL_VERIFIER_SERVE={settings.verifier.serve})"
    from pytriton.model_config import ModelConfig

    from vigil.inference.verifier_model import (
        LocalLM,
        critic_answer,
        make_verifier_infer_func,
        prm_answer,
    )

    lm = LocalLM.load(settings.verifier)
    inputs, outputs = _trtllm_tensors()
    # Batched like the ensemble (clients send [1, 1]); no dynamic batcher: the model answers
    # one request at a time anyway.
    config = ModelConfig(batching=True, max_batch_size=TRTLLM_MAX_BATCH)
    critic, prm = names
    for name, answer in ((critic, critic_answer(lm, settings.verifier)), (prm, prm_answer(lm))):
        triton.bind(
            model_name=name,
            infer_func=make_verifier_infer_func(answer),
            inputs=inputs,
            outputs=outputs,
            config=config,
            strict=False,
        )
    return (
        f"verifier: {critic} (critic) and {prm} (prm), trtllm-pytriton contract, on "
        f"{lm.path.name} (llama.cpp, {settings.verifier.threads} threads, loaded in "
        f"{lm.load_s:.2f}s)"
    )


def serve(settings: VigilSettings, *, bind_address: str = "127.0.0.1") -> None:
    """Blocks serving the replay models until SIGINT/SIGTERM."""
    # Imported here: pytriton pulls in the server bundle, which only this process needs.
    from pytriton.triton import Triton, TritonConfig

    if _libdir_env():
        # Re-exec with the library path set: the stub reads it at process start.
        os.environ.update(_libdir_env())
        os.execv(sys.executable, [sys.executable, *sys.argv])

    book = load_replay_book(settings)
    plan = replay_plan(settings, book)
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
    # SIGTERM (how `vigil up` and compose stop us) would end the process on the spot; as an
    # exception it unwinds: PyTriton stops tritonserver and the workspace below is removed.
    signal.signal(signal.SIGTERM, _raise_system_exit)
    try:
        with Triton(config=config, workspace=str(workspace)) as triton:
            trtllm_funcs: dict[int, Any] = {}
            for served in plan:
                _bind(triton, served, delay_s, trtllm_funcs)
            verifiers = _bind_verifiers(triton, settings)
            mark_ready(settings.ready_dir, "triton")
            print(
                f"replay reasoner: {len(book)} questions from "
                f"{', '.join(str(p) for p in settings.replay_paths)}, on "
                f"{bind_address}:{settings.triton_grpc_port} (gRPC):\n{describe(plan)}\n"
                f"{verifiers}",
                flush=True,
            )
            triton.serve()
    finally:
        # Ours, not PyTriton's: it leaves a workspace it was given.
        shutil.rmtree(workspace, ignore_errors=True)
