"""PLACEHOLDER (replaced by the model side's module): prompt and answer parsing."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vigil.streams.exceptions import CritiqueParseError

__all__ = ["DEFAULT_TEMPLATE", "Critique", "CritiqueParseError"]

DEFAULT_TEMPLATE = Path(__file__).with_name("critic_prompt.txt")


@dataclass(frozen=True)
class Critique:
    first_wrong_step: int | None
    reason: str
    score: float
    step_scores: tuple[float, ...] = ()


def render_prompt(template: str, question: str, steps: Sequence[str]) -> str:
    body = "\n\n".join(f"<paragraph_{i}>\n{s}\n</paragraph_{i}>" for i, s in enumerate(steps))
    return template.replace("{question}", question).replace("{steps}", body)


def parse_critique(text: str, n_steps: int) -> Critique:
    m = re.search(r"\\boxed\{\s*(-?\d+)\s*\}", text)
    if not m:
        raise CritiqueParseError("no \\boxed{index} in the answer")
    i = int(m.group(1))
    if i == -1:
        return Critique(None, text.strip()[:300], 0.0)
    if not 0 <= i < n_steps:
        raise CritiqueParseError(f"step {i} out of range 0..{n_steps - 1}")
    return Critique(i, text.strip()[:300], 1.0)


def parse_step_scores(text: str, n_steps: int, threshold: float) -> Critique:
    scores = tuple(float(x) for x in text.split())
    if len(scores) != n_steps:
        raise CritiqueParseError(f"{len(scores)} scores for {n_steps} steps")
    bad = next((i for i, s in enumerate(scores) if s < threshold), None)
    return Critique(bad, "", 1.0 - min(scores), scores)


def prm_input(question: str, steps: Sequence[str]) -> str:
    return json.dumps({"question": question, "steps": list(steps)})
