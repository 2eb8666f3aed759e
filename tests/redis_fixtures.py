"""Shared pytest fixtures: a real redis-server per test session, and isolated queues on it.

Re-export them from a directory's ``conftest.py``::

    from tests.redis_fixtures import make_item, redis_client, redis_server, review_queue
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from tests.conftest import free_port
from vigil.exceptions import StackError
from vigil.reviewers.queue import ReviewQueue
from vigil.reviewers.redis_server import redis_process
from vigil.settings import VigilSettings, load_settings
from vigil.supervisor import Supervisor
from vigil_client.contracts import CheckResult, Evidence, ReviewItem


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start redis-server (the project's own spec: loopback, AOF, its ACL user with the run
    folder's secret) and yield its URL, the login in it."""
    run_dir = tmp_path_factory.mktemp("redis-run")
    with Supervisor(run_dir / "logs", echo=lambda _line: None) as supervisor:
        # The free port can be taken between our probe and redis' bind: try a few.
        for attempt in range(3):
            settings = load_settings(
                redis_url=f"redis://127.0.0.1:{free_port()}/0", run_dir=run_dir
            )
            try:
                supervisor.start(redis_process(settings))
                break
            except StackError:
                supervisor.stop_all()
                if attempt == 2:
                    raise
        yield url_with_login(settings)


def url_with_login(settings: VigilSettings) -> str:
    """The embedded Redis' url with its ACL user and secret in it (tests only: a url is
    printed and logged, the settings keep a password out of it)."""
    conn = settings.redis_connection
    host_port = settings.redis_url.split("://", 1)[1]
    return f"redis://{conn.username}:{conn.password.get_secret_value()}@{host_port}"


@pytest.fixture
def redis_client(redis_server: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def review_queue(redis_client: redis.Redis) -> ReviewQueue:
    """A queue under a prefix of its own, so tests never see each other's keys."""
    return ReviewQueue(redis_client, prefix=f"test-{uuid.uuid4().hex[:12]}")


def review_item(request_id: str | None = None, **overrides: Any) -> ReviewItem:
    """A realistic flagged item: four steps, the third one wrong."""
    fields: dict[str, Any] = {
        "request_id": request_id or uuid.uuid4().hex,
        "prompt": "Natalia sold 48 clips in April and half as many in May. How many in total?",
        "output": "April: 48\nMay: 48 / 2 = 24\nTotal: 48 + 24 = 70\nThe answer is 70",
        "steps": ["April: 48", "May: 48 / 2 = 24", "Total: 48 + 24 = 70", "The answer is 70"],
        "final_answer": "70",
        "model_name": "replay-reasoner",
        "model_version": "175b_verification",
        "risk_score": 0.8,
        "checks": [
            CheckResult(
                check="arithmetic",
                score=0.9,
                flagged=True,
                evidence=[Evidence(message="48 + 24 = 72, not 70", step_index=2)],
                first_faulty_step=2,
            ),
            CheckResult(check="self_consistency", score=0.4, flagged=False),
        ],
        "first_faulty_step": 2,
        "product": "tutor",
        "tenant": "acme",
        "metadata": {"locale": "en-US"},
    }
    fields.update(overrides)
    return ReviewItem(**fields)


@pytest.fixture
def make_item() -> Callable[..., ReviewItem]:
    """``make_item(request_id=None, **overrides)`` builds a ReviewItem (see ``review_item``)."""
    return review_item
