"""``novelty``: how unlike the reference prompts a prompt is.

Models are most often wrong on problems unlike what they were tuned and checked on, so a
novel prompt is a risk signal of its own (it raises the risk score; routing decides whether
it sends an item to review alone).

The index is built once per worker process from a reference set (GSM8K ``train.jsonl`` by
default, ``{"question": ...}`` a line): TF-IDF over character 4-grams within words
(``streams.checks.tfidf``), without the n-grams found in more than half of the reference
(they say nothing about which problem this is, and they are what would make the sparse
product slow; a tenth would halve the product's cost, but off-topic prompts then look less
novel: "What is the capital of France?" 0.93 -> 0.89). Similarity is the mean cosine
similarity to the ``NEIGHBOURS`` nearest reference prompts: one accidental match on a rare
n-gram ("pirate", "plot") would make a single nearest neighbour look close, several cannot.

It becomes a **calibrated** score: the share of reference prompts whose own neighbourhood
(leave-one-out, on a fixed sample of the reference) is at least as close as this prompt's.
0.99 reads "less like the reference than 99 % of the reference is like itself"; flagged at
``FLAG_AT``, so about 1 % of new prompts from the reference's own distribution are flagged,
and off-topic prompts are.

Cost: a new prompt costs about 250 microseconds (its n-grams, packed and counted by numpy;
one sparse product with the reference per batch; the top of each row found block-wise).
Repeated prompts are answered from a bounded cache keyed by the prompt key (a hash of the
normalised prompt), so traffic that repeats its questions pays that once per question.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import scipy.sparse as sp

from vigil.streams.checks.base import BaseCheck, CheckInput, normalise_prompt, prompt_key
from vigil.streams.checks.exceptions import ChecksError
from vigil.streams.checks.tfidf import CharTfidf
from vigil_client.contracts import CheckResult, Evidence

__all__ = ["CHECK_NAME", "NoveltyCheck", "NoveltyIndex", "similarities", "top_mean"]

CHECK_NAME = "novelty"
MAX_DF = 0.5
NEIGHBOURS = 10
CALIBRATION_SAMPLE = 2000
FLAG_AT = 0.99
CACHE_SIZE = 20_000
# Columns per block in ``top_mean``.
_BLOCK = 32
_SEED = 7


def similarities(queries: sp.csr_matrix, ref_t: sp.csr_matrix) -> np.ndarray:
    """``(queries @ ref_t).toarray()``, the same numbers, about a third faster.

    A query is similar to nearly every reference prompt a little (96 % of the products are
    not zero), so the sparse product is in effect dense. scipy computes it in two passes,
    the first only to size the result; here the result is given its largest possible size
    and the second pass (scipy's own kernel, same order of additions) runs alone. The kernel
    is scipy's internal ``_sparsetools.csr_matmat``: where it cannot be called (another
    scipy), the public product runs instead, with the same result.
    """
    rows, cols = queries.shape[0], ref_t.shape[1]
    try:
        from scipy.sparse import _sparsetools

        indptr = np.empty(rows + 1, dtype=np.int32)
        indices = np.empty(rows * cols, dtype=np.int32)
        data = np.empty(rows * cols, dtype=np.float32)
        _sparsetools.csr_matmat(
            rows,
            cols,
            queries.indptr,
            queries.indices,
            queries.data,
            ref_t.indptr,
            ref_t.indices,
            ref_t.data,
            indptr,
            indices,
            data,
        )
    except (ImportError, AttributeError, TypeError, ValueError):
        return np.asarray((queries @ ref_t).toarray())
    nnz = int(indptr[-1])
    product = sp.csr_matrix((data[:nnz], indices[:nnz], indptr), shape=(rows, cols))
    return np.asarray(product.toarray())


def top_mean(sims: np.ndarray, k: int) -> np.ndarray:
    """Per row, the mean of its ``k`` largest values (summed in ascending order).

    A partial sort of every whole row cost more than the similarity product's rows take to
    scan. The ``k`` largest values of a row lie in the ``k`` blocks with the largest
    maxima (a block holding one of them has a maximum at least that large), so each row's
    blocks are ranked by their maxima and only those ``k`` blocks (plus the columns past
    the last whole block) are sorted: the same values, about 2.5x faster."""
    rows, cols = sims.shape
    blocks = cols // _BLOCK
    if blocks <= k:
        top = np.partition(sims, cols - k, axis=1)[:, -k:]
    else:
        body = sims[:, : blocks * _BLOCK].reshape(rows, blocks, _BLOCK)
        best = np.argpartition(body.max(axis=2), blocks - k, axis=1)[:, -k:]
        candidates = np.take_along_axis(body, best[:, :, None], axis=1).reshape(rows, -1)
        candidates = np.concatenate([candidates, sims[:, blocks * _BLOCK :]], axis=1)
        top = np.partition(candidates, candidates.shape[1] - k, axis=1)[:, -k:]
    return np.sort(top, axis=1).mean(axis=1)


class NoveltyIndex:
    """Nearest-reference similarity of prompts; build once (seconds), query in microseconds."""

    def __init__(self, questions: Sequence[str]) -> None:
        if len(questions) < 10:
            raise ChecksError(f"a novelty reference needs >= 10 prompts, got {len(questions)}")
        self.size = len(questions)
        texts = [normalise_prompt(q) for q in questions]
        self._tfidf = CharTfidf(4, min_df=2, max_df=MAX_DF)
        ref = self._tfidf.fit_transform(texts)
        # Transposed once, as CSR: a query row times it touches only its n-grams' postings.
        self._ref_t = ref.T.tocsr()
        self._texts = texts
        self._calibration = self._calibrate(ref)
        self._cache: OrderedDict[str, tuple[float, int]] = OrderedDict()

    @classmethod
    def from_jsonl(cls, path: Path, field: str = "question") -> NoveltyIndex:
        if not path.is_file():
            raise ChecksError(f"novelty reference not found: {path}")
        questions = []
        with path.open("rb") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    questions.append(str(orjson.loads(line)[field]))
                except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                    raise ChecksError(f"{path}:{lineno}: no {field!r} field ({exc})") from exc
        return cls(questions)

    def _neighbourhood(self, sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row: mean similarity of the ``NEIGHBOURS`` nearest, and the nearest's row."""
        return top_mean(sims, min(NEIGHBOURS, sims.shape[1])), sims.argmax(axis=1)

    def _calibrate(self, ref: Any) -> list[float]:
        rng = np.random.default_rng(_SEED)
        n = min(CALIBRATION_SAMPLE, self.size)
        picked = rng.choice(self.size, size=n, replace=False)
        out: list[float] = []
        for start in range(0, n, 500):  # bounded memory: 500 x reference floats at a time
            rows = picked[start : start + 500]
            sims = similarities(ref[rows], self._ref_t)
            sims[np.arange(len(rows)), rows] = -1.0  # leave one out: not its own neighbour
            out.extend(float(x) for x in self._neighbourhood(sims)[0])
        return sorted(out)

    def score_of(self, similarity: float) -> float:
        """Share of the calibration sample at least as similar to the reference."""
        at_least = len(self._calibration) - bisect.bisect_left(self._calibration, similarity)
        return at_least / len(self._calibration)

    def nearest(self, prompts: Sequence[str]) -> list[tuple[float, int]]:
        """(neighbourhood similarity, nearest reference row) of each prompt."""
        return self.nearest_keyed([(prompt_key(p), p) for p in prompts])

    def nearest_keyed(self, prompts: Sequence[tuple[str, str]]) -> list[tuple[float, int]]:
        """``nearest`` of (prompt key, prompt) pairs whose key is known already."""
        cache = self._cache
        out: dict[str, tuple[float, int]] = {}
        missing: dict[str, str] = {}
        for key, prompt in prompts:
            hit = cache.get(key)
            if hit is not None:
                cache.move_to_end(key)
                out[key] = hit
            elif key not in out:
                missing[key] = prompt
        if missing:
            texts = [normalise_prompt(p) for p in missing.values()]
            sims = similarities(self._tfidf.transform(texts), self._ref_t)
            means, nearest = self._neighbourhood(sims)
            for i, key in enumerate(missing):
                found = (float(means[i]), int(nearest[i]))
                out[key] = found
                cache[key] = found
            while len(cache) > CACHE_SIZE:
                cache.popitem(last=False)
        return [out[key] for key, _ in prompts]

    def reference_text(self, row: int) -> str:
        return self._texts[row]


def _result(index: NoveltyIndex, similarity: float, row: int) -> CheckResult:
    score = index.score_of(similarity)
    nearest = index.reference_text(row)
    shown = nearest if len(nearest) <= 80 else nearest[:79] + "…"
    message = (
        f"similarity to the nearest reference prompts {similarity:.2f}: "
        f"{score:.0%} of the reference is closer to its own (nearest: {shown!r})"
    )
    return CheckResult(
        check=CHECK_NAME,
        score=round(score, 6),
        flagged=score >= FLAG_AT,
        evidence=[Evidence(message=message)],
    )


class NoveltyCheck(BaseCheck):
    name = CHECK_NAME

    def __init__(self, index: NoveltyIndex) -> None:
        self.index = index

    def check(self, item: CheckInput) -> CheckResult:
        return self.check_batch([item])[0]

    def check_batch(self, items: Sequence[CheckInput]) -> list[CheckResult]:
        found = self.index.nearest_keyed(
            [(i.prompt_key or prompt_key(i.result.prompt), i.result.prompt) for i in items]
        )
        return [_result(self.index, sim, row) for sim, row in found]
