"""The recorded GSM8K solutions the replay reasoner serves, indexed by normalised question."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import orjson

from vigil.inference.exceptions import ReplayDataError, UnknownQuestion
from vigil.settings import VARIANTS

_SPACES = re.compile(r"\s+")
_DIGIT = re.compile(r"\d")


def normalise_prompt(prompt: str) -> str:
    """Whitespace and case don't change a question; everything else does."""
    return _SPACES.sub(" ", prompt).strip().lower()


@dataclass(frozen=True)
class Recorded:
    question: str
    # variant -> (solution text, is_correct)
    solutions: dict[str, tuple[str, bool]]


# A prompt that differs from a recorded question in at most this many words (and this share
# of them) is the same question with other names or pronouns: a counterfactual probe.
_NEAR_MAX_WORDS = 4
_NEAR_MAX_SHARE = 0.15


class ReplayBook:
    """All recorded solutions, loaded once; lookups are O(1) by normalised question.

    A prompt that is a recorded question with a few words swapped (a counterfactual probe
    that changes names, pronouns or nationalities) is answered like that question, from
    ``counterfactual_variant`` when set: a replay model that treats the altered prompt
    differently, so the probe path can be exercised for real.
    """

    def __init__(
        self, rows: dict[str, Recorded], counterfactual_variant: str | None = None
    ) -> None:
        self._rows = rows
        self.counterfactual_variant = counterfactual_variant
        self._by_length: dict[int, list[tuple[list[str], Recorded]]] = {}
        for key, rec in rows.items():
            words = key.split(" ")
            self._by_length.setdefault(len(words), []).append((words, rec))

    def with_counterfactual_variant(self, variant: str | None) -> ReplayBook:
        return ReplayBook(self._rows, variant)

    def _near(self, normalised: str) -> Recorded | None:
        """The recorded question this prompt is a word-swapped variant of, if exactly one."""
        words = normalised.split(" ")
        budget = min(_NEAR_MAX_WORDS, int(len(words) * _NEAR_MAX_SHARE))
        found: Recorded | None = None
        for candidate, rec in self._by_length.get(len(words), []):
            diff = 0
            for a, b in zip(words, candidate, strict=True):
                if a != b:
                    # Other numbers make another question, not a counterfactual of this one.
                    if _DIGIT.search(a) or _DIGIT.search(b):
                        diff = budget + 1
                    diff += 1
                    if diff > budget:
                        break
            if 0 < diff <= budget:
                if found is not None:
                    return None  # ambiguous: don't guess
                found = rec
        return found

    @classmethod
    def load(cls, path: Path) -> ReplayBook:
        if not path.is_file():
            raise ReplayDataError(f"recorded solutions not found: {path}")
        rows: dict[str, Recorded] = {}
        with path.open("rb") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = orjson.loads(line)
                    solutions = {
                        v: (str(obj[v]["solution"]), bool(obj[v]["is_correct"]))
                        for v in VARIANTS
                        if v in obj
                    }
                    question = str(obj["question"])
                except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                    raise ReplayDataError(
                        f"{path}:{lineno}: not a model-solutions row ({exc})"
                    ) from exc
                if not solutions:
                    raise ReplayDataError(f"{path}:{lineno}: no recorded variant")
                rows[normalise_prompt(question)] = Recorded(question, solutions)
        if not rows:
            raise ReplayDataError(f"{path}: no rows")
        return cls(rows)

    def __len__(self) -> int:
        return len(self._rows)

    def questions(self) -> list[str]:
        return [r.question for r in self._rows.values()]

    def answer(self, prompt: str, variant: str, seed: int | None = None) -> tuple[str, str]:
        """The recorded solution for ``prompt``; returns (variant used, solution).

        A seed picks another recorded variant (seed 0 or none: the served one), so k
        self-consistency samples with different seeds give up to four distinct real outputs.
        """
        key = normalise_prompt(prompt)
        rec = self._rows.get(key)
        if rec is None:
            rec = self._near(key)
            if rec is None:
                raise UnknownQuestion("the replay reasoner has no recorded answer for this prompt")
            variant = self.counterfactual_variant or variant
        order = [variant, *(v for v in VARIANTS if v != variant)]
        order = [v for v in order if v in rec.solutions]
        chosen = order[(seed or 0) % len(order)]
        return chosen, rec.solutions[chosen][0]
