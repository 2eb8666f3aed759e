"""The item page through AppTest against the real Redis: reading an item, claiming it, and every
decision (approve, reject, correct with edited steps and a diff, escalate, comment); roles
checked on the server; hostile text never reaches a Markdown-rendering element; PII masked."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.dashboard.apptest_helpers import (
    FIRST_FAULTY,
    HOSTILE,
    PASSWORD,
    claim,
    click,
    errors,
    field,
    has_button,
    login,
    markdowns,
    open_item,
    queue_table,
    start,
    texts,
)
from vigil.dashboard import actions
from vigil.dashboard.auth import User, hash_password
from vigil.dashboard.exceptions import PermissionDenied
from vigil.reviewers.queue import ReviewQueue
from vigil_client.contracts import CheckResult, Evidence, ReviewDecision, ReviewItem

MakeItem = Callable[..., ReviewItem]


def _opened(console: redis.Redis, make_item: MakeItem, user: str, rid: str, **kw: object):  # type: ignore[no-untyped-def]
    queue = ReviewQueue(console)
    item = make_item(rid, **kw)
    queue.enqueue(item)
    return queue, item, open_item(login(start(), user), rid)


def test_item_page_shows_steps_evidence_answer_and_why(
    console_env: redis.Redis, make_item: MakeItem
) -> None:
    _, item, at = _opened(console_env, make_item, "reviewer1", "req-42")
    shown = texts(at)
    assert item.prompt in shown
    assert [f"Step {n}" for n in range(1, 5)] == [t for t in shown if t.startswith("Step ")]
    assert "70" in shown  # the final answer
    # The first faulty step is marked, and its evidence sits under it with the span marked.
    assert [e.value for e in at.error] == [FIRST_FAULTY]
    assert "arithmetic (fired): 48 + 24 = 72, not 70" in shown
    # Each check explains itself; an unknown one says it is not measured.
    assert "arithmetic: FIRED, score 0.90" in shown
    assert "self_consistency: did not fire, score 0.40" in shown
    assert any(t.startswith("What it checks: Compares the answer with the k") for t in shown)
    assert "Reliability: not measured on labelled data (not in the eval run)." in shown
    # The shipped reliability file is measured single-output (k = 1), where self-consistency
    # has no samples and never fires: the console says so, with where it was measured.
    assert any(
        t.startswith("Reliability: it never fired on the labelled data") and "k = 1" in t
        for t in shown
    )
    assert "No extra samples were requested for this item." in shown
    assert has_button(at, "claim") and not has_button(at, "approve")


def test_evidence_span_is_marked_under_the_step(
    console_env: redis.Redis, make_item: MakeItem
) -> None:
    check = CheckResult(
        check="step_verification",
        score=1.0,
        flagged=True,
        evidence=[Evidence(message="48+24=72", step_index=2, span=(7, 19))],
        first_faulty_step=2,
    )
    at = _opened(console_env, make_item, "reviewer1", "req-span", checks=[check])[2]
    assert "Total: 48 + 24 = 70\n       ^^^^^^^^^^^^" in texts(at)
    assert any(t.startswith("Reliability: when it fires") for t in texts(at))


def test_verifier_reason_sits_under_its_step_as_a_models_opinion(
    console_env: redis.Redis, make_item: MakeItem
) -> None:
    check = CheckResult(
        check="verifier",
        score=0.8,
        flagged=True,
        evidence=[
            Evidence(
                message=f"model's opinion (vigil-verifier): step 2 is wrong: {HOSTILE}",
                step_index=1,
            )
        ],
        first_faulty_step=1,
    )
    at = _opened(console_env, make_item, "reviewer1", "req-verifier", checks=[check])[2]
    shown = texts(at)
    label = shown.index("verifier, a model's opinion, not a computed finding (fired):")
    assert shown.index("Step 2") < label < shown.index("Step 3")
    assert HOSTILE in shown[label + 1]
    assert all(HOSTILE not in m for m in markdowns(at))
    assert any(t.startswith("What it checks: A model on Triton read the solution") for t in shown)


def test_samples_are_shown_side_by_side(console_env: redis.Redis, make_item: MakeItem) -> None:
    samples = ["April: 48\nMay: 24\nA: 72", "A: 71"]
    _, item, at = _opened(console_env, make_item, "reviewer1", "req-k", samples=samples)
    shown = texts(at)
    assert {"Output (reviewed)", "Sample 2", "Sample 3"} <= set(shown)
    assert item.output in shown and samples[0] in shown and samples[1] in shown


def test_correcting_a_step_shows_the_diff_and_stores_the_correction(
    console_env: redis.Redis, make_item: MakeItem
) -> None:
    queue, item, at = _opened(console_env, make_item, "reviewer1", "req-42")
    at = claim(at)
    steps = at.text_area(key=field("edit_steps", "req-42"))
    assert steps.value == "\n".join(item.steps)
    assert at.selectbox(key=field("first_wrong_step", "req-42")).value == 2  # prefilled
    steps.input(steps.value.replace("48 + 24 = 70", "48 + 24 = 72"))
    at.text_input(key=field("corrected_answer", "req-42")).input("72")
    at.run()
    diff = next(c.value for c in at.code if c.language == "diff")
    assert "-Total: 48 + 24 = 70" in diff and "+Total: 48 + 24 = 72" in diff
    assert "-A: 70" in diff and "+A: 72" in diff
    at = click(at, "correct")
    assert errors(at) == [], errors(at)
    assert any("Decision recorded: correct" in s.value for s in at.success)

    decision = queue.decision("req-42")
    assert decision is not None and decision.decision == "correct"
    assert decision.reviewer == "reviewer1" and decision.tier == "reviewer"
    assert decision.corrected_answer == "72"
    assert decision.corrected_steps == [s.replace("= 70", "= 72") for s in item.steps]
    assert decision.first_wrong_step == 2
    assert decision.diff is not None and "+Total: 48 + 24 = 72" in decision.diff
    assert (decision.model_name, decision.model_version, decision.metadata) == (
        item.model_name,
        item.model_version,
        item.metadata,
    )
    assert queue.state("req-42") == "decided"
    [entry] = [
        e for e in queue.outbox_read("test-relay", block_ms=100) if e.topic == "review.decisions"
    ]
    assert entry.key == "req-42" and ReviewDecision.from_json(entry.value) == decision
    # The decided item shows its decision and diff, and offers no form.
    assert not has_button(at, "correct") and not has_button(at, "approve")
    assert any(t.startswith("correct by reviewer1 at ") for t in texts(at))
    assert any("+Total: 48 + 24 = 72" in c.value for c in at.code if c.language == "diff")


def test_a_correction_that_changes_nothing_is_refused(
    console_env: redis.Redis, make_item: MakeItem
) -> None:
    queue, _, at = _opened(console_env, make_item, "reviewer1", "req-same")
    at = click(claim(at), "correct")
    assert any("needs the corrected final answer or the edited steps" in e for e in errors(at))
    at.text_input(key=field("corrected_answer", "req-same")).input("70.00").run()
    at = click(at, "correct")
    assert any("changes nothing" in e for e in errors(at)), errors(at)
    assert queue.state("req-same") == "pending"


def test_lead_approves_and_reviewer_rejects_with_a_note(
    console_env: redis.Redis, make_item: MakeItem
) -> None:
    queue, _, at = _opened(console_env, make_item, "lead1", "req-ok")
    at = click(claim(at), "approve")
    assert errors(at) == [], errors(at)
    approved = queue.decision("req-ok")
    assert approved is not None and approved.decision == "approve"
    assert approved.reviewer == "lead1" and approved.corrected_answer is None

    queue.enqueue(make_item("req-no"))
    at = click(click(at, "back"), "claim_next")
    at.text_input(key=field("note", "req-no")).input("nonsense from step 1").run()
    at = click(at, "reject")
    rejected = queue.decision("req-no")
    assert rejected is not None and rejected.decision == "reject"
    assert rejected.comment == "nonsense from step 1" and rejected.first_wrong_step == 2


def test_escalation_needs_a_reason_and_moves_the_item_to_a_lead(
    console_env: redis.Redis, make_item: MakeItem
) -> None:
    queue, _, at = _opened(console_env, make_item, "reviewer1", "req-esc")
    at = click(claim(at), "escalate")
    assert any("needs a reason" in e for e in errors(at)), errors(at)
    assert at.selectbox(key=field("escalate_to", "req-esc")).options == ["lead", "ml_team"]
    at.text_input(key=field("escalate_reason", "req-esc")).input("unsure whether 24 is right")
    at = click(at.run(), "escalate")
    assert errors(at) == [], errors(at)
    assert any("Escalated to lead" in s.value for s in at.success)
    state = queue.review_state("req-esc")
    assert state is not None and state.tier == "lead" and state.state == "pending"
    assert queue.claims("req-esc") == []
    # The reviewer may not take it at the lead tier; the queue says why.
    at = click(at, "claim")
    assert any("tier lead" in e for e in errors(at)), errors(at)
    # A lead can, and decides it.
    lead = click(claim(open_item(login(start(), "lead1"), "req-esc")), "approve")
    assert errors(lead) == []
    final = queue.decision("req-esc")
    assert final is not None and final.reviewer == "lead1" and final.tier == "lead"


def test_comment_needs_no_claim(console_env: redis.Redis, make_item: MakeItem) -> None:
    queue, _, at = _opened(console_env, make_item, "reviewer1", "req-c")
    at.text_area(key=field("comment", "req-c")).input("step 2 looks odd").run()
    at = click(at, "add_comment")
    assert errors(at) == [], errors(at)
    [comment] = queue.decisions("req-c")
    assert comment.decision == "comment" and comment.comment == "step 2 looks odd"
    assert queue.state("req-c") == "pending"
    assert "step 2 looks odd" in [
        str(v) for df in at.dataframe for v in df.value.to_numpy().ravel()
    ]


def test_viewer_cannot_claim_decide_or_comment(
    console_env: redis.Redis, make_item: MakeItem
) -> None:
    queue, item, at = _opened(console_env, make_item, "viewer1", "req-view")
    assert any("can view items but not decide" in w.value for w in at.warning)
    for key in ("claim", "approve", "correct", "escalate", "add_comment", "claim_next_item"):
        assert not has_button(at, key), key
    # The functions behind the buttons refuse on their own (a forged message gets this far).
    viewer = User("viewer1", "viewer")
    with pytest.raises(PermissionDenied, match="role 'viewer'"):
        actions.claim(queue, viewer, "req-view")
    with pytest.raises(PermissionDenied, match="role 'viewer'"):
        actions.claim_next(queue, viewer)
    for kind in ("approve", "correct", "escalate", "comment"):
        with pytest.raises(PermissionDenied, match="role 'viewer'"):
            actions.decide(
                queue, viewer, item, kind, corrected_answer="72", reason="r", comment="c"
            )  # type: ignore[arg-type]
    assert queue.state("req-view") == "pending"
    assert queue.decisions("req-view") == [] and queue.claims("req-view") == []


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
    queue, item, at = _opened(console_env, make_item, "carol", "req-demoted")
    at = claim(at)
    held = actions.my_claim(queue, User("carol", "reviewer"), "req-demoted")
    assert held is not None

    users.write_text(f'[users.carol]\nrole = "viewer"\n{entry}\n')
    os.utime(users, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
    # The rerun of the press knows carol as a viewer: it renders no form, so the press
    # records nothing; and the action itself refuses her.
    at = click(at, "approve")
    assert not has_button(at, "approve")
    assert queue.state("req-demoted") == "pending"
    assert queue.decisions("req-demoted") == []
    with pytest.raises(PermissionDenied):
        actions.decide(queue, User("carol", "viewer"), item, "approve", held=held)
    # Nor can anyone decide under another reviewer's claim.
    with pytest.raises(PermissionDenied, match="claim"):
        actions.decide(queue, User("dave", "reviewer"), item, "approve", held=held)


def test_model_text_is_rendered_only_as_text(console_env: redis.Redis, make_item: MakeItem) -> None:
    queue = ReviewQueue(console_env)
    queue.enqueue(
        make_item(
            "req-hostile",
            prompt=f"Q {HOSTILE}",
            output=f"S {HOSTILE}\nfine\nA: A {HOSTILE}",
            steps=[f"S {HOSTILE}", "fine"],
            final_answer=f"A {HOSTILE}",
            model_version=f"v {HOSTILE}",
            product=f"p {HOSTILE}",
            metadata={"locale": f"l {HOSTILE}"},
            samples=[f"k {HOSTILE}"],
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
    table = queue_table(at).value  # a dataframe: its cells are drawn as text
    assert list(table["model version"]) == [f"v {HOSTILE}"]
    assert list(table["why it was flagged"]) == [f"arithmetic: E {HOSTILE}"]
    assert f"segment:locale=l {HOSTILE}  (1)" in at.selectbox(key="queue_view").options
    _assert_not_markdown(at)

    at = claim(open_item(at, "req-hostile"))
    shown = texts(at)
    for expected in (f"Q {HOSTILE}", f"S {HOSTILE}", f"A {HOSTILE}", f"k {HOSTILE}"):
        assert expected in shown, expected
    assert f"arithmetic (fired): E {HOSTILE}" in shown
    _assert_not_markdown(at)

    at.text_input(key=field("corrected_answer", "req-hostile")).input(f"fix {HOSTILE}")
    at.text_input(key=field("note", "req-hostile")).input(f"c {HOSTILE}")
    at = click(at.run(), "correct")
    assert queue.state("req-hostile") == "decided"
    assert f"fix {HOSTILE}" in texts(at)  # the stored decision, shown back
    _assert_not_markdown(at)


def _assert_not_markdown(at) -> None:  # type: ignore[no-untyped-def]
    for value in markdowns(at):
        for needle in ("**bold**", "example.invalid", "<script>"):
            assert needle not in value, value


PII_OUTPUT = "Mail bob@example.com for help\nTotal: 48 + 24 = 72\nA: 72"
PII_REDACTED = "Mail <EMAIL_ADDRESS> for help\nTotal: 48 + 24 = 72\nA: 72"


def test_personal_data_is_masked_unless_the_role_may_see_it(
    console_env: redis.Redis, make_item: MakeItem
) -> None:
    queue = ReviewQueue(console_env)
    queue.enqueue(
        make_item(
            "req-pii",
            prompt="Who helps Bob?",
            output=PII_OUTPUT,
            steps=PII_OUTPUT.splitlines()[:2],
            final_answer="72",
            first_faulty_step=None,
            samples=["Mail bob@example.com\nA: 71"],
            redacted_output=PII_REDACTED,
        )
    )
    at = open_item(login(start(), "reviewer1"), "req-pii")
    shown = texts(at)
    assert "Mail <EMAIL_ADDRESS> for help" in shown
    assert not any("bob@example.com" in t for t in shown)
    assert any("Samples are hidden" in i.value for i in at.info)
    # The correction form starts from the masked text, so nothing unmasked leaks into it.
    at = claim(at)
    assert "bob@example.com" not in at.text_area(key=field("edit_steps", "req-pii")).value
    at.text_input(key=field("corrected_answer", "req-pii")).input("73").run()
    at = click(at, "correct")
    assert errors(at) == [], errors(at)
    decision = queue.decision("req-pii")
    assert decision is not None and decision.corrected_answer == "73"
    assert decision.corrected_steps is None  # the steps were left as they were
    assert not any("bob@example.com" in t for t in texts(at))  # nor in the shown diff

    # A lead sees the unmasked text, the samples and the stored diff (the item is settled, so
    # it is opened by its link).
    lead = login(start(query={"item": "req-pii"}), "lead1")
    assert "Mail bob@example.com for help" in texts(lead)
    assert "Mail bob@example.com\nA: 71" in texts(lead)
    assert any("+A: 73" in c.value for c in lead.code if c.language == "diff")


def test_an_alert_link_opens_its_item_after_login(
    console_env: redis.Redis, make_item: MakeItem
) -> None:
    ReviewQueue(console_env).enqueue(make_item("req-link"))
    at = start(query={"item": "req-link"})
    assert at.text_input(key="login_user")  # the login comes first
    at = login(at, "reviewer1")
    assert "req-link" in texts(at) and has_button(at, "claim")
    at = click(at, "back")
    assert "Review queue" in [t.value for t in at.title]
    assert "item" not in at.query_params


def test_unknown_item_says_so(console_env: redis.Redis) -> None:
    at = login(start(query={"item": "nope"}), "reviewer1")
    assert any("does not exist" in e for e in errors(at))
