"""Self-consistency, question coverage, answer stability and the final-answer check (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from vigil.streams.checks.base import AnswerRecord, CheckInput
from vigil.streams.checks.coverage import check_coverage
from vigil.streams.checks.self_consistency import check_self_consistency
from vigil.streams.checks.solution import parse_solution
from vigil.streams.checks.stability import (
    StabilityCheck,
    answer_label,
    append_history,
    check_stability,
    decode_history,
    encode_history,
    history_before,
)
from vigil.streams.checks.steps import check_steps
from vigil_client.contracts import InferenceResult

GOOD = "He has 3+4 = <<3+4=7>>7 apples\nThen 7*2 = <<7*2=14>>14 apples\nA: 14"
SAME_OTHER_WAY = "Twice 3 is <<3*2=6>>6 and twice 4 is <<4*2=8>>8\nSo 6+8 = <<6+8=14>>14\nA: 14"
WRONG = "He has 3+4 = <<3+4=7>>7 apples\nThen 7+2 = <<7+2=9>>9 apples\nA: 9"
OTHER = "He has 3*4 = <<3*4=12>>12 apples\nA: 12"


def _parsed(*texts: str):  # type: ignore[no-untyped-def]
    return [parse_solution(t) for t in texts]


# --- step verification: the final answer follows from the last step ---------------------


def test_final_answer_not_computed_by_the_last_step_is_flagged_there() -> None:
    text = "She buys 6*4 = <<6*4=24>>24 apples\nA: 42"
    result = check_steps(text)
    assert result.flagged
    assert result.first_faulty_step == 0
    ev = next(e for e in result.evidence if "final answer" in e.message)
    assert ev.step_index == 0
    assert ev.span is not None
    line = parse_solution(text).steps[0].text
    assert line[ev.span[0] : ev.span[1]] == "24"


def test_final_answer_written_in_the_last_step_is_fine() -> None:
    assert not check_steps("She has 24 apples left over\nA: 24").flagged
    assert not check_steps("So 1/4 = <<1/4=0.25>>25% of them\nA: 25").flagged


def test_rounded_final_answer_is_noted_not_flagged() -> None:
    result = check_steps("She needs 580/110 = <<580/110=5.2727>>5.27 bags\nA: 5")
    assert not result.flagged
    assert 0 < result.score < 0.5
    assert any("rounds" in e.message for e in result.evidence)


def test_a_wrong_early_step_is_the_first_faulty_step() -> None:
    text = "He has 3+4 = <<3+4=8>>8 apples\nThen 8*2 = <<8*2=16>>16\nA: 16"
    assert check_steps(text).first_faulty_step == 0


# --- self-consistency -------------------------------------------------------------------


def test_no_samples_is_neutral() -> None:
    result = check_self_consistency(parse_solution(GOOD), [])
    assert result.score == 0.0 and not result.flagged
    assert "no samples" in result.evidence[0].message


def test_samples_that_agree_are_low_risk() -> None:
    out, *samples = _parsed(GOOD, GOOD, SAME_OTHER_WAY, GOOD)
    result = check_self_consistency(out, samples)
    assert not result.flagged
    assert result.score < 0.1
    assert "3 of 3 samples" in result.evidence[0].message


def test_output_against_a_majority_is_flagged_with_the_rival_and_divergent_step() -> None:
    out, *samples = _parsed(WRONG, GOOD, GOOD, OTHER)
    result = check_self_consistency(out, samples)
    assert result.flagged
    assert result.score > 0.7
    messages = " | ".join(e.message for e in result.evidence)
    assert "0 of 3 samples" in messages and "2 of 3 samples answer 14" in messages
    # Step 2 (index 1) computes 9, which no sample reaches: where the output leaves them.
    assert result.first_faulty_step == 1
    divergent = next(e for e in result.evidence if e.step_index is not None)
    assert divergent.span is not None


def test_support_orders_the_score() -> None:
    scores = []
    for agreeing in range(4):
        samples = [GOOD] * agreeing + [OTHER] * (3 - agreeing)
        out, *parsed = _parsed(GOOD, *samples)
        scores.append(check_self_consistency(out, parsed).score)
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > scores[-1]


def test_missing_answer_never_agrees() -> None:
    out, *samples = _parsed("He thinks it over.", "He thinks it over.")
    assert check_self_consistency(out, samples).flagged


# --- question coverage ---------------------------------------------------------------------


def test_unused_question_numbers_are_counted() -> None:
    prompt = "Tom has 3 bags of 4 apples and 15 pears and 9 plums. How many apples?"
    result = check_coverage(prompt, "3*4 = <<3*4=12>>12\nA: 12")
    assert result.score == 0.5
    assert result.flagged
    assert "15" in result.evidence[0].message
    assert not check_coverage("Tom has 3 bags of 4 apples.", "3*4 = <<3*4=12>>12\nA: 12").flagged
    assert check_coverage("No numbers here.", "A: 1").score == 0.0


# --- answer stability ---------------------------------------------------------------------


def _record(rid: str, answer: str | None, version: str = "v1", at: float = 0.0) -> AnswerRecord:
    return AnswerRecord(request_id=rid, at=at, answer=answer, model_version=version)


def test_first_answer_is_not_unstable() -> None:
    result = check_stability("14", 1.0, [])
    assert not result.flagged and result.score == 0.0


def test_same_answer_again_is_stable_a_different_one_is_flagged() -> None:
    history = [_record("a", "14"), _record("b", "14")]
    assert not check_stability("14", 1.0, history).flagged
    changed = check_stability("9", 1.0, history)
    assert changed.flagged and changed.score == 1.0
    assert "2 of 2 earlier answers" in changed.evidence[0].message
    assert "v1" in changed.evidence[1].message


def test_history_is_bounded_and_records_a_request_once() -> None:
    history: tuple[AnswerRecord, ...] = ()
    for i in range(20):
        history = append_history(history, _record(f"r{i}", str(i)), max_len=5)
    assert [h.request_id for h in history] == ["r15", "r16", "r17", "r18", "r19"]
    again = append_history(history, _record("r17", "changed"), max_len=5)
    assert again == history


def test_a_redelivered_result_is_compared_with_what_came_before_it() -> None:
    history = (_record("a", "1"), _record("me", "2"), _record("b", "3"))
    assert history_before(history, "me") == history[:1]
    assert history_before(history, "new") == history
    result = InferenceResult(
        request_id="me",
        request_created_at=datetime.now(UTC),
        prompt="Q",
        output="A: 2",
        model_name="m",
        model_version="v1",
        latency_ms=0,
    )
    item = CheckInput.of(result, history)
    assert item.redelivered and item.history == history[:1]
    first = StabilityCheck().check(item)
    assert first.score == 1.0  # it differs from "1", the only answer before it


def test_history_wire_format_round_trips_and_tolerates_garbage() -> None:
    history = (_record("a", "14", at=1.5), _record("b", None, "v2", at=2.0))
    assert decode_history(encode_history(history)) == history
    assert decode_history(b"not json") == ()
    assert decode_history(None) == ()


def test_answer_label_compares_numbers_as_numbers() -> None:
    assert answer_label(5.0, "5.00") == answer_label(5.0, "5") == "5"
    assert answer_label(None, " Forty  Two ") == "forty two"
    assert answer_label(None, None) is None
