"""The console's login and queue page through Streamlit's AppTest, against the real Redis of
tests/redis_fixtures.py (the item page: test_item_page.py; the others: test_console_pages.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import redis

from tests.dashboard.apptest_helpers import (
    FIRST_FAULTY,
    click,
    errors,
    has_button,
    listed,
    login,
    metric,
    open_item,
    queue_table,
    start,
    texts,
)
from vigil.reviewers.queue import ReviewQueue
from vigil_client.contracts import ReviewItem

MakeItem = Callable[..., ReviewItem]


def test_login_failure(console_env: redis.Redis) -> None:
    at = login(start(), "reviewer1", "wrong")
    assert any("Wrong user name or password" in e.value for e in at.error)
    assert at.text_input(key="login_user")  # still on the login form
    at = login(at, "nobody")
    assert any("Wrong user name or password" in e.value for e in at.error)


def test_queue_lists_items_with_counts_by_reason_segment_model_and_sla(
    console_env: redis.Redis, make_item: MakeItem
) -> None:
    queue = ReviewQueue(console_env)
    now = datetime.now(UTC)
    queue.enqueue(make_item("req-42"))
    queue.enqueue(
        make_item(
            "req-43",
            model_version="6b_finetuning",
            metadata={"locale": "de-DE"},
            sla_deadline=now + timedelta(minutes=30),
        )
    )
    at = login(start(), "reviewer1")
    assert errors(at) == []
    assert metric(at, "Pending reviews") == "2"
    assert metric(at, "Open at reviewer tier") == "2"
    assert metric(at, "Due within 1 h") == "1"
    assert metric(at, "Overdue") == "0"
    assert listed(at) == ["req-43", "req-42"]  # the nearer deadline first
    table = queue_table(at).value
    assert list(table["risk"]) == [0.8, 0.8]
    assert list(table["model version"]) == ["6b_finetuning", "175b_verification"]
    assert list(table["product"]) == ["tutor", "tutor"]
    assert list(table["why it was flagged"]) == ["arithmetic: 48 + 24 = 72, not 70"] * 2
    # Counts by reason, segment and model version, in one table with a bar per row.
    [counts] = [df.value for df in at.dataframe if "queue_table" not in (df.key or "")]
    assert list(zip(counts["by"], counts["value"], counts["items"], strict=True)) == [
        ("reason", "arithmetic", 2),
        ("segment", "locale=de-DE", 1),
        ("segment", "locale=en-US", 1),
        ("model version", "175b_verification", 1),
        ("model version", "6b_finetuning", 1),
    ]
    # The filter offers every view with its count; choosing one narrows the list.
    options = at.selectbox(key="queue_view").options
    assert "model:6b_finetuning  (1)" in options
    assert "segment:locale=de-DE  (1)" in options
    assert "check:arithmetic  (2)" in options
    assert "tier:reviewer  (2)" in options
    at.selectbox(key="queue_view").select("model:6b_finetuning").run()
    assert listed(at) == ["req-43"]
    at.selectbox(key="queue_view").select("all").run()
    assert listed(at) == ["req-43", "req-42"]
    # Selecting a row opens its item; back on the queue nothing is selected any more.
    at = click(open_item(at, "req-42"), "back")
    assert [t.value for t in at.title] == ["Review queue"] and listed(at) == ["req-43", "req-42"]
    assert [t.value for t in at.run().title] == ["Review queue"]


def test_queue_pages_and_never_reads_more_than_a_page(
    console_env: redis.Redis, make_item: MakeItem
) -> None:
    queue = ReviewQueue(console_env)
    queue.enqueue_many(
        make_item(f"p{n:02d}", risk_score=0.9 if n == 50 else 0.5) for n in range(51)
    )
    at = login(start(), "reviewer1")
    assert metric(at, "Pending reviews") == "51"
    assert listed(at)[0] == "p50"  # the riskiest comes first
    assert len(listed(at)) == 50
    assert "Page 1 of 2 (51 items)" in texts(at)
    at = click(at, "page_next")
    assert listed(at) == ["p49"]
    assert "Page 2 of 2 (51 items)" in texts(at)
    at = click(at, "page_prev")
    assert "Page 1 of 2 (51 items)" in texts(at)


def test_claim_next_claims_the_most_urgent_item_and_opens_it(
    console_env: redis.Redis, make_item: MakeItem
) -> None:
    queue = ReviewQueue(console_env)
    queue.enqueue(make_item("low", risk_score=0.1))
    queue.enqueue(make_item("high", risk_score=0.95))
    at = click(login(start(), "reviewer1"), "claim_next")
    assert errors(at) == [], errors(at)
    assert "high" in texts(at)  # the item page of the claimed item
    assert any("Claimed" in s.value for s in at.success)
    assert [c.reviewer for c in queue.claims("high")] == ["reviewer1"]
    assert any(e.value == FIRST_FAULTY for e in at.error)
    assert has_button(at, "approve") and has_button(at, "release")
    # Back to the queue; the next claim takes the other item.
    at = click(click(at, "back"), "claim_next")
    assert [c.reviewer for c in queue.claims("low")] == ["reviewer1"]
    # Nothing left that this reviewer may take.
    at = click(click(at, "back"), "claim_next")
    assert any("Nothing you may claim" in i.value for i in at.info)


def test_viewer_sees_the_queue_but_cannot_claim(
    console_env: redis.Redis, make_item: MakeItem
) -> None:
    ReviewQueue(console_env).enqueue(make_item("req-v"))
    at = login(start(), "viewer1")
    assert metric(at, "Pending reviews") == "1"
    assert not has_button(at, "claim_next")
    assert any("not claim" in i.value for i in at.info)
    # The page menu has no Team page for a viewer.
    assert at.sidebar.radio(key="nav").options == ["Queue", "Monitoring", "Alerts", "Checks"]


def test_logout_forgets_the_user(console_env: redis.Redis) -> None:
    at = click(login(start(), "lead1"), "logout")
    assert at.text_input(key="login_user")
