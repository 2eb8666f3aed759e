"""The checks on what current models write: any answer format, free-form arithmetic, the
step and span of a fault, number provenance, answer plausibility, and hostile input."""

from __future__ import annotations

import pytest

from vigil.streams.checks.computations import claims_in
from vigil.streams.checks.plausibility import check_plausibility
from vigil.streams.checks.provenance import check_provenance
from vigil.streams.checks.solution import parse_solution
from vigil.streams.checks.steps import check_parsed, check_steps

# --- the final answer, wherever the model put it -------------------------------------------


@pytest.mark.parametrize(
    ("text", "answer", "value", "source"),
    [
        ("So 3 * 60 = 180.\nThe total is \\(\\boxed{180}\\) minutes.", "180", 180, "boxed"),
        ("Total: \\boxed{\\$1{,}200}", "\\$1{,}200", 1200, "boxed"),
        ("We add 3 and 4.\nThe answer is 7.", "7", 7, "phrase"),
        ("We add 3 and 4.\nThe final answer is: $7.50", "$7.50", 7.5, "phrase"),
        ("Compute it.\nAnswer: 12 apples", "12 apples", 12, "phrase"),
        ("- 2 boxes x 6 = 12\n- so **12 eggs** in all", "12 eggs", 12, "bold"),
        ("### Step 1\n2 + 3 = 5\n## Final: 5", "5", 5, "bold"),
        (
            "He runs 3 sprints of 60 meters.\nSo James runs 540 meters a week.",
            "540",
            540,
            "closing",
        ),
        ("She has 16 - 3 = <<16-3=13>>13 left\nA: 13", "13", 13, "line"),
        ("She has 13 left\n#### 13", "13", 13, "line"),
        (
            "\\[ \\frac{3}{4} \\]\nThe answer is \\boxed{\\frac{3}{4}}.",
            "\\frac{3}{4}",
            0.75,
            "boxed",
        ),
        ("The share is \\boxed{25\\%}.", "25\\%", 25, "boxed"),
    ],
)
def test_answer_in_any_format(text: str, answer: str, value: float, source: str) -> None:
    parsed = parse_solution(text)
    assert parsed.answer is not None
    assert (parsed.final_answer, parsed.final_value, parsed.answer.source) == (
        answer,
        value,
        source,
    )


def test_steps_are_every_line_markdown_and_latex_included() -> None:
    text = "## Plan\n1. Add the eggs:\n\\[ 3 + 4 = 7 \\]\n- Then double: 7 * 2 = 14\n\nA: 14"
    parsed = parse_solution(text)
    assert [s.text for s in parsed.steps] == [
        "## Plan",
        "1. Add the eggs:",
        "\\[ 3 + 4 = 7 \\]",
        "- Then double: 7 * 2 = 14",
    ]
    assert parsed.final_value == 14


def test_prose_only_output_has_no_answer_and_says_so() -> None:
    result = check_steps("Let me think about the farmer and his cows carefully.")
    assert result.flagged
    assert any("no final answer" in e.message for e in result.evidence)
    assert not any("cut off" in e.message for e in result.evidence)
    assert result.first_faulty_step is None  # no step is wrong: nothing concludes


def test_truncated_at_max_tokens_is_cut_off() -> None:
    parsed = parse_solution("First, 3 * 4 = 12 eggs a day.\nThen over a week we get 12 * 7")
    result = check_parsed(parsed, output_tokens=64, max_tokens=64)
    assert result.score == 1.0
    assert any("token limit (64)" in e.message for e in result.evidence)
    # The same text without the token count: it ends on arithmetic it never works out.
    plain = check_parsed(parsed)
    assert plain.flagged and any("never works out" in e.message for e in plain.evidence)
    dangling = check_steps("First, 3 * 4 = 12 eggs a day.\nThen over a week we get 12 *")
    assert any("stops mid-expression" in e.message for e in dangling.evidence)


def test_open_latex_block_is_cut_off() -> None:
    result = check_steps("First we find the total:\n\\[ 3 \\times 4 = 12 \\text{ eggs")
    assert result.flagged and any("LaTeX" in e.message for e in result.evidence)


def test_a_complete_answer_without_an_answer_marker_is_not_cut_off() -> None:
    result = check_steps("He buys 3 packs of 4.\nSo he has 3 * 4 = 12 pencils.")
    assert not result.flagged, result.evidence


