"""Shared test helpers, and the real stack for integration and browser tests.

``stack`` starts Kafka, Redis, Triton, the gateway, the worker, the relay and the console once per
session on free loopback ports in a temp folder, with the same code as ``vigil up``
(vigil.stack.start_stack); logs stay under the temp folder for post-mortems.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigil.settings import VigilSettings, load_settings
from vigil.stack import start_stack
from vigil.supervisor import Supervisor

# Nothing calls out: Evidently's telemetry and Streamlit's usage stats stay off in every test.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory: pytest.TempPathFactory) -> VigilSettings:
    run_dir: Path = tmp_path_factory.mktemp("vigil-run")
    grpc = free_port()
    return load_settings(
        run_dir=run_dir,
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        kafka_controller_port=free_port(),
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        triton_http_port=free_port(),
        triton_grpc_port=grpc,
        triton_grpc_url=f"127.0.0.1:{grpc}",
        console_port=free_port(),
        topic_partitions=2,
    )


@pytest.fixture(scope="session")
def stack(stack_settings: VigilSettings) -> Iterator[Supervisor]:
    t0 = time.monotonic()
    with Supervisor(stack_settings.logs_dir) as sup:
        start_stack(sup, stack_settings, console=True)
        print(f"\nstack started in {time.monotonic() - t0:.1f}s")
        yield sup
