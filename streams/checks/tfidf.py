"""TF-IDF over character n-grams within words: the novelty index's vectoriser.

It computes exactly what scikit-learn's ``TfidfVectorizer(analyzer="char_wb",
ngram_range=(n, n), sublinear_tf=True, min_df=..., max_df=..., dtype=np.float32)`` computes,
bit for bit (``tests/unit/test_checks_fast_paths.py`` holds the two side by side), with
numpy and scipy alone:

* importing scikit-learn pulls in pandas and pyarrow: about 160 MB of resident memory and a
  second and a half in every worker, for one vectoriser;
* its ``transform`` looks every n-gram up in a dict one at a time; here (for 4-grams of
  text in the Basic Multilingual Plane, i.e. all but emoji and rare scripts) a batch is
  done by numpy at once: each 4-gram packed into one 64-bit number (16 bits a character),
  looked up by binary search in the packed vocabulary and counted per row by ``np.unique``.
  Other text takes the plain path (a ``Counter`` per text, each distinct n-gram looked up
  once). The novelty check transforms every new prompt, so this is on the hot path.

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

from vigil.streams.checks.exceptions import ChecksError

__all__ = ["CharTfidf"]


class CharTfidf:
    """Fit on a reference once (``fit_transform``), then ``transform`` queries."""

    def __init__(self, n: int = 4, *, min_df: int = 2, max_df: float = 0.5) -> None:
        self.n = n
        self.min_df = min_df
        self.max_df = max_df
        self.vocabulary: dict[str, int] = {}
        self.idf = np.zeros(0, dtype=np.float32)
        # The vocabulary packed (``_pack``), sorted, with each code's column: the batch path.
        self._codes = np.zeros(0, dtype=np.uint64)
        self._columns = np.zeros(0, dtype=np.int32)

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
        self._pack_vocabulary()

        doc_freq = np.bincount(x.indices, minlength=x.shape[1]).astype(np.float32)
        doc_freq += 1.0  # smoothed: as if one more text held every n-gram
        self.idf = np.full_like(doc_freq, fill_value=len(indptr), dtype=np.float32)
        self.idf /= doc_freq
        np.log(self.idf, out=self.idf)
        self.idf += 1.0
        return self._weigh(x)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The weighted, normalised rows of ``texts`` (unknown n-grams are left out)."""
        x = self._count_packed(texts) if self.n == _PACKED_N else None
        if x is None:
            x = self._count_plain(texts)
        return self._weigh(x)

    def _pack_vocabulary(self) -> None:
        packed = [(_pack(term), column) for term, column in self.vocabulary.items()]
        # Terms with a character past U+FFFE cannot be packed; only plain-path text has them.
        kept = sorted((code, column) for code, column in packed if code is not None)
        self._codes = np.array([c for c, _ in kept], dtype=np.uint64)
        self._columns = np.array([col for _, col in kept], dtype=np.int32)

    def _count_packed(self, texts: Sequence[str]) -> sp.csr_matrix | None:
        """Counts of known 4-grams per row, or None when a text has a character that does
        not fit 16 bits (the plain path takes that batch)."""
        # Each text as its words padded by one space: " w1 w2 ... ". A 4-gram of a padded
        # word is a window with no space inside (a space may only be its first or last
        # character); a window across two words, or two texts, has one inside.
        padded = [" " + " ".join(t.lower().split()) + " " for t in texts]
        joined = "".join(padded)
        chars = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
        if len(chars) and int(chars.max()) >= _NOT_PACKED:
            return None
        c = chars.astype(np.uint64)
        space = chars == _SPACE
        lengths = np.fromiter((len(p) for p in padded), dtype=np.int64, count=len(padded))
        rows_of = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        codes: list[np.ndarray] = []
        rows: list[np.ndarray] = []
        if len(c) >= 4:
            inside = ~space[1:-2] & ~space[2:-1]
            window = (c[:-3] << 48) | (c[1:-2] << 32) | (c[2:-1] << 16) | c[3:]
            codes.append(window[inside])
            rows.append(rows_of[:-3][inside])
        if len(c) >= 3:
            # A one-letter word is its own (3-character) n-gram: " a ".
            alone = space[:-2] & ~space[1:-1] & space[2:]
            short = _SHORT | (c[:-2] << 32) | (c[1:-1] << 16) | c[2:]
            codes.append(short[alone])
            rows.append(rows_of[:-2][alone])
        code = np.concatenate(codes) if codes else np.zeros(0, dtype=np.uint64)
        row = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        width = len(self.vocabulary)
        if len(self._codes) and len(code):
            at = np.searchsorted(self._codes, code)
            at[at == len(self._codes)] = 0
            known = self._codes[at] == code
            keys = row[known] * width + self._columns[at[known]]
        else:
            keys = np.zeros(0, dtype=np.int64)
        # Sorted by row, then column: the layout ``sort_indices`` gives the plain path.
        unique, counts = np.unique(keys, return_counts=True)
        row_of_entry = unique // max(width, 1)
        indptr = np.searchsorted(row_of_entry, np.arange(len(texts) + 1), side="left")
        return sp.csr_matrix(
            (
                counts.astype(np.float32),
                (unique % max(width, 1)).astype(np.int32),
                indptr.astype(np.int32),
            ),
            shape=(len(texts), width),
        )

    def _count_plain(self, texts: Sequence[str]) -> sp.csr_matrix:
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
        return x

    def _weigh(self, x: sp.csr_matrix) -> sp.csr_matrix:
        """Sublinear tf times idf, each row scaled to unit length, in place."""
        np.log(x.data, x.data)
        x.data += 1.0
        x.data *= self.idf[x.indices]
        x.data[:] = x.data / _row_norms(x)
        return x


_PACKED_N = 4
_SPACE = ord(" ")
# Characters are packed 16 bits each; U+FFFF is kept out so a packed 4-gram never has all
# top bits set, which marks the 3-character n-gram of a one-letter word.
_NOT_PACKED = 0xFFFF
_SHORT = np.uint64(0xFFFF << 48)


def _pack(gram: str) -> int | None:
    """A 4-gram (or a one-letter word's 3-gram) as the 64-bit number the batch path uses."""
    if any(ord(ch) >= _NOT_PACKED for ch in gram):
        return None
    if len(gram) == 4:
        a, b, c, d = (ord(ch) for ch in gram)
        return (a << 48) | (b << 32) | (c << 16) | d
    if len(gram) == 3:
        a, b, c = (ord(ch) for ch in gram)
        return int(_SHORT) | (a << 32) | (b << 16) | c
    return None


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
