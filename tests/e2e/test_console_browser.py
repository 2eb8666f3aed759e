"""A reviewer in a real browser: log in, open a flagged item, correct it; hostile model output
renders as inert text, and the browser fetches nothing beyond the console on 127.0.0.1."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from kafka import KafkaConsumer

from reviewers.queue import ReviewQueue
from streams import topics
from vigil.contracts import CheckResult, Evidence, ReviewDecision, ReviewItem
from vigil.settings import VigilSettings
from vigil.supervisor import Supervisor

pytestmark = pytest.mark.integration

HOSTILE = (
    "Step one <script>window.__pwned = 'script'</script>\n"
    'Step two <img src="http://example.invalid/onerror.png" onerror="window.__pwned=\'img\'">\n'
    "Step three ![tracker](http://example.invalid/pixel.png) and **bold**\n"
    "Step four [click me](javascript:window.__pwned='link')\n"
    "A: 7"
)


def _hostile_item() -> ReviewItem:
    return ReviewItem(
        request_id=f"hostile-{int(time.time() * 1000)}",
        # Oldest and riskiest: first in the queue, so the first "Open" button is this one.
        enqueued_at=datetime.now(UTC) - timedelta(days=365),
        prompt="What is 3 + 4? <script>window.__pwned='prompt'</script>",
        output=HOSTILE,
        steps=HOSTILE.splitlines()[:-1],
        final_answer="7",
        model_name="replay-reasoner",
        model_version="1",
        risk_score=1.0,
        checks=[
            CheckResult(
                check="step_verification",
                score=1.0,
                flagged=True,
                evidence=[Evidence(message="step 2: <b>bad</b> arithmetic", step_index=1)],
                first_faulty_step=1,
            )
        ],
        first_faulty_step=1,
        product="e2e",
    )


def _decision_on_kafka(
    settings: VigilSettings, request_id: str, timeout_s: float
) -> ReviewDecision:
    consumer = KafkaConsumer(
        topics.DECISIONS,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=1000,
    )
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            for msg in consumer:
                if msg.key == request_id.encode():
                    return ReviewDecision.from_json(msg.value)
    finally:
        consumer.close()
    raise AssertionError(f"no decision for {request_id} on {topics.DECISIONS}")


def test_reviewer_corrects_a_hostile_item_in_the_browser(
    stack: Supervisor, stack_settings: VigilSettings, browser: Any, artifacts: Path
) -> None:
    s = stack_settings
    item = _hostile_item()
    assert ReviewQueue.from_url(s.redis_url).enqueue(item)

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda req: requested.append(req.url))
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    page.goto(f"http://127.0.0.1:{s.console_port}/", wait_until="domcontentloaded")
    page.get_by_label("User").fill("reviewer")
    page.get_by_label("Password", exact=True).fill("vigil-demo")
    page.get_by_role("button", name="Log in").click()
    page.get_by_text("Pending reviews").wait_for(timeout=30_000)
    page.screenshot(path=str(artifacts / "console-queue.png"), full_page=True)

    page.get_by_role("button", name="Open").first.click()
    page.get_by_text("Step four [click me](javascript:", exact=False).first.wait_for(timeout=30_000)
    page.screenshot(path=str(artifacts / "console-item-hostile.png"), full_page=True)

    # Nothing executed, nothing rendered as markup: no injected <img>/<script>, no live links.
    assert page.evaluate("() => window.__pwned") is None
    assert not dialogs
    assert page.locator("img[src*='example.invalid']").count() == 0
    assert page.locator("a[href^='javascript:']").count() == 0
    assert page.locator("strong", has_text="bold").count() == 0
    assert page.get_by_text("<script>window.__pwned = 'script'</script>", exact=False).count() >= 1

    page.get_by_label("Corrected final answer (for Correct)").fill("7")
    page.get_by_role("button", name="Correct the answer").click()
    page.get_by_text("Decision recorded", exact=False).wait_for(timeout=30_000)
    page.screenshot(path=str(artifacts / "console-decided.png"), full_page=True)
    context.close()

    decision = _decision_on_kafka(s, item.request_id, timeout_s=60)
    assert decision.decision == "correct" and decision.corrected_answer == "7"
    assert decision.reviewer == "reviewer"
    hosts = {urlparse(u).hostname for u in requested if not u.startswith(("data:", "blob:"))}
    assert hosts <= {"127.0.0.1"}, f"the browser fetched from {hosts}"
