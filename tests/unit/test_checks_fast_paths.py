"""The checks' fast paths compute exactly what the plain ways compute.

Each shortcut (a memo, a cheap test before a costly scan, a vectoriser without scikit-learn,
a one-pass sparse product) is held against the straightforward computation it replaces, on
the recorded GSM8K texts and on generated texts built to hit the edges.
"""

from __future__ import annotations

import random
import re
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import orjson
import pytest
import scipy.sparse as sp

from vigil.settings import load_settings
from vigil.streams.checks.arithmetic import evaluate, parse_number
from vigil.streams.checks.base import AnswerRecord, BaseCheck, CheckInput, normalise_prompt
from vigil.streams.checks.config import load_config
from vigil.streams.checks.coverage import _numbers
from vigil.streams.checks.exceptions import ArithmeticParseError, CheckFailed
from vigil.streams.checks.novelty import NoveltyIndex, similarities, top_mean
from vigil.streams.checks.pii import _CANDIDATES, PiiCheck, PiiScanner, _may_match, scan
from vigil.streams.checks.registry import build_checks
from vigil.streams.checks.repetition import (
    _NGRAM,
    _NGRAM_REPEATS,
    _RUN_RE,
    _repeated_ngram,
    _repeated_unit,
)
from vigil.streams.checks.solution import Step
from vigil.streams.checks.stability import RecentPrompts, encode_history
from vigil.streams.checks.tfidf import CharTfidf
from vigil.streams.triage import Screener, Triage
from vigil_client.contracts import CheckResult, InferenceResult

SETTINGS = load_settings()


def _gsm8k_texts() -> list[str]:
    out = []
    for line in SETTINGS.gsm8k_path.read_bytes().splitlines():
        row = orjson.loads(line)
        out.append(row["question"])
        out += [v["solution"] for v in row.values() if isinstance(v, dict)]
    return out


def _reference() -> list[str]:
    lines = SETTINGS.novelty_reference.read_bytes().splitlines()
    return [normalise_prompt(orjson.loads(x)["question"]) for x in lines if x.strip()]


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return (
        a.dtype == b.dtype
        and a.shape == b.shape
        and bool((a.view(np.uint8) == b.view(np.uint8)).all())
    )


# --- the novelty index -------------------------------------------------------------------


def test_char_tfidf_is_scikit_learns_vectoriser_bit_for_bit() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    reference = _reference()
    theirs = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=(4, 4),
        sublinear_tf=True,
        min_df=2,
        max_df=0.5,
        dtype=np.float32,
    )
    ours = CharTfidf(4, min_df=2, max_df=0.5)
    a, b = theirs.fit_transform(reference), ours.fit_transform(reference)
    assert ours.vocabulary == theirs.vocabulary_
    assert _same_bits(ours.idf, theirs.idf_)
    # The fitted rows keep first-seen order (not sorted): the sums run in that order.
    for x, y in ((a.indptr, b.indptr), (a.indices, b.indices), (a.data, b.data)):
        assert _same_bits(np.asarray(x, dtype=y.dtype), y)

    queries = [normalise_prompt(t) for t in _gsm8k_texts()[::5]]
    queries += ["", "a", "zz qq xx", "ÜNÏCÖDÉ İstanbul straße", "x" * 300, "tab\tand\nnewline"]
    queries += ["a b c i o", "  lead and trail  ", "x, y; (z) 1 2 3", "über größe ŝ ĉ"]
    # Characters that don't fit the batch path's 16 bits: that batch takes the plain path.
    astral = ["emoji 🙂 a b", "pad \uffff here", *queries[:3]]
    assert ours.transform([]).shape == (0, len(ours.vocabulary))
    for batch in (queries, astral, queries[:1]):
        qa, qb = theirs.transform(batch), ours.transform(batch)
        assert qa.shape == qb.shape
        assert np.array_equal(qa.indptr, qb.indptr) and np.array_equal(qa.indices, qb.indices)
        assert _same_bits(qa.data, qb.data)


def test_one_pass_product_equals_the_public_sparse_product() -> None:
    rng = np.random.default_rng(5)
    for density in (0.001, 0.05, 0.5):
        q = sp.random(37, 300, density=density, format="csr", dtype=np.float32, random_state=rng)
        r = sp.random(300, 211, density=density, format="csr", dtype=np.float32, random_state=rng)
        assert _same_bits(similarities(q, r), (q @ r).toarray())
    empty = sp.csr_matrix((3, 300), dtype=np.float32)
    assert not similarities(empty, r).any()


@pytest.fixture(scope="module")
def index() -> NoveltyIndex:
    return NoveltyIndex.from_jsonl(SETTINGS.novelty_reference)