def test_repeated_lines_are_runaway_repetition() -> None:
    text = "We know that 5 + 5 = 10 apples.\n" * 6 + "The answer is 10."
    result = check_steps(text)
    assert result.flagged
    assert any("runaway repetition" in e.message and e.step_index == 1 for e in result.evidence)


# --- free-form arithmetic: found, recomputed, located --------------------------------------


@pytest.mark.parametrize(
    ("line", "lhs_value", "rhs_value"),
    [
        ("So 3 * 60 = 180 minutes.", 180, 180),
        ("Left: 50 - (10 + 5) = 35 dollars", 35, 35),
        ("\\[ \\frac{12}{4} = 3 \\]", 3, 3),
        (
            "\\( 1.25 \\text{ pounds/week} \\times 5 \\text{ weeks} = 6.25 \\text{ pounds} \\)",
            6.25,
            6.25,
        ),
        ("2 boxes x 1 pound per box = 2 pounds", 2, 2),
        ("That is $1,200 \\div 4 = $300 each", 300, 300),
        ("twice 8 is 16", 16, 16),
        ("12 divided by 4 is 3", 3, 3),
        ("A third: 10 / 3 = 3.33 hours", 10 / 3, 3.33),
        ("Tax is 20% * 50 = 10", 10, 10),
    ],
)
def test_claims_are_read(line: str, lhs_value: float, rhs_value: float) -> None:
    (claim,) = claims_in(line)
    assert claim.lhs_value == pytest.approx(lhs_value)
    assert claim.rhs_value == pytest.approx(rhs_value)


@pytest.mark.parametrize(
    "line",
    [
        "Solve 2x + 3 = 11 for x.",  # algebra, not arithmetic
        "Let x + 5 = 10.",
        "25% of 40 = 0.25 * 40 = 10",  # a restatement, then a right product
        "It was 2:30 + 1:15 = 3:45.",  # times of day
        "20 kb = \\frac{20}{1000} Mb",  # a conversion
    ],
)
def test_what_is_not_arithmetic_is_never_called_wrong(line: str) -> None:
    result = check_steps(line + "\nThe answer is 10.")
    assert not any("not " in e.message and "=" in e.message for e in result.evidence), result


def test_wrong_sum_names_the_step_and_span() -> None:
    text = (
        "The sugar weighs 2 pounds.\n"
        "Now add up: 2 + 48 + 3150 + 1300 = 3500 pounds.\n"
        "So he needs \\boxed{2} trips."
    )
    result = check_steps(text)
    assert result.flagged and result.first_faulty_step == 1
    ev = next(e for e in result.evidence if "4500" in e.message)
    assert ev.step_index == 1 and ev.span is not None
    line = text.splitlines()[1]
    assert line[ev.span[0] : ev.span[1]] == "2 + 48 + 3150 + 1300 = 3500 pounds"


def test_wrong_latex_fraction_is_found() -> None:
    result = check_steps("Each gets \\[ \\frac{12}{4} = 4 \\] cookies.\nThe answer is 4.")
    assert result.first_faulty_step == 0
    assert any("= 3, not 4" in e.message for e in result.evidence)


def test_wrong_verbal_arithmetic_is_found() -> None:
    result = check_steps("She has twice 8 is 18 marbles.\nThe answer is 18.")
    assert result.first_faulty_step == 0


def test_rounding_to_the_written_precision_is_accepted() -> None:
    result = check_steps("Speed: 10 / 3 = 3.33 minutes per mile.\nThe answer is 3.33.")
    assert not result.flagged, result.evidence
    whole = check_steps("He needs 10 / 3 = 3 buses.\nThe answer is 3.")
    assert whole.score < 0.5 and any("whole number" in e.message for e in whole.evidence)


def test_an_inline_computed_boxed_answer_follows_from_the_work() -> None:
    ok = check_steps("Adding them, we get 20 + 80 + 160 = \\boxed{260} sheep.")
    assert not ok.flagged, ok.evidence
    bad = check_steps("Adding them, we get 20 + 80 + 160 = \\boxed{250} sheep.")
    assert bad.flagged and bad.first_faulty_step == 0


