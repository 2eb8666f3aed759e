"""TF-IDF over character n-grams within words: the novelty index's vectoriser.

It computes exactly what scikit-learn's ``TfidfVectorizer(analyzer="char_wb",
ngram_range=(n, n), sublinear_tf=True, min_df=..., max_df=..., dtype=np.float32)`` computes,
bit for bit (``tests/unit/test_checks_fast_paths.py`` holds the two side by side), with
numpy and scipy alone:

* importing scikit-learn pulls in pandas and pyarrow: about 160 MB of resident memory and a
  second and a half in every worker, for one vectoriser;
* its ``transform`` looks every n-gram up one at a time; here they are counted first
  (``collections.Counter``) and each distinct one is looked up once.

"Exactly" includes the order of floating-point operations, since similarities are compared
with a calibration sample computed the same way: within a fitted row the entries keep the
order in which the n-grams were first seen (scikit-learn renumbers them alphabetically
without reordering), a query row is sorted by n-gram number, squares are summed one after
the other in double precision (as its ``inplace_csr_row_normalize_l2`` does), and the tf
logarithm and idf are computed in float32 with numpy's own functions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from streams.checks.exceptions import ChecksError

__all__ = ["CharTfidf"]


class CharTfidf:
    """Fit on a reference once (``fit_transform``), then ``transform`` queries."""

    def __init__(self, n: int = 4, *, min_df: int = 2, max_df: float = 0.5) -> None:
        self.n = n
        self.min_df = min_df
        self.max_df = max_df
        self.vocabulary: dict[str, int] = {}
        self.idf = np.zeros(0, dtype=np.float32)

    def grams(self, text: str) -> list[str]:
        """The n-grams of each whitespace-separated word padded with one space each side
        (a word shorter than ``n`` gives itself, padded, once)."""
        n = self.n
        out: list[str] = []
        for word in text.lower().split():
            w = f" {word} "
            if len(w) <= n:
                out.append(w)
            else:
                out.extend([w[i : i + n] for i in range(len(w) - n + 1)])
        return out

    def fit_transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Learn the vocabulary and idf from ``texts``; their weighted, normalised rows."""
        first_seen: dict[str, int] = {}
        indptr = [0]
        indices: list[int] = []
        counts: list[int] = []
        for text in texts:
            # A Counter keeps first occurrence order, which is the order numbers are handed
            # out in (and, as numbers, the order of the row's entries).
            for gram, count in Counter(self.grams(text)).items():
                indices.append(first_seen.setdefault(gram, len(first_seen)))
                counts.append(count)
            indptr.append(len(indices))
        if not first_seen:
            raise ChecksError("no n-grams in the reference texts")
        x = _csr(counts, indices, indptr, len(first_seen))
        x.sort_indices()

        # Keep the n-grams found in at least min_df and at most max_df of the texts.
        df = np.bincount(x.indices, minlength=x.shape[1])
        keep = (df <= self.max_df * len(indptr[:-1])) & (df >= self.min_df)
        kept = np.where(keep)[0]
        if len(kept) == 0:
            raise ChecksError("no n-gram is frequent enough to keep: lower min_df")
        x = x[:, kept]
        # Number them alphabetically; the entries of each row stay where they are.
        terms = list(first_seen)
        ordered = sorted((terms[old], new) for new, old in enumerate(kept))
        renumber = np.empty(len(ordered), dtype=x.indices.dtype)
        for rank, (_, new) in enumerate(ordered):
            renumber[new] = rank
        x.indices = renumber.take(x.indices, mode="clip")
        self.vocabulary = {term: rank for rank, (term, _) in enumerate(ordered)}

        doc_freq = np.bincount(x.indices, minlength=x.shape[1]).astype(np.float32)
        doc_freq += 1.0  # smoothed: as if one more text held every n-gram
        self.idf = np.full_like(doc_freq, fill_value=len(indptr), dtype=np.float32)
        self.idf /= doc_freq
        np.log(self.idf, out=self.idf)
        self.idf += 1.0
        return self._weigh(x)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The weighted, normalised rows of ``texts`` (unknown n-grams are left out)."""
        vocabulary = self.vocabulary
        indptr = [0]
        indices: list[int] = []
        counts: list[int] = []
        for text in texts:
            for gram, count in Counter(self.grams(text)).items():
                column = vocabulary.get(gram)
                if column is not None:
                    indices.append(column)
                    counts.append(count)
            indptr.append(len(indices))
        x = _csr(counts, indices, indptr, len(vocabulary))
        x.sort_indices()
        return self._weigh(x)

    def _weigh(self, x: sp.csr_matrix) -> sp.csr_matrix:
        """Sublinear tf times idf, each row scaled to unit length, in place."""
        np.log(x.data, x.data)
        x.data += 1.0
        x.data *= self.idf[x.indices]
        x.data[:] = x.data / _row_norms(x)
        return x


def _csr(counts: list[int], indices: list[int], indptr: list[int], width: int) -> sp.csr_matrix:
    return sp.csr_matrix(
        (
            np.asarray(counts, dtype=np.float32),
            np.asarray(indices, dtype=np.int32),
            np.asarray(indptr, dtype=np.int32),
        ),
        shape=(len(indptr) - 1, width),
    )


def _row_norms(x: sp.csr_matrix) -> np.ndarray:
    """Each entry's row norm: float32 squares summed left to right in float64 (a
    cumulative sum along a zero-padded row is that sum), then the square root. An empty row
    gets 1 (nothing to scale)."""
    lengths = np.diff(x.indptr)
    rows = len(lengths)
    width = int(lengths.max()) if rows else 0
    squares = np.zeros((rows, max(width, 1)), dtype=np.float64)
    positions = np.arange(len(x.data)) - np.repeat(x.indptr[:-1], lengths)
    squares[np.repeat(np.arange(rows), lengths), positions] = x.data * x.data
    sums = np.cumsum(squares, axis=1)[:, -1]
    norms = np.sqrt(sums)
    norms[sums == 0.0] = 1.0
    return np.repeat(norms, lengths)
