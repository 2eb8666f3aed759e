"""The recorded GSM8K solutions the replay reasoner serves, indexed by normalised question."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import orjson

from inference.exceptions import ReplayDataError, UnknownQuestion
from vigil.settings import VARIANTS

_SPACES = re.compile(r"\s+")


def normalise_prompt(prompt: str) -> str:
    """Whitespace and case don't change a question; everything else does."""
    return _SPACES.sub(" ", prompt).strip().lower()


@dataclass(frozen=True)
class Recorded:
    question: str
    # variant -> (solution text, is_correct)
    solutions: dict[str, tuple[str, bool]]


class ReplayBook:
    """All recorded solutions, loaded once; lookups are O(1) by normalised question."""

    def __init__(self, rows: dict[str, Recorded]) -> None:
        self._rows = rows

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
        rec = self._rows.get(normalise_prompt(prompt))
        if rec is None:
            raise UnknownQuestion("the replay reasoner has no recorded answer for this prompt")
        order = [variant, *(v for v in VARIANTS if v != variant)]
        order = [v for v in order if v in rec.solutions]
        chosen = order[(seed or 0) % len(order)]
        return chosen, rec.solutions[chosen][0]
