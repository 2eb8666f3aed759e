"""How each check explains itself: what it checks, and how reliable it is on labelled data.

The reliability comes from ``vigil eval --json`` (the checks replayed over the labelled GSM8K
solutions, ``eval/quality.py``), stored in ``check_reliability.json`` with where it came
from. Refresh it after changing the checks or their config (``vigil eval`` writes it: the
eval is the check engine's, and the console never imports the check engine)::

    .venv/bin/vigil eval --reliability-file dashboard/check_reliability.json

Reading a committed file keeps the console's start fast (the eval takes ~10 s).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from vigil.exceptions import ConfigError

DEFAULT_FILE = Path(__file__).resolve().parent / "check_reliability.json"
REFRESH_COMMAND = "vigil eval --reliability-file dashboard/check_reliability.json"

# What each built-in check looks for, in words a new reviewer understands (README "Checks").
WHAT_IT_CHECKS: dict[str, str] = {
    "step_verification": (
        "Recomputes every calculator annotation and the arithmetic written in each step, "
        "checks that the final answer is what the last step arrives at, and notices a "
        "missing answer (cut off) or runaway repetition."
    ),
    "self_consistency": (
        "Compares the answer with the k extra samples the model gave for the same prompt: "
        "when they disagree, at least one of them is wrong."
    ),
    "question_coverage": (
        "Numbers the question gives that the reasoning never uses (a weak hint; it never "
        "sends an item to review on its own)."
    ),
    "answer_stability": (
        "The same prompt was answered differently before (possibly by another model version)."
    ),
    "pii_leakage": (
        "Personal data in the output (e-mail, phone, card, IBAN, IP, names) that the prompt "
        "did not contain."
    ),
    "novelty": (
        "The prompt is unlike the reference prompts the model is known to handle (out of "
        "distribution), so its answers are less trustworthy."
    ),
    "verifier": (
        "A model on Triton read the solution step by step and named the earliest wrong step "
        "(or none) with its reason. A model's opinion, not a computed fact: weigh it by its "
        "measured precision."
    ),
}


@dataclass(frozen=True)
class CheckReliability:
    """One check's precision at predicting a wrong answer, pooled over the model variants."""

    check: str
    flagged: int  # results the check flagged, all variants together
    precision: float | None  # share of those whose answer was wrong; None when never flagged
    recall: float | None
    per_variant: dict[str, float | None]
    # Where it was measured when not the table's own data (a report's ``source``: the
    # verifier is measured on ProcessBench, with a served model).
    source: str | None = None


@dataclass(frozen=True)
class ReliabilityTable:
    source: str  # where the numbers were measured, in words
    generated_at: str
    checks: dict[str, CheckReliability]

    def get(self, check: str) -> CheckReliability | None:
        return self.checks.get(check)


def _pooled(reports: list[dict[str, Any]], check: str) -> CheckReliability:
    flagged = hits = wrong = 0
    per_variant: dict[str, float | None] = {}
    sources: list[str] = []
    for r in reports:
        stats = (r.get("checks") or {}).get(check)
        if stats is None:
            continue
        if r.get("source"):
            sources.append(str(r["source"]))
        n_flagged = int(stats.get("flagged") or 0)
        precision = stats.get("precision")
        flagged += n_flagged
        wrong += int(r.get("wrong") or 0)  # wrong answers in this variant (recall's base)
        if precision is not None:
            hits += round(precision * n_flagged)
        per_variant[str(r.get("variant"))] = precision
    return CheckReliability(
        check=check,
        flagged=flagged,
        precision=hits / flagged if flagged else None,
        recall=hits / wrong if wrong else None,
        per_variant=per_variant,
        source="; ".join(dict.fromkeys(sources)) or None,
    )


def load(path: Path) -> ReliabilityTable | None:
    """The table in ``path``; None when there is no such file (the console says so)."""
    if not path.exists():
        return None
    try:
        doc = orjson.loads(path.read_bytes())
        reports = list(doc["reports"])
        names = sorted({name for r in reports for name in (r.get("checks") or {})})
        return ReliabilityTable(
            source=str(doc.get("source", "unknown")),
            generated_at=str(doc.get("generated_at", "unknown")),
            checks={name: _pooled(reports, name) for name in names},
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"cannot read the check reliability file {path}: {exc}") from exc


def describe(check: str) -> str:
    return WHAT_IT_CHECKS.get(check, "A custom check: see its own documentation.")


def reliability_line(entry: CheckReliability | None, table: ReliabilityTable | None) -> str:
    """One line a reviewer reads next to a check that fired."""
    if table is None:
        return "Reliability: not measured (no check_reliability.json)."
    if entry is None:
        return "Reliability: not measured on labelled data (not in the eval run)."
    source = entry.source or table.source
    if entry.precision is None:
        return f"Reliability: it never fired on the labelled data ({source})."
    variants = [p for p in entry.per_variant.values() if p is not None]
    spread = f", {min(variants):.0%}-{max(variants):.0%} by model" if len(variants) > 1 else ""
    return (
        f"Reliability: when it fires, the answer is wrong {entry.precision:.0%} of the time "
        f"(precision over {entry.flagged} flags{spread}; {source})."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    args = parser.parse_args()
    table = load(args.file)
    if table is None:
        print(f"no {args.file}; write it with: {REFRESH_COMMAND}")
        return 1
    for name, entry in table.checks.items():
        print(f"{name:<20} {reliability_line(entry, table)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