def test_block_top_mean_is_the_mean_of_the_k_largest_of_each_row() -> None:
    rng = np.random.default_rng(3)
    for rows, cols, k in ((7, 1000, 10), (3, 64, 10), (5, 33, 10), (4, 5000, 1), (2, 12, 12)):
        sims = rng.random((rows, cols), dtype=np.float32)
        sims[0, :] = 0.5  # ties everywhere
        if cols > 40:
            sims[1, :40] = 0.99  # the largest values crowded into one or two blocks
        expected = np.sort(np.sort(sims, axis=1)[:, -k:], axis=1).mean(axis=1)
        assert np.array_equal(top_mean(sims, k), expected)


def test_novelty_cache_is_keyed_by_prompt_key_and_bounded(
    index: NoveltyIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vigil.streams.checks.novelty as novelty

    monkeypatch.setattr(novelty, "CACHE_SIZE", 50)
    index._cache.clear()
    questions = [orjson.loads(x)["question"] for x in SETTINGS.gsm8k_path.read_bytes().splitlines()]
    first = index.nearest(questions[:120])
    assert len(index._cache) == 50
    # Served from the cache or computed again: the same numbers either way.
    assert index.nearest(questions[:120]) == first
    assert index.nearest([q.upper() + "  " for q in questions[100:120]]) == first[100:120]
    assert all(len(k) == 32 for k in index._cache)  # hashes, not the prompts themselves


# --- PII ------------------------------------------------------------------------------------

_TRICKY = [
    "call 12 3456-789 now",
    "(212) 736 5000",
    "+44 20 7946 0958",
    "ip 10.0.0.1 and fe80::1:2",
    "DE89 3704 0044 0532 0130 00",
    "Dr. Jane Smith and Mrs Brown",
    "mail x@y.org",
    "4111 1111 1111 1111",
    "0.6666666666666667 and 2.5 and 1,000,000",
]


def _fuzz_texts(seed: int, count: int) -> Iterator[str]:
    rng = random.Random(seed)
    alphabet = list("0123456789") * 4 + list(" .-()+:@,") * 2 + list("ABCDEFabcdefxyz")
    alphabet += ["Mr", "Ms", "Dr", "Prof", "Miss", "DE", "GB"]
    for _ in range(count):
        yield "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))


def test_pii_gate_shortcuts_never_skip_a_text_the_gate_would_match() -> None:
    texts = [*_TRICKY, *_gsm8k_texts()[:2000], *_fuzz_texts(1, 15_000)]
    hits = 0
    for text in texts:
        for entity, gate in _CANDIDATES.items():
            if gate.search(text):
                hits += 1
                assert _may_match(entity, text), (entity, text)
    assert hits > 500  # the generated texts do reach the gates


def test_prompt_findings_are_cached_bounded_and_change_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import vigil.streams.checks.pii as pii

    monkeypatch.setattr(pii, "PROMPT_CACHE_SIZE", 3)
    check = PiiCheck()
    plain = PiiScanner()
    prompts = [f"Write to ann{i}@example.com about Dr. Jane Smith" for i in range(6)]
    output = "Ask Dr. Jane Smith at ann0@example.com or 10.0.0.1\nA: 5"
    items = [
        CheckInput.of(_result(f"p{i}", prompt=p, output=output)) for i, p in enumerate(prompts)
    ]
    for _ in range(2):
        got = check.check_batch(items)
        want = [scan(plain, i.result.prompt, i.result.output).result for i in items]
        assert got == want
    assert len(check._prompts) == 3


# --- step verification and coverage ----------------------------------------------------------


def _plain_repeated_unit(steps: list[Step]) -> tuple[int, tuple[int, int]] | None:
    for step in steps:
        for match in _RUN_RE.finditer(step.text):
            if not match.group(1).isspace():
                return step.index, match.span()
    return None


def _plain_repeated_ngram(steps: list[Step]) -> tuple[int, int] | None:
    words, owner = [], []
    for step in steps:
        split = step.text.split()
        words += split
        owner += [step.index] * len(split)
    positions: dict[tuple[str, ...], list[int]] = {}
    for i in range(len(words) - _NGRAM + 1):
        positions.setdefault(tuple(words[i : i + _NGRAM]), []).append(i)
    repeats = [p for p in positions.values() if len(p) >= _NGRAM_REPEATS]
    if not repeats:
        return None
    where = min(repeats, key=lambda p: p[1])
    return owner[where[1]], len(where)


def _steps(rng: random.Random) -> list[Step]:
    words = ["a", "b", "c", "= 5", "x", "the", "12", "y", "0.3333", "ab ab"]
    steps = []
    for index in range(rng.randint(1, 6)):
        vocabulary = words[: rng.randint(2, len(words))]
        text = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 40)))
        if rng.random() < 0.2:
            unit = "".join(rng.choice("ab 1.") for _ in range(rng.randint(1, 10)))
            text += unit * rng.randint(20, 30)
        steps.append(Step(index=index, text=text, annotations=()))
    return steps


