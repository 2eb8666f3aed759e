"""Pure parts of the review domain: corrections, policy, labels, the Lua clock format."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from tests.redis_fixtures import review_item
from tests.reviewers.helpers import decision
from vigil.exceptions import ConfigError
from vigil.reviewers import lua
from vigil.reviewers.correction import agreement_label, normalise_answer, prepare
from vigil.reviewers.exceptions import InvalidDecision
from vigil.reviewers.export import step_labels
from vigil.reviewers.outbox import DECISIONS_TOPIC, EVENTS_TOPIC, RELEASES_TOPIC
from vigil.reviewers.policy import ReviewPolicy, RouteRule, load_rules
from vigil.streams import topics

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_answers_are_compared_normalised() -> None:
    assert normalise_answer(" $1,200.00 ") == normalise_answer("1200") == "1200"
    assert normalise_answer("72.") == "72" and normalise_answer(None) == ""
    assert agreement_label(decision("x", "correct", corrected_answer="$72")) == "correct:72"
    assert agreement_label(decision("x", "reject")) == "reject"


def test_prepare_keeps_only_what_a_kind_may_carry() -> None:
    item = review_item("x")
    approved = prepare(item, decision("x", corrected_answer="5", diff="x"))
    assert approved.corrected_answer is None and approved.diff is None
    with pytest.raises(InvalidDecision, match="the decision is for 'y'"):
        prepare(item, decision("y"))


def test_step_labels_like_process_reward_data() -> None:
    assert step_labels(4, 2) == ["correct", "correct", "first_wrong", "after"]
    assert step_labels(2, None) == ["correct", "correct"]
    assert step_labels(2, 0) == ["first_wrong", "after"]


def test_policy_precedence_item_then_rule_then_default(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[rules.held]\nreviews_required = 3\nsla_s = 60\nhold_fallback = "release_as_is"\n'
        'assigned_reviewer = "ann"\n'
    )
    policy = ReviewPolicy(sla_s=600, risk_weight_s=100, rules=load_rules(rules))
    assert policy.rules["held"] == RouteRule(
        reviews_required=3, sla_s=60, hold_fallback="release_as_is", assigned_reviewer="ann"
    )
    ruled = policy.plan(review_item("a", route="held", enqueued_at=T0, risk_score=0.5))
    assert (ruled.required, ruled.sla_ms, ruled.hold_fallback, ruled.assigned) == (
        3,
        60_000,
        "release_as_is",
        "ann",
    )
    assert ruled.bonus_ms == 50_000
    own = policy.plan(
        review_item(
            "b",
            route="held",
            enqueued_at=T0,
            sla_deadline=T0 + timedelta(seconds=30),
            reviews_required=5,
            hold_fallback="block",
        )
    )
    assert (own.required, own.sla_ms, own.hold_fallback) == (5, 30_000, "block")
    default = policy.plan(review_item("c", enqueued_at=T0))
    assert (default.required, default.sla_ms, default.assigned) == (1, 600_000, "")
    bad = tmp_path / "bad.toml"
    bad.write_text("[rules.x]\nreviews_required = 0\n")
    with pytest.raises(ConfigError, match="invalid review rules"):
        load_rules(bad)


def test_topic_names_agree_with_streams() -> None:
    assert (EVENTS_TOPIC, DECISIONS_TOPIC, RELEASES_TOPIC) == (
        topics.REVIEW_EVENTS,
        topics.DECISIONS,
        topics.RELEASES,
    )
    prelude = lua.source("tick")
    for name in (EVENTS_TOPIC, DECISIONS_TOPIC, RELEASES_TOPIC):
        assert f"'{name}'" in prelude


def test_lua_iso_time_matches_python(redis_client: redis.Redis) -> None:
    # The scripts format event times themselves (Redis has no date functions).
    script = redis_client.register_script(
        lua.source("tick").split("\n-- The SLA clock")[0]
        + "\nlocal out = {} for i = 2, #ARGV do out[#out + 1] = iso(tonumber(ARGV[i])) end"
        + " return out"
    )
    rng = random.Random(3)
    stamps = [0, 951_782_400_000, 4_102_444_799_999] + [
        rng.randrange(0, 4_102_444_800_000) for _ in range(500)
    ]
    got = script(keys=[], args=["p", *stamps])
    for ms, text in zip(stamps, got, strict=True):
        expected = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
        assert datetime.fromisoformat(text.decode()) == expected, ms


def test_deadlines_round_up_to_the_millisecond() -> None:
    # Stored in whole ms; rounding down would let the SLA clock fire before the deadline.
    due = T0 + timedelta(microseconds=500_700)
    plan = ReviewPolicy().plan(review_item("x", enqueued_at=T0, sla_deadline=due))
    assert plan.deadline_ms == int(T0.timestamp() * 1000) + 501
