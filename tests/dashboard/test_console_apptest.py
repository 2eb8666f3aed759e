"""The console through Streamlit's AppTest, against the real Redis of tests/redis_fixtures.py."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from streamlit.testing.v1 import AppTest

from dashboard.auth import User, hash_password
from dashboard.views import submit_decision
from reviewers.exceptions import InvalidDecision
from reviewers.queue import ReviewQueue
from vigil.contracts import ReviewDecision, ReviewItem

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
PASSWORD = "test-password"  # see conftest.users_file
HOSTILE = "**bold** ![img](http://example.invalid/x.png) <script>alert(1)</script>"

MakeItem = Callable[..., ReviewItem]


def start() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


def login(at: AppTest, user: str, password: str = PASSWORD) -> AppTest:
    at.text_input(key="login_user").input(user)
    at.text_input(key="login_password").input(password)
    at.button(key="login_submit").click().run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> list[str]:
    return [str(e.value) for e in at.text] + [str(e.value) for e in at.code]


def markdowns(at: AppTest) -> list[str]:
    # Every element that renders Markdown: markdown (also st.write/st.caption/headers) etc.
    out = [str(e.value) for e in at.markdown] + [str(e.value) for e in at.caption]
    out += [str(e.value) for e in at.title] + [str(e.value) for e in at.subheader]
    out += [str(e.value) for e in at.header]
    out += [str(e.value) for e in at.success] + [str(e.value) for e in at.info]
    out += [str(e.value) for e in at.warning] + [str(e.value) for e in at.error]
    return out


def errors(at: AppTest) -> list[str]:
    """Error boxes, less the faulty-step marker (an st.error too, for its colour)."""
    return [e.value for e in at.error if e.value != "first faulty step"]


def pending_count(at: AppTest) -> str:
    return next(str(m.value) for m in at.metric if m.label == "Pending reviews")


def open_item(at: AppTest, request_id: str) -> AppTest:
    at.button(key=f"open:{request_id}").click().run()
    assert not at.exception, at.exception
    return at


def test_login_failure(console_env: redis.Redis) -> None:
    at = login(start(), "reviewer1", "wrong")
    assert any("Wrong user name or password" in e.value for e in at.error)
    assert at.text_input(key="login_user")  # still on the login form
    at = login(at, "nobody")
    assert any("Wrong user name or password" in e.value for e in at.error)


def test_login_lists_pending_item_and_correcting_stores_decision(
    console_env: redis.Redis, make_item: MakeItem
) -> None:
    queue = ReviewQueue(console_env)
    item = make_item("req-42")
    queue.enqueue(item)

    at = login(start(), "reviewer1")
    assert not at.error
    assert pending_count(at) == "1"
    shown = texts(at)
    assert "req-42" in shown
    assert "0.80" in shown and "175b_verification" in shown
    assert "arithmetic: 48 + 24 = 72, not 70" in shown

    at = open_item(at, "req-42")
    shown = texts(at)
    assert item.prompt in shown
    assert all(step in shown for step in item.steps)
    assert "70" in shown  # the final answer
    assert any("first faulty step" in e.value for e in at.error)
    assert "arithmetic: 48 + 24 = 72, not 70" in shown  # evidence at the faulty step

    at.text_input(key="corrected_answer").input("72")
    at.number_input(key="first_wrong_step").set_value(3)
    at.text_area(key="comment").input("adds wrong in step 3")
    at.button(key="correct").click().run()
    assert not at.exception, at.exception
    assert errors(at) == [], errors(at)
    assert any("Decision recorded: correct" in e.value for e in at.success)

    decision = queue.decision("req-42")
    assert decision is not None
    assert decision.decision == "correct"
    assert decision.reviewer == "reviewer1"
    assert decision.corrected_answer == "72"
    assert decision.first_wrong_step == 2  # an index into steps; the form shows step 3
    assert decision.comment == "adds wrong in step 3"
    assert (decision.model_name, decision.model_version) == (item.model_name, item.model_version)
    assert (decision.product, decision.tenant, decision.metadata) == (
        item.product,
        item.tenant,
        item.metadata,
    )
    assert queue.state("req-42") == "decided"
    [entry] = queue.outbox_read("test-relay", block_ms=100)
    assert entry.key == "req-42" and entry.dedupe == decision.decision_id
    assert ReviewDecision.from_json(entry.value) == decision

    # The decided item shows its decision and offers no form; back to an empty queue.
    assert not _has_key(at, "correct")
    assert any(t.startswith("correct by reviewer1 at ") for t in texts(at))
    at.button(key="back").click().run()
    assert pending_count(at) == "0"


def test_queue_pages_by_50(console_env: redis.Redis, make_item: MakeItem) -> None:
    queue = ReviewQueue(console_env)
    for n in range(51):
        queue.enqueue(make_item(f"p{n:02d}", risk_score=0.9 if n == 50 else 0.5))
    at = login(start(), "reviewer1")
    assert pending_count(at) == "51"
    assert _has_key(at, "open:p50")  # the riskiest comes first
    assert sum(b.key.startswith("open:") for b in at.button if b.key) == 50
    assert "Page 1 of 2" in texts(at)
    at.button(key="page_next").click().run()
    assert [b.key for b in at.button if b.key and b.key.startswith("open:")] == ["open:p49"]
    assert "Page 2 of 2" in texts(at)
    at.button(key="page_prev").click().run()
    assert "Page 1 of 2" in texts(at)


def test_lead_can_approve(console_env: redis.Redis, make_item: MakeItem) -> None:
    queue = ReviewQueue(console_env)
    queue.enqueue(make_item("req-ok"))
    at = open_item(login(start(), "lead1"), "req-ok")
    at.button(key="approve").click().run()
    assert not at.exception and errors(at) == []
    decision = queue.decision("req-ok")
    assert decision is not None and decision.decision == "approve" and decision.reviewer == "lead1"
    assert decision.corrected_answer is None


def test_correct_without_answer_is_refused(console_env: redis.Redis, make_item: MakeItem) -> None:
    queue = ReviewQueue(console_env)
    queue.enqueue(make_item("req-empty"))
    at = open_item(login(start(), "reviewer1"), "req-empty")
    at.button(key="correct").click().run()
    assert any("needs the corrected final answer" in e.value for e in at.error)
    assert queue.state("req-empty") == "pending"


def test_viewer_cannot_decide(console_env: redis.Redis, make_item: MakeItem) -> None:
    queue = ReviewQueue(console_env)
    item = make_item("req-view")
    queue.enqueue(item)
    at = open_item(login(start(), "viewer1"), "req-view")
    assert any("can view items but not decide" in e.value for e in at.warning)
    # Submitting anyway is refused by the server-side check, and nothing is recorded.
    at.text_input(key="corrected_answer").input("72")
    at.button(key="correct").click().run()
    assert any("role 'viewer'" in e for e in errors(at)), errors(at)
    at.button(key="approve").click().run()
    assert any("role 'viewer'" in e for e in errors(at)), errors(at)
    # The function behind the buttons checks the role itself.
    with pytest.raises(InvalidDecision, match="role 'viewer'"):
        submit_decision(queue, User("viewer1", "viewer"), item, "correct", corrected_answer="72")
    assert queue.state("req-view") == "pending"
    assert queue.outbox_length() == 0


def test_role_is_checked_on_submit_not_only_when_rendering(
    console_env: redis.Redis,
    make_item: MakeItem,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reviewer demoted to viewer while the form is open cannot submit it any more."""
    users = tmp_path / "users.toml"
    entry = f'password = "{hash_password(PASSWORD)}"'
    users.write_text(f'[users.carol]\nrole = "reviewer"\n{entry}\n')
    monkeypatch.setenv("VIGIL_USERS_FILE", str(users))
    queue = ReviewQueue(console_env)
    queue.enqueue(make_item("req-demoted"))
    at = open_item(login(start(), "carol"), "req-demoted")
    assert not at.warning

    users.write_text(f'[users.carol]\nrole = "viewer"\n{entry}\n')
    os.utime(users, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
    at.text_input(key="corrected_answer").input("72")
    at.button(key="correct").click().run()
    assert any("role 'viewer'" in e for e in errors(at)), errors(at)
    assert queue.state("req-demoted") == "pending"
    assert queue.outbox_length() == 0


def test_model_text_is_rendered_only_as_text(console_env: redis.Redis, make_item: MakeItem) -> None:
    queue = ReviewQueue(console_env)
    queue.enqueue(
        make_item(
            "req-hostile",
            prompt=f"Q {HOSTILE}",
            steps=[f"S {HOSTILE}", "fine"],
            final_answer=f"A {HOSTILE}",
            model_version=f"v {HOSTILE}",
            first_faulty_step=0,
            checks=[
                {
                    "check": "arithmetic",
                    "score": 0.9,
                    "flagged": True,
                    "evidence": [{"message": f"E {HOSTILE}", "step_index": 0}],
                }
            ],
        )
    )
    at = login(start(), "reviewer1")
    assert f"v {HOSTILE}" in texts(at)
    assert f"arithmetic: E {HOSTILE}" in texts(at)
    _assert_not_markdown(at)

    at = open_item(at, "req-hostile")
    shown = texts(at)
    for expected in (f"Q {HOSTILE}", f"S {HOSTILE}", f"A {HOSTILE}", f"arithmetic: E {HOSTILE}"):
        assert expected in shown
    _assert_not_markdown(at)

    at.text_input(key="corrected_answer").input(f"fix {HOSTILE}")
    at.text_area(key="comment").input(f"c {HOSTILE}")
    at.button(key="correct").click().run()
    assert queue.state("req-hostile") == "decided"
    assert f"fix {HOSTILE}" in texts(at)  # the stored decision, shown back
    _assert_not_markdown(at)


def _assert_not_markdown(at: AppTest) -> None:
    for value in markdowns(at):
        for needle in ("**bold**", "example.invalid", "<script>"):
            assert needle not in value, value


def _has_key(at: AppTest, key: str) -> bool:
    try:
        at.button(key=key)
    except KeyError:
        return False
    return True
