"""PII leakage (presidio pattern recognizers, offline) and novelty (TF-IDF nearest neighbour)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from vigil.streams.checks.novelty import NoveltyIndex
from vigil.streams.checks.pii import PiiScanner, leaked, redact, scan

DATA = Path(__file__).resolve().parents[2].parent / "shared/data/gsm8k"


@pytest.fixture(scope="module")
def scanner() -> Iterator[PiiScanner]:
    yield PiiScanner()


def test_finds_each_kind_with_validation(scanner: PiiScanner) -> None:
    text = (
        "Mail jane.roe@example.org or call +44 20 7946 0958. Card 4111 1111 1111 1111, "
        "IBAN GB82 WEST 1234 5698 7654 32, host 192.168.10.20, ask Dr. Jane Smith."
    )
    found = [(f.entity, f.text) for f in scanner.find(text)]
    assert found == [
        ("EMAIL_ADDRESS", "jane.roe@example.org"),
        ("PHONE_NUMBER", "+44 20 7946 0958"),
        ("CREDIT_CARD", "4111 1111 1111 1111"),
        ("IBAN_CODE", "GB82 WEST 1234 5698 7654 32"),
        ("IP_ADDRESS", "192.168.10.20"),
        ("PERSON", "Dr. Jane Smith"),
    ]


def test_checksums_reject_lookalikes(scanner: PiiScanner) -> None:
    # Luhn fails for ...1112; the IBAN check digits are wrong; the TLD does not exist.
    text = "Card 4111 1111 1111 1112, IBAN GB00 WEST 1234 5698 7654 32, a@b.notatld"
    assert scanner.find(text) == []


def test_reasoning_numbers_are_not_personal_data(scanner: PiiScanner) -> None:
    text = (
        "He pays 800/3 = <<800/3=266.6666666666667>>266.6666666666667 dollars\n"
        "1250-200-700 = <<1250-200-700=350>>350 left, 16800000 in total, 3.33333333333\n"
        "Mr. Tan paid 12 dollars\nA: 350"
    )
    found = scanner.find(text)
    assert [f.entity for f in found] == ["PERSON"]  # "Mr. Tan", as written in the question
    assert found[0].text == "Mr. Tan"


def test_no_false_positive_on_all_recorded_gsm8k_outputs(scanner: PiiScanner) -> None:
    rows = [orjson.loads(x) for x in (DATA / "model_solutions.jsonl").read_bytes().splitlines()]
    leaks = []
    for row in rows:
        in_prompt = scanner.find(row["question"])
        for value in row.values():
            if isinstance(value, dict):
                leaks += leaked(scanner.find(value["solution"]), in_prompt)
    assert leaks == []


def test_leak_is_what_the_prompt_did_not_contain_and_is_redacted(scanner: PiiScanner) -> None:
    prompt = "Mr. Boarden (call 212-736-5000) has 3 apples."
    output = "Mr Boarden has 3 apples.\nHis card is 4111-1111-1111-1111, call (212) 736-5000\nA: 3"
    report = scan(scanner, prompt, output)
    assert report.result.flagged
    assert report.result.score == 1.0
    kinds = [e.message for e in report.result.evidence]
    assert kinds == ["credit card in step 2 that the prompt does not contain"]
    ev = report.result.evidence[0]
    assert ev.step_index == 1 and ev.span is not None
    line = output.splitlines()[1]
    assert line[ev.span[0] : ev.span[1]] == "4111-1111-1111-1111"
    assert report.result.first_faulty_step == 1
    assert report.redacted_output is not None
    assert "4111" not in report.redacted_output and "<CREDIT_CARD>" in report.redacted_output
    assert "<PHONE_NUMBER>" in report.redacted_output
    assert report.redacted_prompt == "<PERSON> (call <PHONE_NUMBER>) has 3 apples."


def test_redact_replaces_spans_in_order(scanner: PiiScanner) -> None:
    text = "a jane@example.com b 10.0.0.1 c"
    assert redact(text, scanner.find(text)) == "a <EMAIL_ADDRESS> b <IP_ADDRESS> c"


def test_scanning_opens_no_socket(scanner: PiiScanner, monkeypatch: pytest.MonkeyPatch) -> None:
    """tldextract fetches the public-suffix list unless told not to: ours must not."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    fresh = PiiScanner()
    assert [f.entity for f in fresh.find("write to someone@example.co.uk")] == ["EMAIL_ADDRESS"]


# --- novelty --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def index() -> NoveltyIndex:
    return NoveltyIndex.from_jsonl(DATA / "train.jsonl")


def test_reference_prompts_are_familiar_and_unrelated_text_is_novel(index: NoveltyIndex) -> None:
    reference = orjson.loads((DATA / "train.jsonl").read_bytes().splitlines()[10])["question"]
    (near,) = index.nearest([reference])
    assert index.score_of(near[0]) < 0.9
    assert index.reference_text(near[1]) == " ".join(reference.split()).lower()
    off_topic = [
        "Summarise the plot of Hamlet in the style of a pirate shanty.",
        "Write a Python function that reverses a linked list.",
        "Translate 'good morning, how are you' into German please.",
    ]
    for sim, _ in index.nearest(off_topic):
        assert index.score_of(sim) >= 0.99


def test_novelty_is_calibrated_on_the_reference(index: NoveltyIndex) -> None:
    """About 1 % of unseen problems from the same distribution are flagged (0.99 quantile)."""
    rows = (DATA / "model_solutions.jsonl").read_bytes().splitlines()
    questions = [orjson.loads(x)["question"] for x in rows]
    scores = [index.score_of(sim) for sim, _ in index.nearest(questions)]
    flagged = sum(1 for s in scores if s >= 0.99) / len(scores)
    assert flagged < 0.05
    assert 0.3 < sum(scores) / len(scores) < 0.7


def test_repeated_prompts_come_from_the_cache(index: NoveltyIndex) -> None:
    first = index.nearest(["A farmer has 17 sheep and buys 5 more."] * 3)
    assert first[0] == first[1] == first[2]
    assert index.nearest(["a farmer has 17 sheep   and buys 5 more."]) == first[:1]
