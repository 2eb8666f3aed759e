"""A dedicated review stack for the review-domain integration tests: its own Redis (AOF),
Kafka and outbox relay (which runs the SLA clock), started once per session.

Separate from the shared ``stack`` fixture because these tests kill Redis with SIGKILL and
rebuild the state from *all* of ``review.events``, which must hold this stack's events only.
Imported by one test module (test_review_domain.py): a fixture imported into two modules
would be two fixtures, and the stack would start twice.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import isolated_settings
from vigil.reviewers.policy import ReviewPolicy
from vigil.reviewers.queue import ReviewQueue
from vigil.reviewers.redis_server import redis_process
from vigil.settings import VigilSettings
from vigil.streams.kafka_broker import broker_process
from vigil.streams.topics import ensure_topics
from vigil.supervisor import ProcessSpec, Supervisor, marker_ready

LEASE_S = 3.0


@dataclass
class ReviewStack:
    settings: VigilSettings
    supervisor: Supervisor

    def queue(self) -> ReviewQueue:
        return ReviewQueue.connect(
            self.settings.redis_connection, policy=ReviewPolicy(lease_s=LEASE_S)
        )

    def restart_redis(self) -> None:
        self.supervisor.stop("redis")
        self.supervisor.start(redis_process(self.settings))


def relay_process(sup: Supervisor, settings: VigilSettings) -> ProcessSpec:
    return ProcessSpec(
        name="relay",
        argv=[sys.executable, "-m", "vigil.cli", "relay"],
        env={"DO_NOT_TRACK": "1", "PYTHONUNBUFFERED": "1", **settings.as_env()},
        ready=marker_ready(settings.ready_dir, "relay", lambda: sup.pid("relay")),
    )


@pytest.fixture(scope="session")
def review_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReviewStack]:
    run_dir = tmp_path_factory.mktemp("review-run")
    settings = isolated_settings(
        run_dir,
        topic_partitions=2,
        review_tick_s=0.1,
        review_lease_s=LEASE_S,
    )
    t0 = time.monotonic()
    with Supervisor(settings.logs_dir, echo=lambda _line: None) as sup:
        sup.start(redis_process(settings))
        sup.start(broker_process(settings))
        ensure_topics(settings.kafka_bootstrap, settings.topic_partitions)
        sup.start(relay_process(sup, settings))
        print(f"\nreview stack started in {time.monotonic() - t0:.1f}s")
        yield ReviewStack(settings, sup)
