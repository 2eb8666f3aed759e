"""A question the replay never saw, on the console (AppTest, real Redis): the Alerts page
lists the requests without an answer and explains the replay's limit with the README
pointer; the error is shown as text."""

from __future__ import annotations

from typing import Any

import redis

from tests.dashboard.apptest_helpers import HOSTILE, login, markdowns, start, texts
from vigil.streams.monitoring.store import MonitorStore
from vigil_client.contracts import DeadLetter

MONITOR = "vigil-monitor"


def _page(at: Any, name: str) -> Any:
    at.sidebar.radio(key="nav").set_value(name).run()
    assert not at.exception, at.exception
    return at


def test_the_alerts_page_explains_an_unknown_question(console_env: redis.Redis) -> None:
    store = MonitorStore(console_env, MONITOR)
    error = f"triton replay-reasoner: UnknownQuestion: no recorded answer {HOSTILE}"
    store.put_dead_letter(
        DeadLetter(
            request_id="req-unknown",
            source_topic="llm.requests",
            stage="gateway",
            reason="model_error",
            error=error,
            payload="What is the capital of France?",
        )
    )
    at = _page(login(start(), "reviewer1"), "alerts")
    assert [e.label for e in at.expander] == ["Requests without an answer: 1 model_error"]
    assert any("req-unknown" in t and error in t for t in texts(at))
    (info,) = [str(i.value) for i in at.info if "replay model" in str(i.value)]
    assert "README, 'Using an existing Kafka, Redis or Triton'" in info
    assert all("<script>" not in m and "capital" not in m for m in markdowns(at))
    assert store.dead_letters(5)[0].get("payload") is None
