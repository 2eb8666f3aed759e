"""Self-consistency samples: decided from the request alone, paced by a rate budget."""

from __future__ import annotations

import pytest

from vigil.inference.sample_budget import SampleBudget, rule_samples, share_point
from vigil.settings import SampleRule
from vigil_client.contracts import InferenceRequest


def _ask(rid: str, k: int = 3) -> InferenceRequest:
    return InferenceRequest(request_id=rid, prompt="q", samples=k)


def test_the_same_request_gets_the_same_samples_whatever_the_process_did_before() -> None:
    # A re-delivered request (a gateway killed before its transaction committed) meets a
    # budget in another state: a fresh process, or one that spent its tokens. Same plan.
    busy = SampleBudget(per_s=2.0, share=0.5, clock=lambda: 0.0)
    for i in range(50):
        busy.delay_for(busy.plan(_ask(f"other-{i}")).granted - 1)
    for i in range(200):
        rid = f"req-{i}"
        fresh = SampleBudget(per_s=2.0, share=0.5)
        assert busy.plan(_ask(rid)) == fresh.plan(_ask(rid))


def test_the_share_is_a_stable_hash_of_the_request_id() -> None:
    budget = SampleBudget(per_s=1000.0, share=0.25)
    plans = [budget.plan(_ask(f"r-{i}", 2)) for i in range(4000)]
    with_extras = sum(1 for p in plans if p.granted > 1)
    assert 0.22 < with_extras / 4000 < 0.28
    cut = [p for p in plans if p.granted == 1]
    assert all(p.requested == 2 and p.degraded == "sample_budget" for p in cut)
    assert share_point("r-1") == share_point("r-1") and 0 <= share_point("r-1") < 1
    assert budget.extras_granted == 4000 - len(cut)


def test_no_rate_means_one_sample_each_and_plain_requests_are_untouched() -> None:
    budget = SampleBudget(per_s=0.0, share=1.0)
    plan = budget.plan(InferenceRequest(prompt="q", samples=4))
    assert (plan.requested, plan.granted, plan.degraded) == (4, 1, "sample_budget")
    plain = budget.plan(InferenceRequest(prompt="q"))
    assert (plain.requested, plain.granted, plain.degraded) == (1, 1, None)


def test_the_rate_paces_extras_instead_of_cutting_them() -> None:
    clock = [0.0]
    budget = SampleBudget(per_s=4.0, share=1.0, clock=lambda: clock[0])
    # The bucket holds one second (4 extras) and starts full.
    assert [budget.delay_for(2), budget.delay_for(2)] == [0.0, 0.0]
    assert budget.delay_for(2) == pytest.approx(0.5)  # 2 extras of debt at 4/s
    assert budget.delay_for(1) == pytest.approx(0.75)  # behind the ones already waiting
    clock[0] += 100  # idle time refills one second's worth, not 100 s
    assert budget.delay_for(4) == 0.0
    assert budget.delay_for(1) == pytest.approx(0.25)


def test_rules_raise_k_for_matching_requests_only() -> None:
    rules = [
        SampleRule(match={"tenant": "acme"}, samples=3),
        SampleRule(match={"metadata.locale": "de-DE", "model": "replay-reasoner"}, samples=5),
    ]
    assert rule_samples(InferenceRequest(prompt="q", tenant="acme"), rules) == 3
    assert rule_samples(InferenceRequest(prompt="q", tenant="acme", samples=4), rules) == 4
    de = InferenceRequest(prompt="q", tenant="acme", metadata={"locale": "de-DE"})
    assert rule_samples(de, rules) == 5
    assert rule_samples(InferenceRequest(prompt="q", metadata={"locale": "en-GB"}), rules) == 1
