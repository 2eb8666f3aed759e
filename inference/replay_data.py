"""The recorded model outputs the replay reasoner serves, indexed by normalised question.

One book holds one or more files in the shared row format (one question a line; per variant
``{"is_correct": bool, "solution": str, ...}``): the GPT-3 file, the Faithful-COT, Re2 and
ProcessBench files, or any file like them. Nothing here assumes an answer format: a solution
is served as the text it was recorded as.

Variants are discovered from each file (every key whose value is such an object), never from
a fixed list. A variant is named ``<file>:<name>``, where ``<file>`` is the file's folder for
a ``model_solutions.jsonl`` (``re2_gsm8k``, ``gsm8k``) and its stem otherwise; the bare
``<name>`` works too while no other loaded file has a variant of that name. Its Triton version
is its 1-based position among its file's variants. A variant whose rows name a ``generator``
(ProcessBench mixes twelve models in one) also yields one variant per generator, so a served
model can say which model wrote the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from vigil.inference.exceptions import ReplayDataError, UnknownQuestion

# Said with every unknown question (dead letter, CLI, console): what a replay model can answer,
# and where a real model comes in.
UNKNOWN_HINT = (
    " (a replay model answers only the GSM8K questions recorded in its files, as `vigil publish`"
    " sends them; to answer any question, point Vigil at a real model: README, 'Using an"
    " existing Kafka, Redis or Triton')"
)
_SPACES = re.compile(r"\s+")
_DIGIT = re.compile(r"\d")
_SOLUTIONS_FILE = "model_solutions.jsonl"


def normalise_prompt(prompt: str) -> str:
    """Whitespace and case don't change a question; everything else does."""
    return _SPACES.sub(" ", prompt).strip().lower()


def file_key(path: Path) -> str:
    """The short name of a recorded file: its folder for ``model_solutions.jsonl``."""
    return path.parent.name if path.name == _SOLUTIONS_FILE else path.stem


@dataclass(frozen=True)
class Variant:
    """One recorded model of one file."""

    file: str
    name: str
    version: int  # 1-based position among the file's variants: the Triton model version
    path: Path
    # For a variant split from a mixed one by its rows' ``generator``: that mixed variant.
    split_of: str = ""

    @property
    def id(self) -> str:
        return f"{self.file}:{self.name}"


@dataclass(frozen=True)
class Recorded:
    question: str
    # variant id -> (solution text, is_correct)
    solutions: dict[str, tuple[str, bool]] = field(default_factory=dict)


# A prompt that differs from a recorded question in at most this many words (and this share
# of them) is the same question with other names or pronouns: a counterfactual probe.
_NEAR_MAX_WORDS = 4
_NEAR_MAX_SHARE = 0.15


def _variant_entries(obj: dict[str, object]) -> Iterable[tuple[str, dict[str, object]]]:
    for key, value in obj.items():
        if isinstance(value, dict) and "solution" in value and "is_correct" in value:
            yield key, value


class _FileReader:
    """Reads one file into the book's rows, numbering its variants in order of appearance."""

    def __init__(self, path: Path, rows: dict[str, Recorded]) -> None:
        self.path = path
        self.key = file_key(path)
        self.rows = rows
        self.variants: dict[str, Variant] = {}

    def _variant(self, name: str, split_of: str = "") -> str:
        if name not in self.variants:
            version = len(self.variants) + 1
            self.variants[name] = Variant(self.key, name, version, self.path, split_of)
        return self.variants[name].id

    def read(self) -> None:
        if not self.path.is_file():
            raise ReplayDataError(f"recorded solutions not found: {self.path}")
        with self.path.open("rb") as fh:
            for lineno, line in enumerate(fh, 1):
                if line.strip():
                    self._row(lineno, line)
        if not self.variants:
            raise ReplayDataError(f"{self.path}: no rows")

    def _row(self, lineno: int, line: bytes) -> None:
        try:
            obj = orjson.loads(line)
            question = str(obj["question"])
            entries = [
                (name, str(v["solution"]), bool(v["is_correct"]), v.get("generator"))
                for name, v in _variant_entries(obj)
            ]
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ReplayDataError(
                f"{self.path}:{lineno}: not a model-solutions row ({exc})"
            ) from exc
        if not entries:
            raise ReplayDataError(f"{self.path}:{lineno}: no recorded variant")
        key = normalise_prompt(question)
        rec = self.rows.setdefault(key, Recorded(question))
        for name, solution, correct, generator in entries:
            # A question recorded twice for one variant (ProcessBench: two generators) keeps
            # its first recording there; the other stays its own generator's.
            rec.solutions.setdefault(self._variant(name), (solution, correct))
            if isinstance(generator, str) and generator and generator != name:
                rec.solutions.setdefault(self._variant(generator, name), (solution, correct))


