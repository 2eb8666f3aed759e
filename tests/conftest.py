"""Shared test helpers, and the real stack for integration and browser tests.

``stack`` starts Kafka, Redis, Triton, the gateway, the worker, the relay and the console once per
session on free loopback ports in a temp folder, with the same code as ``vigil up``
(vigil.stack.start_stack); logs stay under the temp folder for post-mortems.
"""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from vigil.settings import VigilSettings, load_settings
from vigil.stack import start_stack
from vigil.supervisor import Supervisor

# Nothing calls out: Evidently's telemetry and Streamlit's usage stats stay off in every test.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")


# Fixtures that start real servers, and the tiers they put a test in (pyproject markers);
# tests that start servers of their own say so in their module's ``pytestmark``.
FIXTURE_TIERS = {
    "redis_server": ("redis",),
    "review_stack": ("kafka", "redis"),
    "stack": ("kafka", "redis", "triton"),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        needs = {t for f in getattr(item, "fixturenames", ()) for t in FIXTURE_TIERS.get(f, ())}
        for tier in sorted(needs):
            item.add_marker(tier)


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


_EPHEMERAL = _ephemeral_range()
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range. A port the kernel picks
    (``bind(0)``) is an ephemeral one, and any outgoing connection (the tests' own Kafka
    clients) may take it before the server binds it: a full-suite run lost its session stack
    to "Address already in use" that way."""
    low = max(1024, min(_EPHEMERAL[0], 32768) - 12000)
    high = min(_EPHEMERAL[0], 32768) - 1
    for _ in range(500):
        port = random.randint(low, high)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free loopback port in {low}-{high}")


# The replay reasoner as the tests written for the GPT-3 file expect it: its 175B verifier,
# and samples from the file's other variants (cross-model agreement, README "Samples").
GPT3_REPLAY: dict[str, object] = {
    "replay_variant": "gsm8k:175b_verification",
    "replay_samples": "cross-model",
}
# Current models' free-form output, served besides on the session stack as their own models.
MODERN_REPLAY_MODELS = {
    "gpt-4o-mini": "re2_gsm8k:gpt-4o-mini_zs-cot",
    "qwen2.5-7b": "processbench_gsm8k:Qwen2.5-7B-Instruct",
}


def isolated_settings(run_dir: Path, **overrides: object) -> VigilSettings:
    """Settings for a stack of its own: every server on a free loopback port, files in run_dir."""
    grpc = free_port()
    ports: dict[str, object] = {
        "kafka_bootstrap": f"127.0.0.1:{free_port()}",
        "kafka_controller_port": free_port(),
        "redis_url": f"redis://127.0.0.1:{free_port()}/0",
        "triton_http_port": free_port(),
        "triton_grpc_port": grpc,
        "triton_grpc_url": f"127.0.0.1:{grpc}",
        "console_port": free_port(),
    }
    return load_settings(run_dir=run_dir, **{**ports, **overrides})


def consume_until(
    settings: VigilSettings, topic: str, want: Iterable[str], timeout_s: float
) -> dict[str, list[bytes]]:
    """Reads ``topic`` from the start until every key in ``want`` was seen; key -> values."""
    wanted = set(want)
    seen: dict[str, list[bytes]] = {}
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
        # What Vigil's own consumers see: the gateway writes in transactions.
        isolation_level="read_committed",
        **settings.kafka_security.kafka_python_kwargs(),
    )
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not wanted.issubset(seen):
            for msg in consumer:
                if msg.key is not None:
                    seen.setdefault(msg.key.decode(), []).append(msg.value)
                if wanted.issubset(seen):
                    break
    finally:
        consumer.close()
    return seen


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory: pytest.TempPathFactory) -> VigilSettings:
    return isolated_settings(
        tmp_path_factory.mktemp("vigil-run"),
        topic_partitions=2,
        replay_models=MODERN_REPLAY_MODELS,
        **GPT3_REPLAY,
    )


@pytest.fixture(scope="session")
def stack(stack_settings: VigilSettings) -> Iterator[Supervisor]:
    t0 = time.monotonic()
    with Supervisor(stack_settings.logs_dir) as sup:
        start_stack(sup, stack_settings, console=True)
        print(f"\nstack started in {time.monotonic() - t0:.1f}s")
        yield sup
