"""Reviewers in a real browser, against ``streamlit run`` on the real stack (Redis, Kafka, relay):
log in, claim next (with its keyboard shortcut), correct a step of a hostile item (nothing in
it executes or is fetched), escalate to a lead who approves, a viewer who cannot decide, and a
screenshot of every page in test-artifacts/.

Items are assigned to the demo reviewer with a near SLA deadline, so "claim next" takes them
first whatever else other tests left in the shared queue (assigned items come first).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from kafka import KafkaConsumer

from tests.dashboard.monitor_data import error_rate_block, window_rows, window_summary
from vigil.reviewers.connect import redis_client
from vigil.reviewers.queue import ReviewQueue
from vigil.settings import VigilSettings
from vigil.streams import topics
from vigil.streams.monitoring.monitor import sample_item
from vigil.streams.monitoring.store import MonitorStore
from vigil.streams.monitoring.verdicts import Judged
from vigil.supervisor import Supervisor
from vigil_client.contracts import (
    Alert,
    CheckResult,
    Evidence,
    InferenceResult,
    ReviewDecision,
    ReviewItem,
    ScreeningOutcome,
)

pytestmark = [pytest.mark.browser]

PASSWORD = "vigil-demo"  # dashboard/users.toml's demo users
WAIT_MS = 30_000
HOSTILE = (
    "Step one <script>window.__pwned = 'script'</script>\n"
    'Step two <img src="http://example.invalid/onerror.png" onerror="window.__pwned=\'img\'">\n'
    "Step three ![tracker](http://example.invalid/pixel.png) and **bold**\n"
    "Step four [click me](javascript:window.__pwned='link')\n"
    "A: 7"
)


def _item(request_id: str, **fields: Any) -> ReviewItem:
    base: dict[str, Any] = {
        "request_id": request_id,
        "enqueued_at": datetime.now(UTC) - timedelta(minutes=5),
        # Near, so the SLA clock leaves it alone for the test but it sorts early.
        "sla_deadline": datetime.now(UTC) + timedelta(minutes=20),
        "assigned_reviewer": "reviewer",
        "prompt": "What is 3 + 4? <script>window.__pwned='prompt'</script>",
        "output": HOSTILE,
        "steps": HOSTILE.splitlines()[:-1],
        "final_answer": "7",
        "model_name": "replay-reasoner",
        "model_version": "1",
        "risk_score": 1.0,
        "checks": [
            CheckResult(
                check="step_verification",
                score=1.0,
                flagged=True,
                evidence=[Evidence(message="step 2: <b>bad</b> arithmetic", step_index=1)],
                first_faulty_step=1,
            )
        ],
        "first_faulty_step": 1,
        "product": "e2e",
        # Segment values come from request metadata: they end up in the queue's filter menu.
        "metadata": {"segment": "![seg](http://example.invalid/seg.png) **bold**"},
        "samples": ["Step one ![s](http://example.invalid/sample.png)\nA: 8"],
    }
    return ReviewItem(**{**base, **fields})


def _decisions_on_kafka(
    settings: VigilSettings, request_id: str, count: int, timeout_s: float = 60
) -> list[ReviewDecision]:
    """The item's first ``count`` decisions on ``review.decisions`` (deduplicated). Not
    tests.conftest.consume_until: that one stops at a key's first record."""
    consumer = KafkaConsumer(
        topics.DECISIONS,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    found: dict[str, ReviewDecision] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and len(found) < count:
            for msg in consumer:
                if msg.key == request_id.encode():
                    d = ReviewDecision.from_json(msg.value)
                    found[d.decision_id] = d
    finally:
        consumer.close()
    assert len(found) >= count, f"{len(found)} decisions for {request_id} on {topics.DECISIONS}"
    return sorted(found.values(), key=lambda d: d.decided_at)


class Session:
    """One browser context logged in as one user, recording every request it makes."""

    def __init__(self, browser: Any, settings: VigilSettings, user: str, query: str = "") -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 2600})
        self.page = self.context.new_page()
        self.requested: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("request", lambda req: self.requested.append(req.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.goto(
            f"http://127.0.0.1:{settings.console.port}/{query}", wait_until="domcontentloaded"
        )
        self.page.get_by_label("User").fill(user)
        self.page.get_by_label("Password", exact=True).fill(PASSWORD)
        self.page.get_by_role("button", name="Log in").click()
        self.page.get_by_text(f"Logged in as {user}").wait_for(timeout=WAIT_MS)

    def text(self, text: str, exact: bool = False) -> None:
        self.page.get_by_text(text, exact=exact).first.wait_for(timeout=WAIT_MS)

    def shot(self, artifacts: Path, name: str) -> None:
        self.page.wait_for_timeout(500)  # let charts and code blocks finish drawing
        self.page.screenshot(path=str(artifacts / name))

    def button(self, name: str) -> Any:
        return self.page.get_by_role("button", name=name)

    def outside_hosts(self) -> set[str | None]:
        urls = [u for u in self.requested if not u.startswith(("data:", "blob:"))]
        return {urlparse(u).hostname for u in urls} - {"127.0.0.1"}

    def close(self) -> None:
        self.context.close()


def test_reviewer_claims_next_and_corrects_a_hostile_item(
    stack: Supervisor, stack_settings: VigilSettings, browser: Any, artifacts: Path
) -> None:
    s = stack_settings
    item = _item(f"hostile-{int(time.time() * 1000)}")
    assert ReviewQueue.connect(s.redis_connection).enqueue(item)

    r = Session(browser, s, "reviewer")
    r.text("Pending reviews")
    r.button("Claim next").wait_for(timeout=WAIT_MS)
    r.shot(artifacts, "console-queue.png")
    # The filter menu lists the hostile segment value: as text.
    r.page.locator("[data-testid='stSelectbox']").first.click()
    r.text("segment:segment=![seg](http://example.invalid/seg.png) **bold**")
    r.page.keyboard.press("Escape")
    r.page.get_by_role("heading", name="Review queue").click()  # focus out of the menu's input
    r.page.keyboard.press("n")  # "Claim next", by its shortcut
    r.text("Claimed; your claim lasts until")
    r.text(item.request_id, exact=True)
    r.text("Step four [click me](javascript:")
    r.shot(artifacts, "console-item-hostile.png")

    # Nothing executed, nothing rendered as markup: no injected <img>/<script>, no live links.
    assert r.page.evaluate("() => window.__pwned") is None
    assert not r.dialogs
    assert r.page.locator("img[src*='example.invalid']").count() == 0
    assert r.page.locator("a[href^='javascript:']").count() == 0
    assert r.page.locator("a[href*='example.invalid']").count() == 0
    assert r.page.locator("strong", has_text="bold").count() == 0
    assert r.page.get_by_text("<script>window.__pwned = 'script'</script>").count() >= 1

    # Correct step 2 (marked as the first wrong step already) and see the diff before saving.
    steps = r.page.get_by_label("Steps", exact=True)
    fixed = [item.steps[0], "Step two: 3 + 4 = 7", *item.steps[2:]]
    steps.fill("\n".join(fixed))
    steps.press("Control+Enter")
    r.text("+Step two: 3 + 4 = 7")
    r.button("Save correction").click()
    r.text("Decision recorded: correct")
    r.shot(artifacts, "console-decided.png")
    assert r.page.evaluate("() => window.__pwned") is None
    assert r.outside_hosts() == set(), f"the browser fetched from {r.outside_hosts()}"
    r.close()

    [decision] = _decisions_on_kafka(s, item.request_id, 1)
    assert decision.decision == "correct" and decision.reviewer == "reviewer"
    assert decision.corrected_steps == fixed and decision.first_wrong_step == 1
    assert decision.diff is not None and "+Step two: 3 + 4 = 7" in decision.diff


def test_reviewer_escalates_and_a_lead_approves(
    stack: Supervisor, stack_settings: VigilSettings, browser: Any, artifacts: Path
) -> None:
    s = stack_settings
    item = _item(f"escalate-{int(time.time() * 1000)}")
    queue = ReviewQueue.connect(s.redis_connection)
    assert queue.enqueue(item)

    r = Session(browser, s, "reviewer")
    r.button("Claim next").click()
    r.text(item.request_id, exact=True)
    r.page.get_by_label("Reason (required)").fill("not sure the question is well posed")
    r.button("Escalate").click()
    r.text("Escalated to lead")
    r.shot(artifacts, "console-escalated.png")
    r.close()

    lead = Session(browser, s, "lead", f"?item={item.request_id}")  # a link opens the item
    lead.text(item.request_id, exact=True)
    lead.text("Escalated by reviewer to lead: not sure the question is well posed")
    lead.button("Claim this item").click()
    lead.text("You hold a claim on this item")
    lead.button("Approve").wait_for(timeout=WAIT_MS)
    lead.page.keyboard.press("a")  # Approve, by its shortcut
    lead.text("Decision recorded: approve")
    lead.shot(artifacts, "console-lead-approved.png")
    lead.close()

    escalation, approval = _decisions_on_kafka(s, item.request_id, 2)
    assert (escalation.decision, escalation.reviewer, escalation.escalate_to) == (
        "escalate",
        "reviewer",
        "lead",
    )
    assert (approval.decision, approval.reviewer, approval.tier) == ("approve", "lead", "lead")
    assert queue.state(item.request_id) == "decided"


def test_viewer_cannot_claim_or_decide(
    stack: Supervisor, stack_settings: VigilSettings, browser: Any, artifacts: Path
) -> None:
    s = stack_settings
    item = _item(f"viewer-{int(time.time() * 1000)}", assigned_reviewer=None)
    queue = ReviewQueue.connect(s.redis_connection)
    assert queue.enqueue(item)

    v = Session(browser, s, "viewer", f"?item={item.request_id}")
    v.text("can view items but not decide them")
    for name in ("Claim next", "Claim this item", "Approve", "Save correction", "Escalate"):
        assert v.button(name).count() == 0, name
    v.page.keyboard.press("n")
    v.page.keyboard.press("a")
    v.page.wait_for_timeout(1000)
    v.shot(artifacts, "console-viewer-denied.png")
    v.close()
    assert queue.claims(item.request_id) == [] and queue.decisions(item.request_id) == []


def test_viewer_sees_an_alert_sample_with_its_personal_data_masked(
    stack: Supervisor, stack_settings: VigilSettings, browser: Any, artifacts: Path
) -> None:
    s = stack_settings
    email, phone = "mia.jones@example.com", "+44 20 7946 0958"
    rid = f"masked-{int(time.time() * 1000)}"
    result = InferenceResult(
        request_id=rid,
        request_created_at=datetime.now(UTC),
        prompt=f"Mia ({email}, {phone}) has 3 apples and buys 4 more. How many does she have?",
        output=f"She has 3 + 4 = <<3+4=7>>7 apples.\nShe texts {phone} and mails {email}.\nA: 7",
        samples=[f"Reach her at {email}.\nA: 7"],
        model_name="replay-reasoner",
        model_version="1",
        latency_ms=5.0,
        product="e2e",
    )
    clean = CheckResult(check="step_verification", score=0.0, flagged=False)
    outcome = ScreeningOutcome(request_id=rid, verdict="clean", risk_score=0.1, checks=[clean])
    # The monitor's own item for a sampled result of a drift alert's window.
    item = sample_item(Judged(result, outcome), alert_id="alert-e2e-masked", kind="drift")
    assert ReviewQueue.connect(s.redis_connection).enqueue(item)

    v = Session(browser, s, "viewer", f"?item={rid}")
    v.text(rid, exact=True)
    v.text("Personal data is masked: your role may not see it.")
    v.text("<EMAIL_ADDRESS>")
    v.shot(artifacts, "console-viewer-masked.png")
    shown = v.page.locator("body").inner_text()
    assert "<PHONE_NUMBER>" in shown
    assert email not in shown and "7946 0958" not in shown, "personal data shown to a viewer"
    v.close()


@pytest.fixture
def monitor_windows(stack_settings: VigilSettings) -> Iterator[Alert]:
    """Three windows and a bias alert in the stack monitor's store (its own windows are few:
    no test sends it 500 results), removed afterwards; the alert's samples are queued."""
    client = redis_client(stack_settings.redis_connection)
    store = MonitorStore(client, stack_settings.monitor.app_id)
    t0 = time.time() - 600
    ids = [f"e2e-{n:08d}" for n in range(1, 4)]
    for n, wid in enumerate(ids, start=1):
        summary = window_summary(n, t0 + 60 * n, n > 1, prefix="e2e-")
        store.put_window(wid, t0 + 60 * n, summary, None, window_rows(n))
    sample = _item(f"alert-sample-{int(time.time() * 1000)}", assigned_reviewer=None)
    alert = Alert(
        kind="bias",
        monitor=stack_settings.monitor.app_id,
        title="flag rate of locale=de-DE <img src=x onerror=alert(1)>",
        summary="segment ![s](http://example.invalid/a.png) flagged 3x as often",
        window_id=ids[-1],
        sample_request_ids=[sample.request_id],
    )
    ReviewQueue(client).enqueue(sample.model_copy(update={"alert_id": alert.alert_id}))
    store.put_alert(alert)
    try:
        yield alert
    finally:
        p = store.p
        client.zrem(f"{p}:windows", *ids)
        client.delete(*(f"{p}:window:{w}" for w in ids), f"{p}:alert:{alert.alert_id}")
        client.zrem(f"{p}:alerts", alert.alert_id)
        client.close()


def test_every_page_renders(
    stack: Supervisor,
    stack_settings: VigilSettings,
    browser: Any,
    artifacts: Path,
    monitor_windows: Alert,
) -> None:
    lead = Session(browser, stack_settings, "lead")
    lead.text("Pending reviews")
    for page, marker in (
        ("Monitoring", "Drift over time, per feature"),
        ("Alerts", "Alerts (latest 50)"),
        ("Team", "Reviewer throughput"),
        ("Checks", "What the checks miss (random sample of clean results)"),
        ("Queue", "Pending reviews"),
    ):
        lead.page.get_by_text(page, exact=True).click()
        lead.text(marker)
        lead.shot(artifacts, f"console-{page.lower()}.png")
        assert lead.page.get_by_text("Traceback").count() == 0, page
        if page == "Monitoring":
            assert lead.page.locator("canvas, svg").count() >= 4  # the charts, drawn
        if page == "Queue":  # a row's checkbox opens its item
            table = lead.page.locator("[class*='st-key-queue_table']").first
            table.click(position={"x": 15, "y": 35 + 17})
            lead.text("Reasoning, step by step")
        if page == "Alerts":
            lead.text("flag rate of locale=de-DE <img src=x onerror=alert(1)>")
            lead.button("Open item").first.click()
            lead.text(monitor_windows.sample_request_ids[0], exact=True)
            lead.shot(artifacts, "console-alert-item.png")
    assert not lead.dialogs
    assert lead.outside_hosts() == set(), f"the browser fetched from {lead.outside_hosts()}"
    lead.close()


def test_checks_page_shows_the_error_rate_and_opens_a_disagreement(
    stack: Supervisor, stack_settings: VigilSettings, browser: Any, artifacts: Path
) -> None:
    """The estimated share of wrong answers (a stored monitor window) and a check that
    flagged an item reviewers approved: its disagreement opens the item."""
    client = redis_client(stack_settings.redis_connection)
    store = MonitorStore(client, stack_settings.monitor.app_id)
    now = time.time()
    wid = f"e2e-err-{int(now)}"
    summary = window_summary(9, now, False, prefix="e2e-err-")
    summary["window_id"] = wid
    summary["error_rate"] = error_rate_block(now, 1)
    store.put_window(wid, now, summary, None, None)
    rid = f"e2e-alarm-{int(now * 1000)}"
    # Named to sort first among the checks with disagreements (other tests settle items too).
    alarm = CheckResult(check="aaa_e2e_check", score=0.9, flagged=True)
    queue = ReviewQueue(client)
    queue.enqueue(_item(rid, assigned_reviewer=None, checks=[alarm]))
    queue.decide(
        ReviewDecision(
            request_id=rid, decision="approve", reviewer="lead", model_name="replay-reasoner",
            model_version="1",
        )
    )  # fmt: skip
    try:
        lead = Session(browser, stack_settings, "lead")
        lead.page.get_by_text("Checks", exact=True).click()
        lead.text("Share of wrong answers in production (estimated)")
        lead.text("Checks against reviewers: confusion matrix and Cohen's kappa")
        lead.shot(artifacts, "console-checks-error-rate.png")
        # The selected disagreement is the combo box's value (an input, not text).
        chosen = lead.page.get_by_role("combobox", name="Item")
        chosen.wait_for(timeout=WAIT_MS)
        assert chosen.input_value() == f"{rid}  (flagged, approved)"
        lead.button("Open item").click()
        lead.text(rid, exact=True)
        assert lead.page.get_by_text("Traceback").count() == 0
        assert lead.outside_hosts() == set(), lead.outside_hosts()
        lead.close()
    finally:
        client.zrem(f"{store.p}:windows", wid)
        client.delete(f"{store.p}:window:{wid}")
        client.close()
