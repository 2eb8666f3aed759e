"""The self-consistency budget: extra generations per second and share of requests."""

from __future__ import annotations

from inference.sample_budget import SampleBudget, rule_samples
from vigil.contracts import InferenceRequest
from vigil.settings import SampleRule


def test_the_rate_budget_refills_over_time_and_never_denies_the_first_generation() -> None:
    clock = [0.0]
    budget = SampleBudget(per_s=4.0, share=1.0, clock=lambda: clock[0])
    asks = [budget.plan(InferenceRequest(prompt="q", samples=3)) for _ in range(3)]
    assert [p.granted for p in asks] == [3, 3, 1]  # 4 extras in the bucket: 2 + 2 + 0
    assert asks[2].degraded == "sample_budget" and asks[2].requested == 3
    clock[0] += 0.25
    assert budget.plan(InferenceRequest(prompt="q", samples=3)).granted == 2
    clock[0] += 100  # the bucket holds one second's worth, not 100 s of idle time
    assert [budget.plan(InferenceRequest(prompt="q", samples=8)).granted for _ in range(2)] == [
        5,
        1,
    ]
    assert budget.extras_granted == 9


def test_no_budget_means_one_sample_each_and_plain_requests_are_untouched() -> None:
    budget = SampleBudget(per_s=0.0, share=1.0)
    plan = budget.plan(InferenceRequest(prompt="q", samples=4))
    assert (plan.requested, plan.granted, plan.degraded) == (4, 1, "sample_budget")
    plain = budget.plan(InferenceRequest(prompt="q"))
    assert (plain.requested, plain.granted, plain.degraded) == (1, 1, None)


def test_the_share_bounds_how_many_requests_get_extras() -> None:
    budget = SampleBudget(per_s=1000.0, share=0.25, window=100)
    granted = [budget.plan(InferenceRequest(prompt="q", samples=2)).granted for _ in range(100)]
    with_extras = sum(1 for g in granted if g > 1)
    assert with_extras == 25


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
