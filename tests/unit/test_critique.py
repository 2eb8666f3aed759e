"""Reading a verifier's text into a Critique: the critic's boxed or stated index, the PRM's
scores, and every way a text can fail to be a verdict."""

from __future__ import annotations

import orjson
import pytest

from vigil.exceptions import ConfigError
from vigil.streams.checks.solution import parse_solution
from vigil.streams.exceptions import CritiqueParseError
from vigil.streams.verification.critique import (
    DEFAULT_TEMPLATE,
    PARSERS,
    REASON_CHARS,
    Critique,
    parse_critique,
    parse_step_scores,
    prm_input,
    prm_parser,
    render_prompt,
)

SOLUTION = "Tom has 3 apples.\nHe buys 2 more: 3 + 2 = 6.\nSo he has \\boxed{6} apples."
STEPS = [s.text for s in parse_solution(SOLUTION).steps]


def test_the_default_template_renders_the_steps_as_paragraphs_indexed_from_zero() -> None:
    prompt = render_prompt(DEFAULT_TEMPLATE.read_text(), "How many apples?", STEPS)
    assert "How many apples?" in prompt
    assert "<paragraph_0>\nTom has 3 apples.\n</paragraph_0>" in prompt
    assert "<paragraph_2>\nSo he has \\boxed{6} apples.\n</paragraph_2>" in prompt
    assert "<paragraph_3>" not in prompt
    # The template's own braces are text, not placeholders.
    assert "\\boxed{}" in prompt and "{question}" not in prompt and "{steps}" not in prompt


def test_a_question_with_a_placeholder_in_it_is_not_substituted_again() -> None:
    prompt = render_prompt("Q: {question}\n{steps}", "What is {steps}?", ["a"])
    assert prompt.startswith("Q: What is {steps}?\n<paragraph_0>")


def test_a_template_without_its_placeholders_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="steps"):
        render_prompt("Judge {question}", "q", ["a"])


def test_a_boxed_index_is_the_first_wrong_step_and_the_rest_is_the_reason() -> None:
    text = "Paragraph 1 adds 3 + 2 and gets 6, which is wrong.\n\n\\boxed{1}"
    got = parse_critique(text, len(STEPS))
    assert got == Critique(1, "Paragraph 1 adds 3 + 2 and gets 6, which is wrong.", 1.0)


@pytest.mark.parametrize(
    "text",
    ["Every paragraph is correct. \\boxed{-1}", "\\boxed{none}", "\\boxed{\\text{No error}}"],
)
def test_minus_one_or_none_in_the_box_is_no_wrong_step(text: str) -> None:
    got = parse_critique(text, 3)
    assert (got.first_wrong_step, got.score) == (None, 0.0)


def test_the_last_box_wins_and_decorations_inside_it_are_read() -> None:
    assert parse_critique("Maybe \\boxed{0}... no: \\boxed{ $2$ }", 3).first_wrong_step == 2
    assert parse_critique("\\boxed{paragraph_1}", 3).first_wrong_step == 1
    assert parse_critique("\\boxed{\\text{2}}", 3).first_wrong_step == 2


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("The earliest error is in paragraph 2, where 3 + 2 is taken as 6.", 2),
        ("Step 1 is wrong: 3 + 2 = 5.", 1),
        ("Final answer: 0", 0),
        ("The index is -1.", None),
        ("There is no error in the solution.", None),
        ("All paragraphs are correct.", None),
    ],
)
def test_an_unboxed_answer_in_words(text: str, want: int | None) -> None:
    assert parse_critique(text, 3).first_wrong_step == want


def test_a_critique_that_cannot_find_an_error_is_an_answer_not_a_refusal() -> None:
    assert parse_critique("I cannot find any error. \\boxed{-1}", 3).first_wrong_step is None
    assert parse_critique("I cannot find any mistakes here.", 3).first_wrong_step is None


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("I cannot help with that.", "refused"),
        ("I'm sorry, but I can't assist with this request.", "refused"),
        ("The solution computes the total weight of the books.", "names no step index"),
        ("\\boxed{21}", "out of range"),
        ("\\boxed{3}", "out of range"),
        ("\\boxed{-2}", "out of range"),
        ("\\boxed{21 pounds}", "not a step index"),
        ("\\boxed{", "names no step index"),
    ],
)
def test_malformed_critiques_raise_saying_why(text: str, why: str) -> None:
    with pytest.raises(CritiqueParseError, match=why):
        parse_critique(text, 3)


def test_the_reason_is_trimmed_at_a_word() -> None:
    got = parse_critique("wrong " * 200 + "\\boxed{0}", 3)
    assert len(got.reason) <= REASON_CHARS and got.reason.endswith("wrong…")


def test_no_steps_admit_only_no_wrong_step() -> None:
    assert parse_critique("\\boxed{-1}", 0).first_wrong_step is None
    with pytest.raises(CritiqueParseError, match="out of range"):
        parse_critique("\\boxed{0}", 0)


# --- prm mode --------------------------------------------------------------------------------


def test_prm_input_is_the_json_the_prm_model_reads() -> None:
    assert orjson.loads(prm_input("How many?", STEPS)) == {"question": "How many?", "steps": STEPS}


def test_the_first_step_under_the_threshold_is_wrong_score_one_minus_the_lowest() -> None:
    got = parse_step_scores("0.91\n0.40\n0.20\n", 3, 0.5)
    assert got.first_wrong_step == 1
    assert got.step_scores == (0.91, 0.40, 0.20)
    assert got.score == pytest.approx(0.8)
    assert got.reason == "step 1 scored 0.40, under 0.50"


def test_scores_all_over_the_threshold_are_no_wrong_step() -> None:
    got = parse_step_scores(" 0.9\n\n0.75 \n", 2, 0.5)
    assert (got.first_wrong_step, got.score) == (None, pytest.approx(0.25))
    assert "lowest 0.75" in got.reason


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("0.9\n0.8", "2 step scores for 3 steps"),
        ("0.9\n0.8\n0.7\n0.6", "4 step scores for 3 steps"),
        ("", "0 step scores for 3 steps"),
        ("0.9\nyes\n0.7", "step 1's score 'yes' is not a number"),
        ("0.9\n1.5\n0.7", "not in \\[0, 1\\]"),
        ("0.9\nnan\n0.7", "not in \\[0, 1\\]"),
        ("0.9\n-0.1\n0.7", "not in \\[0, 1\\]"),
    ],
)
def test_malformed_step_scores_raise_saying_why(text: str, why: str) -> None:
    with pytest.raises(CritiqueParseError, match=why):
        parse_step_scores(text, 3, 0.5)


def test_a_threshold_outside_zero_one_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        parse_step_scores("0.5", 1, 1.0)


def test_parsers_by_config_name() -> None:
    assert PARSERS["critic"]("\\boxed{2}", 3).first_wrong_step == 2
    assert PARSERS["prm"]("0.9\n0.4", 2).first_wrong_step == 1
    assert prm_parser(0.3)("0.9\n0.4", 2).first_wrong_step is None
