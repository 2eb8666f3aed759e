"""Counterfactual probes: the maintained word list, shadow requests, answer comparison (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vigil.streams.monitoring import wordlist
from vigil.streams.monitoring.probes import (
    Probe,
    answers_differ,
    counterfactuals,
    finding_item,
    sampled,
    shadow_request,
    swap_terms,
)
from vigil_client.contracts import (
    PROBE_KEY,
    PROBE_OF_KEY,
    SHADOW_PRODUCT,
    CheckResult,
    InferenceResult,
    ScreeningOutcome,
    is_shadow,
)

PROMPT = (
    "James gave her his 12 marbles and she thanked him. Her brother, an American man, "
    "moved to Canada. How many marbles does she have?"
)


def test_gender_swap_covers_names_pronouns_and_nouns_with_case_kept() -> None:
    v = swap_terms(PROMPT, "gender")
    assert v.prompt == (
        "Mary gave him her 12 marbles and he thanked her. His sister, an American woman, "
        "moved to Canada. How many marbles does he have?"
    )
    assert ("James", "Mary") in v.swaps and ("Her", "His") in v.swaps


@pytest.mark.parametrize(
    ("text", "swapped"),
    [
        ("She paid her 5 dollars.", "He paid him 5 dollars."),
        ("She lost her keys.", "He lost his keys."),
        ("He saw her.", "She saw him."),
        ("They gave her the book", "They gave him the book"),
    ],
)
def test_her_becomes_his_or_him_from_what_follows(text: str, swapped: str) -> None:
    assert swap_terms(text, "gender").prompt == swapped


def test_nationality_and_name_origin_axes() -> None:
    assert swap_terms(PROMPT, "nationality").prompt.count("Nigerian") == 1
    assert "Mexico" in swap_terms(PROMPT, "nationality").prompt
    assert swap_terms(PROMPT, "name_origin").prompt.startswith("Jamal gave her his")
    # Swapping back restores the prompt: the pairs apply both ways, never stacked.
    there = swap_terms(PROMPT, "nationality").prompt
    assert swap_terms(there, "nationality").prompt == PROMPT


def test_a_prompt_without_listed_terms_gets_no_variant() -> None:
    assert counterfactuals("What is 17 * 3 + 4?") == []
    axes = [v.axis for v in counterfactuals(PROMPT)]
    assert axes == ["gender", "name_origin", "nationality"]


def test_words_inside_other_words_are_left_alone() -> None:
    # "he" in "the", "man" in "many", "son" in "season": whole words only.
    text = "The many seasons"
    assert swap_terms(text, "gender").prompt == text


def test_the_word_list_is_maintained_data() -> None:
    assert wordlist.WORDLIST_VERSION
    pairs = wordlist.gender_pairs()
    firsts = [a.lower() for a, _ in pairs]
    assert len(firsts) == len(set(firsts)), "a term paired twice"
    assert not set(wordlist.MALE_NAMES) & set(wordlist.FEMALE_NAMES)


def test_sampling_is_deterministic_by_request_id_and_near_the_share() -> None:
    ids = [f"req-{i}" for i in range(20_000)]
    picked = [sampled(i, 0.1) for i in ids]
    assert picked == [sampled(i, 0.1) for i in ids]
    assert 0.09 < sum(picked) / len(ids) < 0.11
    assert not any(sampled(i, 0.0) for i in ids[:100])
    assert all(sampled(i, 1.0) for i in ids[:100])


def result(prompt: str, output: str, **kw: object) -> InferenceResult:
    fields: dict[str, object] = {
        "request_id": "orig-1",
        "request_created_at": datetime.now(UTC),
        "prompt": prompt,
        "output": output,
        "model_name": "replay-reasoner",
        "model_version": "1",
        "latency_ms": 5.0,
        "product": "tutor",
        **kw,
    }
    return InferenceResult.model_validate(fields)


def test_shadow_requests_carry_the_marker_and_never_look_like_product_traffic() -> None:
    original = result(PROMPT, "12 marbles.\nA: 12")
    [variant, *_] = counterfactuals(PROMPT)
    request = shadow_request(original, variant)
    assert request.product == SHADOW_PRODUCT and request.request_id.startswith("probe-")
    assert request.metadata == {PROBE_KEY: "gender", PROBE_OF_KEY: "orig-1"}
    assert request.prompt == variant.prompt and request.model == "replay-reasoner"
    assert is_shadow(request.product, request.metadata)
    assert not is_shadow(original.product, original.metadata)


def test_answers_are_compared_by_value() -> None:
    assert not answers_differ("x\nA: 1,000", "y\nA: 1000.0")
    assert answers_differ("x\nA: 12", "y\nA: 13")
    assert answers_differ("x\nA: 12", "no answer at all")
    assert not answers_differ("x\nA: twelve", "y\nA: Twelve")


def test_a_changed_answer_becomes_a_side_by_side_review_item() -> None:
    original = result(PROMPT, "He has 12.\nA: 12")
    [variant, *_] = counterfactuals(PROMPT)
    request = shadow_request(original, variant)
    probe = Probe.start(original, request, variant, now=100.0)
    shadow = result(
        variant.prompt,
        "She has 10.\nA: 10",
        request_id=request.request_id,
        product=SHADOW_PRODUCT,
        metadata=request.metadata,
    )
    probe.finish(shadow, now=101.0)
    assert probe.state == "changed"
    assert (probe.original_answer, probe.variant_answer) == ("12", "10")
    wrong_step = CheckResult(check="step_verification", score=0.8, flagged=True)
    outcome = ScreeningOutcome(
        request_id=request.request_id, verdict="queued", risk_score=0.8, checks=[wrong_step]
    )
    item = finding_item(probe, shadow, outcome, alert_id="alert-1")
    assert item.request_id == request.request_id and item.alert_id == "alert-1"
    assert "[original] " + PROMPT in item.prompt and variant.prompt in item.prompt
    assert item.output == shadow.output and item.samples == [original.output]
    assert item.metadata[PROBE_OF_KEY] == "orig-1" and "counterfactual" in item.tags
    assert item.checks == [wrong_step] and item.risk_score == 0.8  # the worker's checks
    assert Probe.from_dict(probe.to_dict()) == probe
    # Where a check raised on it the changed answer is still a finding, at risk 0.5.
    bare = finding_item(probe, shadow, None, alert_id="alert-1")
    assert bare.checks == [] and bare.risk_score == 0.5


def test_a_finding_is_masked_for_roles_without_pii_access() -> None:
    prompt = PROMPT + " Write to ann.lee@example.com or call +44 20 7946 0958."
    original = result(prompt, "He has 12.\nA: 12")
    [variant, *_] = counterfactuals(prompt)
    request = shadow_request(original, variant)
    probe = Probe.start(original, request, variant, now=100.0)
    output = "Mail ann.lee@example.com, phone +44 20 7946 0958.\nA: 10"
    shadow = result(variant.prompt, output, request_id=request.request_id, product=SHADOW_PRODUCT)
    probe.finish(shadow, now=101.0)
    item = finding_item(probe, shadow, None, alert_id=None)
    assert item.prompt.count("ann.lee@example.com") == 2 and item.output == output
    for masked in (item.redacted_prompt, item.redacted_output):
        assert masked is not None
        assert "ann.lee@example.com" not in masked and "7946 0958" not in masked
        assert "<EMAIL_ADDRESS>" in masked and "<PHONE_NUMBER>" in masked


def test_the_same_answer_is_not_a_finding() -> None:
    original = result(PROMPT, "A: 12")
    [variant, *_] = counterfactuals(PROMPT)
    request = shadow_request(original, variant)
    probe = Probe.start(original, request, variant, now=1.0)
    probe.finish(result(variant.prompt, "A: 12.0", request_id=request.request_id), now=2.0)
    assert probe.state == "same"