def test_answer_that_follows_from_nothing_is_flagged_at_its_step() -> None:
    text = "She buys 6 * 4 = 24 apples.\nShe eats 3 of them.\nThe answer is \\boxed{97}."
    result = check_steps(text)
    assert result.flagged
    ev = next(e for e in result.evidence if "none of the numbers" in e.message)
    assert ev.step_index == 2


# --- number provenance -----------------------------------------------------------------------

QUESTION = "Tom has 12 apples and buys 5 bags of 3 apples. How many apples does he have?"


def test_numbers_from_the_question_and_earlier_steps_are_known() -> None:
    parsed = parse_solution(
        "He buys 5 * 3 = 15 apples.\nIn all 12 + 15 = 27 apples.\nThe answer is 27."
    )
    assert not check_provenance(QUESTION, parsed).evidence


def test_a_number_from_nowhere_is_named_with_its_step() -> None:
    parsed = parse_solution(
        "He buys 5 * 3 = 15 apples.\nHe then has 15 + 37 = 52 apples.\nThe answer is 52."
    )
    result = check_provenance(QUESTION, parsed)
    assert result.score > 0 and result.first_faulty_step == 1
    assert "37" in result.evidence[0].message


def test_constants_and_one_step_in_the_head_are_known() -> None:
    parsed = parse_solution("Over a week: 7 * 12 = 84.\nHe has 84 + 15 = 99.\nThe answer is 99.")
    # 7 days is a constant; 15 is 5 * 3, one operation on the question's numbers.
    assert not check_provenance(QUESTION, parsed).evidence


def test_number_words_in_the_question_count() -> None:
    parsed = parse_solution("Three friends: 3 * 4 = 12 cookies.\nThe answer is 12.")
    assert not check_provenance("Three friends get four cookies each.", parsed).evidence


# --- answer plausibility -----------------------------------------------------------------------


def test_a_fractional_count_is_implausible() -> None:
    result = check_plausibility("How many people came?", parse_solution("The answer is 12.5."))
    assert result.score >= 0.5 and "whole number" in result.evidence[0].message


def test_a_negative_amount_is_implausible() -> None:
    result = check_plausibility("How much money is left?", parse_solution("The answer is -4."))
    assert result.flagged


def test_money_with_three_decimals_and_a_passed_through_number_are_noted() -> None:
    money = check_plausibility("It costs $3. What is the price?", parse_solution("So $4.125."))
    assert 0 < money.score < 0.5
    same = check_plausibility("She had 12 apples. How many at first?", parse_solution("So 12."))
    assert 0 < same.score < 0.5 and not same.flagged


def test_a_plausible_answer_has_no_finding() -> None:
    result = check_plausibility("How many hours did it take?", parse_solution("So 2.5 hours."))
    assert result.score == 0


# --- hostile and odd input: a finding or a clean result, never an exception -----------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\n  ",
        "9" * 100_000,
        "1 + " * 20_000 + "1 = 2",
        "\\[ \\frac{1}{ \\boxed{ \\left( 3 \\times",
        "}}}}{{{{ \\boxed{ \\boxed{",
        "١٢ + ٣ = ١٥\nThe answer is ١٥.",  # noqa: RUF001
        "$$ 3 = 3 = 3 = 3 $$" * 500,
        "=" * 5000,
        "\x00\x01 2 + 2 = 5 \ufffd",
    ],
)
def test_hostile_input_never_raises(text: str) -> None:
    parsed = parse_solution(text)
    check_parsed(parsed)
    check_provenance("How many are there? 12 and 3.", parsed)
    check_plausibility("How many are there?", parsed)


def test_non_ascii_digits_are_read() -> None:
    result = check_steps("١٢ + ٣ = ١٦\nThe answer is 16.")
    assert result.first_faulty_step == 0


# --- self-doubt ------------------------------------------------------------------------------


def test_self_doubt_adds_risk_names_the_phrase_and_never_flags() -> None:
    from vigil.streams.checks.self_doubt import check_self_doubt

    steps = ("He has 3 apples.", "Wait, that doesn't make sense.", "Let me recheck: 3 + 2 = 5.")
    result = check_self_doubt(steps)
    assert result.score == 1.0 and not result.flagged and result.first_faulty_step is None
    assert [e.step_index for e in result.evidence] == [1, 1, 2]
    assert steps[1][slice(*result.evidence[0].span)] == "Wait"
    assert check_self_doubt(("He has 3 apples.", "So 3.")).score == 0