def test_repetition_shortcuts_find_what_the_plain_scans_find() -> None:
    rng = random.Random(2)
    found_unit = found_ngram = 0
    for _ in range(2500):
        steps = _steps(rng)
        unit = _repeated_unit(steps)
        plain = _plain_repeated_unit(steps)
        assert (unit.evidence.step_index, unit.evidence.span) == plain if unit else plain is None
        ngram = _repeated_ngram(steps)
        plain_ngram = _plain_repeated_ngram(steps)
        if ngram is None:
            assert plain_ngram is None
        else:
            assert plain_ngram is not None and ngram.evidence.step_index == plain_ngram[0]
            assert f"occurs {plain_ngram[1]} times" in ngram.evidence.message
        found_unit += unit is not None
        found_ngram += ngram is not None
    assert found_unit > 50 and found_ngram > 50


def test_coverage_numbers_are_those_of_the_lookbehind_scan() -> None:
    pattern = re.compile(r"(?<![\w.])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")

    def plain(text: str) -> dict[float, str]:
        found: dict[float, str] = {}
        for m in pattern.finditer(text):
            found.setdefault(float(m.group(0).replace(",", "")), m.group(0))
        return found

    rng = random.Random(3)
    alphabet = list("0123456789") * 3 + list(" .,-$x_a٣")
    texts = _gsm8k_texts()[:3000]
    texts += [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(15_000)
    ]
    for text in texts:
        assert list(_numbers(text).items()) == list(plain(text).items()), text


def test_memoised_arithmetic_answers_and_refuses_as_the_first_time() -> None:
    for _ in range(3):
        assert evaluate("130000*.15") == 19500.0
        assert parse_number("1,200.50") == 1200.5
        assert parse_number("007") == 7.0
        with pytest.raises(ArithmeticParseError, match=r"not plain arithmetic|contains"):
            evaluate("x+56")
        with pytest.raises(ArithmeticParseError, match="not a number"):
            parse_number("1,00")
    # Plain digits take a shortcut; it agrees with the pattern, and huge ones still refuse.
    assert parse_number("9" * 64) == float("9" * 64)
    with pytest.raises(ArithmeticParseError, match="out of range"):
        parse_number("9" * 400)


# --- stability state ------------------------------------------------------------------------


def test_recent_prompts_push_out_the_least_recently_answered() -> None:
    recent = RecentPrompts(3)
    assert [recent.touch(k) for k in (b"a", b"b", b"c")] == [[], [], []]
    assert recent.touch(b"a") == []  # answered again: now the most recent
    assert recent.touch(b"d") == [b"b"]
    assert recent.touch(b"e") == [b"c"]
    assert len(recent) == 3


def test_encoded_histories_take_what_they_hold_not_a_write_buffer() -> None:
    records = [AnswerRecord(request_id="r1", at=1.0, answer="5", model_version="v1")]
    tracemalloc.start()
    try:
        kept = [encode_history(records) for _ in range(1000)]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(kept) == 1000
    assert held < 200 * 1000  # about 100 bytes each, not orjson's 4 KB buffer


# --- the screener's stage timings ------------------------------------------------------------


class Constant(BaseCheck):
    name = "constant"

    def check(self, item: CheckInput) -> CheckResult:
        return CheckResult(check=self.name, score=0.0, flagged=False)


def _result(
    rid: str, prompt: str = "What is 2+3?", output: str = "2+3=<<2+3=5>>5\nA: 5"
) -> InferenceResult:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    return InferenceResult(
        request_id=rid,
        created_at=now,
        request_created_at=now,
        prompt=prompt,
        output=output,
        model_name="m",
        model_version="v1",
        latency_ms=1.0,
    )


def test_stage_timings_are_reported_and_change_no_outcome() -> None:
    config = load_config(None)
    checks = build_checks(
        config.model_copy(
            update={
                "checks": config.checks.model_copy(
                    update={"enabled": ["step_verification", "self_consistency"]}
                )
            }
        ),
        use_entry_points=False,
    ).checks
    screener = Screener((*checks, Constant()), config)
    results = [_result(f"r{i}") for i in range(5)]
    timings: dict[str, float] = {}
    timed = screener.screen_batch(results, timings=timings)
    plain = screener.screen_batch(results)

    def outcomes(out: list[Triage | CheckFailed]) -> list[dict[str, object]]:
        assert all(isinstance(t, Triage) for t in out)
        return [t.outcome.model_dump(exclude={"created_at"}) for t in out if isinstance(t, Triage)]

    assert outcomes(timed) == outcomes(plain)
    assert set(timings) == {"parse", "step_verification", "self_consistency", "constant", "records"}
    assert all(v >= 0.0 for v in timings.values())
