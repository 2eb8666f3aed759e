"""Runs the real tritonserver (bundled in the nvidia-pytriton wheel) with the replay reasoner.

``vigil triton`` calls :func:`serve`; ``vigil up`` starts that command as a supervised child via
:func:`triton_process`, which also sets ``LD_LIBRARY_PATH`` to the interpreter's LIBDIR: the
Python stub that tritonserver spawns needs libpython, and pyenv/venv interpreters don't put it
on the default search path.
"""

from __future__ import annotations

import os
import sys
import sysconfig
import urllib.request
from pathlib import Path

import numpy as np

from vigil.settings import VigilSettings
from vigil.supervisor import ProcessSpec, mark_ready


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
        ready=lambda: triton_ready(settings.triton_http_port, settings.model_name),
        ready_timeout_s=180.0,
    )


def serve(settings: VigilSettings, *, bind_address: str = "127.0.0.1") -> None:
    """Blocks serving the replay model until SIGINT/SIGTERM."""
    # Imported here: pytriton pulls in the server bundle, which only this process needs.
    from pytriton.model_config import ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig

    from inference.replay_data import ReplayBook
    from inference.replay_model import VARIANT_VERSIONS, make_infer_func

    if _libdir_env():
        # Re-exec with the library path set: the stub reads it at process start.
        os.environ.update(_libdir_env())
        os.execv(sys.executable, [sys.executable, *sys.argv])

    book = ReplayBook.load(Path(settings.gsm8k_path))
    workspace = settings.run_dir / "triton-workspace"
    config = TritonConfig(
        http_address=bind_address,
        http_port=settings.triton_http_port,
        grpc_address=bind_address,
        grpc_port=settings.triton_grpc_port,
        allow_metrics=False,
        exit_timeout_secs=5,
        log_verbose=0,
    )
    with Triton(config=config, workspace=str(workspace)) as triton:
        triton.bind(
            model_name=settings.model_name,
            model_version=VARIANT_VERSIONS[settings.replay_variant],
            infer_func=make_infer_func(book, settings.replay_variant),
            inputs=[
                Tensor(name="text_input", dtype=bytes, shape=(1,)),
                Tensor(name="sampling_parameters", dtype=bytes, shape=(1,), optional=True),
                Tensor(name="exclude_input_in_output", dtype=np.bool_, shape=(1,), optional=True),
                Tensor(name="stream", dtype=np.bool_, shape=(1,), optional=True),
            ],
            outputs=[Tensor(name="text_output", dtype=bytes, shape=(-1,))],
            config=ModelConfig(batching=False, decoupled=True),
            strict=False,
        )
        mark_ready(settings.ready_dir, "triton")
        print(
            f"replay reasoner {settings.model_name!r} serving {settings.replay_variant} "
            f"({len(book)} questions) on {bind_address}:{settings.triton_grpc_port} (gRPC)",
            flush=True,
        )
        triton.serve()
