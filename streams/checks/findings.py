"""A check's finding: the weight it adds to the check's score, and its evidence."""

from __future__ import annotations

from dataclasses import dataclass

from vigil_client.contracts import Evidence

__all__ = ["Finding", "fmt", "short"]


@dataclass(frozen=True, slots=True)
class Finding:
    weight: float
    evidence: Evidence
    # Whether the finding says its step is wrong (an error there) rather than only where
    # something shows (a cut-off at the last step): only those name the first faulty step.
    locates: bool = True


def short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fmt(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.10g}"