class ReplayBook:
    """All recorded solutions, loaded once; lookups are O(1) by normalised question.

    A prompt that is a recorded question with a few words swapped (a counterfactual probe
    that changes names, pronouns or nationalities) is answered like that question, from the
    ``counterfactual`` variant when :meth:`answer` is given one: a replay model that treats the
    altered prompt differently, so the probe path can be exercised for real.
    """

    def __init__(self, rows: dict[str, Recorded], variants: dict[str, Variant]) -> None:
        self._rows = rows
        self.variants = variants  # by id, in file order
        self._by_length: dict[int, list[tuple[list[str], Recorded]]] = {}
        for key, rec in rows.items():
            words = key.split(" ")
            self._by_length.setdefault(len(words), []).append((words, rec))

    @classmethod
    def load(cls, *paths: Path) -> ReplayBook:
        if not paths:
            raise ReplayDataError("no recorded-solutions file given")
        rows: dict[str, Recorded] = {}
        variants: dict[str, Variant] = {}
        keys: dict[str, Path] = {}
        for path in paths:
            reader = _FileReader(Path(path), rows)
            if reader.key in keys:
                raise ReplayDataError(
                    f"{path} and {keys[reader.key]} have the same name {reader.key!r}"
                )
            keys[reader.key] = reader.path
            reader.read()
            variants.update({v.id: v for v in reader.variants.values()})
        return cls(rows, variants)

    def __len__(self) -> int:
        return len(self._rows)

    def variant(self, ref: str) -> Variant:
        """The variant ``ref`` names: ``file:name``, or a ``name`` only one file has."""
        if ref in self.variants:
            return self.variants[ref]
        found = [v for v in self.variants.values() if v.name == ref]
        if len(found) == 1:
            return found[0]
        if found:
            choices = ", ".join(v.id for v in found)
            raise ReplayDataError(f"replay variant {ref!r} is in several files: say {choices}")
        known = ", ".join(self.variants)
        raise ReplayDataError(f"unknown replay variant {ref!r}; the loaded files have {known}")

    def questions(self, variant: str | None = None) -> list[str]:
        """Every recorded question, or those ``variant`` has a recording of."""
        if variant is None:
            return [r.question for r in self._rows.values()]
        vid = self.variant(variant).id
        return [r.question for r in self._rows.values() if vid in r.solutions]

    def recorded(self, prompt: str, variant: str) -> tuple[str, bool] | None:
        """``variant``'s (solution, is_correct) for exactly this question, if recorded."""
        rec = self._rows.get(normalise_prompt(prompt))
        return None if rec is None else rec.solutions.get(self.variant(variant).id)

    def knows(self, prompt: str) -> bool:
        """Whether ``prompt`` is a recorded question, or a word-swapped copy of exactly one."""
        key = normalise_prompt(prompt)
        return key in self._rows or self._near(key) is not None

    def label(self, prompt: str, output: str) -> bool | None:
        """Whether ``output`` is a correct answer to ``prompt``, when it is a recorded
        solution of it (of any variant; the prompt may be a word-swapped copy): the
        recordings' ``is_correct``. None when the output is not one of them."""
        key = normalise_prompt(prompt)
        rec = self._rows.get(key) or self._near(key)
        if rec is None:
            return None
        text = output.strip()
        for solution, correct in rec.solutions.values():
            # A served answer may be cut at max_tokens: a long enough prefix still names it.
            if solution.strip() == text or (len(text) >= 40 and solution.startswith(text)):
                return correct
        return None

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

    def answer(
        self,
        prompt: str,
        variant: str,
        seed: int | None = None,
        *,
        cross_model: bool = False,
        counterfactual: str | None = None,
    ) -> tuple[str, str]:
        """The recorded solution of ``variant`` for ``prompt``; returns (variant id, text).

        A recorded model has one output per question, so every seed gets that output (a
        greedy model's samples). With ``cross_model`` a seed picks another variant of the same
        file instead (seed 0 or none: the served one; a generator's variant picks among the
        other generators, a mixed one among the other mixed ones): samples then measure
        agreement between different models, not one model's self-consistency, and must be
        labelled so.
        """
        served = self.variant(variant)
        key = normalise_prompt(prompt)
        rec = self._rows.get(key)
        if rec is None:
            rec = self._near(key)
            if rec is None:
                raise UnknownQuestion(
                    "the replay reasoner has no recorded answer for this prompt" + UNKNOWN_HINT
                )
            if counterfactual is not None:
                other = self.variant(counterfactual)
                if other.id in rec.solutions:
                    served = other
        if served.id not in rec.solutions:
            raise UnknownQuestion(
                f"the replay reasoner has no recorded answer of {served.id} for this prompt"
                + UNKNOWN_HINT
            )
        if not cross_model or not seed:
            return served.id, rec.solutions[served.id][0]
        order = [served.id] + [
            vid
            for vid, v in self.variants.items()
            if v.file == served.file
            and bool(v.split_of) == bool(served.split_of)
            and vid != served.id
            and vid in rec.solutions
        ]
        chosen = order[seed % len(order)]
        return chosen, rec.solutions[chosen][0]
