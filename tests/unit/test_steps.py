"""Parsing solutions and the ``step_verification`` check, on synthetic and real GSM8K text."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from vigil.streams.checks import (
    Annotation,
    check_steps,
    final_answer,
    normalise_answer,
    parse_solution,
)
from vigil.streams.checks.solution import stated_expression
from vigil.streams.checks.steps import CHECK_NAME
from vigil_client.contracts import CheckResult

DATA = Path(__file__).resolve().parents[2].parent / "shared/data/gsm8k/model_solutions.jsonl"
VARIANTS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")

CLEAN = (
    "It takes 2/2=<<2/2=1>>1 bolt of white fiber\n"
    "So the total amount of fabric is 2+1=<<2+1=3>>3 bolts of fabric\n"
    "A: 3"
)
# Real fault from the data README: the model wrote 195,000 where the calculator said 19500.
WRONG_WRITTEN = (
    "He spent 80,000+50,000 = $<<80000+50000=130000>>130,000\n"
    "He increased the value of the house by 150% so the house is worth "
    "130,000*.15 = $<<130000*.15=19500.0>>195,000\n"
    "A: 65000"
)


# --- parse_solution -------------------------------------------------------------------


def test_parse_steps_annotations_and_answer() -> None:
    parsed = parse_solution(WRONG_WRITTEN)
    assert len(parsed.steps) == 2  # the A: line is not a step
    assert [s.index for s in parsed.steps] == [0, 1]
    assert parsed.final_answer == "65000"
    assert parsed.final_value == 65000
    ann = parsed.steps[1].annotations[0]
    assert ann == Annotation(expr="130000*.15", claimed="19500.0", written="195,000", span=ann.span)
    assert parsed.steps[1].text[ann.span[0] : ann.span[1]] == "<<130000*.15=19500.0>>"


def test_parse_skips_blank_lines_and_accepts_hash_answer() -> None:
    parsed = parse_solution("\n  Step one 1+1=<<1+1=2>>2.  \n\n#### 2\n")
    assert len(parsed.steps) == 1
    assert parsed.steps[0].text == "Step one 1+1=<<1+1=2>>2."
    assert parsed.steps[0].annotations[0].written == "2"  # the full stop is not a decimal
    assert parsed.final_value == 2


def test_parse_annotation_shapes() -> None:
    step = parse_solution(
        "a <<A+4=4+4=8>>8 b <<83.33>> c <<2*3=6>> d <<1/2=0.5>>1/2 cup e <<3-5=-2>>-2"
    ).steps[0]
    chain, no_eq, no_written, fraction, negative = step.annotations
    assert (chain.expr, chain.claimed, chain.written) == ("A+4=4+4", "8", "8")
    assert (no_eq.expr, no_eq.claimed) == ("83.33", None)
    assert no_written.written is None
    assert fraction.written == "1/2"
    assert negative.written == "-2"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("so he made 195,000*.05 = $<<19500*.05=975.0>>975", "195,000*.05"),
        ("it takes 2 x 0.5 = <<2*0.5=1.0>>1.0 bolts", "2 x 0.5"),
        ("It is 16 - 3=<<16-3=13>>13", "16 - 3"),
        ("4 hours * 1/2 = <<4*1/2=2.0>>2 hours", None),  # left operand is prose
        ("The total is <<2+3=5>>5", None),  # nothing written before
        ("He has 5 = <<2+3=5>>5", None),  # a number, not an expression
        ("temperature is - 6 + 3 = <<-6+3=-3>>-3", None),  # a dash, not a minus
    ],
)
def test_stated_expression(line: str, expected: str | None) -> None:
    assert stated_expression(line, line.index("<<")) == expected


def test_parse_without_answer() -> None:
    parsed = parse_solution("He pays 20+4 = $<<20+4=24>>24.\nSo the price is $41.472+$8.")
    assert parsed.final_answer is None
    assert parsed.final_value is None
    assert len(parsed.steps) == 2


def test_final_answer_and_normalise() -> None:
    assert final_answer("x\nA: 90,000\n") == "90,000"
    assert final_answer("x\n#### 72") == "72"
    assert final_answer("no answer here") is None
    assert final_answer("So he runs 540 meters a week.") == "540"
    assert final_answer("A:   \n") is None
    assert normalise_answer("90,000") == 90000
    assert normalise_answer("$5") == 5
    assert normalise_answer("5.00") == 5
    assert normalise_answer("5.") == 5
    assert normalise_answer("-129025") == -129025
    assert normalise_answer("25%") == 25
    assert normalise_answer("1/2") == 0.5
    assert normalise_answer("5 apples") == 5  # a unit after the number
    assert normalise_answer("\\$1{,}200") == 1200
    assert normalise_answer("\\frac{3}{4}") == 0.75
    assert normalise_answer("four apples") is None
    assert normalise_answer("") is None


# --- check_steps: clean input ------------------------------------------------------------


def test_clean_solution_passes() -> None:
    result = check_steps(CLEAN)
    assert isinstance(result, CheckResult)
    assert result.check == CHECK_NAME == "step_verification"
    assert (result.flagged, result.score, result.first_faulty_step) == (False, 0.0, None)
    assert result.evidence == []


@pytest.mark.parametrize(
    "line",
    [
        "Each piece is 4/12 = <<4/12=0.3333333333333333>>0.33 feet",  # rounded at 2 places
        "Each piece is 2/3 = <<2/3=0.67>>0.66 feet",  # cut at 2 places
        "Each piece is 1/3 = <<1/3=0.33>>0.33 feet",  # claimed at fewer decimals
        "That is 20/100*24 = $<<20/100*24=4.800000000000001>>4.8.",  # float noise
        "That is 2 x 0.5 = <<2*0.5=1.0>>1.0 bolts",
        "So 80,000*1.5 = $<<80000*1.5=120000>>120,000",
        "The share is 1/4 = <<1/4=0.25>>25%",
        "It is 12 - 20 = <<12-20=-8>>-8 degrees",
        "So 100% - 12% = <<100-12=88>>88% remains",  # percent points in the text
        "A third is 9 emails * 1/3 = <<9*1/3=3.0>>3 emails",  # text fragment: not compared
    ],
)
def test_accepts_rounding_and_written_conventions(line: str) -> None:
    ann = parse_solution(line).steps[0].annotations[0]
    # The answer follows from the step (else the answer-follows finding would fire).
    result = check_steps(line + f"\nA: {ann.written or ann.claimed}")
    assert not result.flagged, result.evidence


# --- check_steps: the real faults --------------------------------------------------------


def test_flags_wrong_number_written_after_annotation() -> None:
    result = check_steps(WRONG_WRITTEN)
    assert result.flagged
    assert result.score == 1.0
    assert result.first_faulty_step == 1
    messages = [e.message for e in result.evidence]
    assert "step 2: 130000*.15 = 19500 but the text says 195,000" in messages
    evidence = next(e for e in result.evidence if "195,000" in e.message)
    assert evidence.step_index == 1
    assert evidence.span is not None


def test_flags_wrong_arithmetic_in_annotation() -> None:
    result = check_steps("First 3+4 = <<3+4=7>>7\nThen 2*3 = <<2*3=7>>7\nA: 7")
    assert result.flagged and result.score == 1.0
    assert result.first_faulty_step == 1
    assert result.evidence[0].message == "step 2: 2*3 = 6, not 7 (the text says 7)"


def test_flags_text_arithmetic_that_disagrees_with_annotation() -> None:
    text = "He made 195,000*.05 = $<<19500*.05=975.0>>975\nA: 975"
    result = check_steps(text)
    assert result.flagged
    assert result.first_faulty_step == 0
    assert "the text writes 195,000*.05" in result.evidence[0].message


def test_flags_wrong_chain_part() -> None:
    result = check_steps("So 50 = 50-20-60 = <<50=50-20-60=50>>50 people\nA: 50")
    assert result.flagged
    assert any("50-20-60 = -30" in e.message for e in result.evidence)


def test_flags_fraction_cut_to_whole_number() -> None:
    result = check_steps("Each gets 5/3 = <<5/3=1.6666666666666667>>1 cookie\nA: 1")
    assert result.flagged
    assert 0.5 <= result.score < 1.0
    assert "whole number" in result.evidence[0].message


def test_flags_missing_answer_when_cut_off() -> None:
    text = (
        "In the first two months the price rises by 20/100*20 = $<<20/100*20=4.0>>4.\n"
        "So the price of a bag of marbles will be $41.472+$8."
    )
    result = check_steps(text)
    # The last sentence ends on arithmetic it never works out: evidence of a cut, at the
    # last step (which says where it shows, not that the step is wrong).
    assert result.flagged and result.score == 0.8
    assert result.first_faulty_step is None
    assert any("never works out" in e.message and e.step_index == 1 for e in result.evidence)


def test_flags_unreadable_answer() -> None:
    result = check_steps("Two and two make 2+2=<<2+2=4>>4\nA: four apples")
    assert result.flagged
    assert any("is not a number" in e.message for e in result.evidence)


def test_accepts_answer_written_with_separators() -> None:
    text = "He made 130,000-40,000=$<<130000-40000=90000>>90,000\nA: 90,000"
    result = check_steps(text)
    assert not result.flagged, result.evidence


def test_flags_runaway_digits_cut_off() -> None:
    text = "Each piece is 4/12 = <<4/12=0.3333333333333333>>0." + "3" * 600
    result = check_steps(text)
    assert result.flagged
    assert any("runaway repetition" in e.message for e in result.evidence)


def test_flags_repeated_lines() -> None:
    loop = "Subtracting x from both sides, we get 33 = 2x\nDividing both sides by 2, we get 16\n"
    result = check_steps("Let x be the votes.\n" + loop * 4 + "A: 16")
    assert result.flagged
    assert result.score >= 0.9
    assert result.first_faulty_step == 3  # where the loop starts over
    assert "runaway repetition" in result.evidence[0].message


def test_flags_repeated_phrase_within_lines() -> None:
    phrase = "and this is the same amount of time as the previous lap "
    result = check_steps("The laps take 5 minutes " + phrase * 6 + "\nA: 5")
    assert result.flagged
    assert any("runaway repetition" in e.message for e in result.evidence)


def test_templated_steps_with_changing_numbers_are_not_repetition() -> None:
    lines = [
        f"On day {d} it grows {2**d}*2 = <<{2**d}*2={2 ** (d + 1)}>>{2 ** (d + 1)} cm"
        for d in range(6)
    ]
    result = check_steps("\n".join(lines) + "\nA: 64")
    assert not result.flagged, result.evidence


def test_unparseable_annotation_is_weak_evidence_only() -> None:
    result = check_steps("Let x+56 = <<x+56=86>>86 so x is 30\nA: 30")
    assert not result.flagged
    assert 0 < result.score < 0.5
    assert result.first_faulty_step is None
    assert "cannot check" in result.evidence[0].message


def test_handles_odd_input_without_raising() -> None:
    for text in ["", "A: 5", "<<", "<<>>", "<<=>>", "<<1/0=5>>5\nA: 5", "<<" + "9" * 500 + "=1>>"]:
        result = check_steps(text)
        assert 0.0 <= result.score <= 1.0


def test_evidence_is_bounded() -> None:
    result = check_steps("2*3 = <<2*3=7>>7\n" * 500 + "A: 7")
    assert result.flagged
    assert len(result.evidence) <= 20


# --- over the real data --------------------------------------------------------------------


@pytest.mark.skipif(not DATA.exists(), reason="shared GSM8K data not present")
def test_runs_over_all_model_solutions() -> None:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    totals = {"flagged_wrong": 0, "flagged": 0, "unflagged_wrong": 0, "unflagged": 0}
    elapsed = 0.0
    for variant in VARIANTS:
        counts = dict.fromkeys(totals, 0)
        for row in rows:
            output = row[variant]
            start = time.perf_counter()
            result = check_steps(output["solution"])
            elapsed += time.perf_counter() - start
            key = "flagged" if result.flagged else "unflagged"
            counts[key] += 1
            counts[f"{key}_wrong"] += not output["is_correct"]
        for key, value in counts.items():
            totals[key] += value
        print(
            f"{variant}: flagged {counts['flagged']}/{len(rows)}, wrong among flagged "
            f"{counts['flagged_wrong']}/{counts['flagged']}, among unflagged "
            f"{counts['unflagged_wrong']}/{counts['unflagged']}"
        )
    n = len(rows) * len(VARIANTS)
    per_solution_ms = elapsed / n * 1000
    print(f"{n} solutions, {per_solution_ms:.3f} ms each")
    assert per_solution_ms < 5  # generous: a sanity bound, not a benchmark
    # A general property, not a tuned threshold: flags should mark the wrong ones.
    assert totals["flagged"] > 0
    flagged_wrong = totals["flagged_wrong"] / totals["flagged"]
    unflagged_wrong = totals["unflagged_wrong"] / totals["unflagged"]
    assert flagged_wrong > unflagged_wrong
