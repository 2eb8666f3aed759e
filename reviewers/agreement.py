"""Inter-reviewer agreement on items reviewed by two or more reviewers.

Each multi-reviewer version leaves a rating: reviewer -> verdict (approve, reject, correct)
and the checks that flagged the item. From those: Cohen's kappa for every pair of reviewers
and for each reviewer against everyone they were paired with; Krippendorff's alpha
(nominal) overall and per check. Disagreeing versions went to a lead (decide.lua).
Pure functions; ``agreement_report`` takes the ratings as ``ReviewQueue.ratings()`` gives.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

Pair = tuple[str, str]


def cohen_kappa(pairs: Iterable[Pair]) -> float | None:
    """Cohen's kappa of (rater A's label, rater B's label) pairs; None if undefined
    (no pairs, or both raters always gave one and the same label)."""
    pairs = list(pairs)
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(a == b for a, b in pairs) / n
    left = Counter(a for a, _ in pairs)
    right = Counter(b for _, b in pairs)
    expected = sum(left[c] * right[c] for c in left) / (n * n)
    if expected == 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def krippendorff_alpha(units: Iterable[Iterable[str]]) -> float | None:
    """Krippendorff's alpha, nominal, for units each rated by any number of raters (units
    with fewer than two ratings carry no information and are skipped); None if undefined."""
    coincidences: dict[Pair, float] = defaultdict(float)
    for unit in units:
        labels = list(unit)
        m = len(labels)
        if m < 2:
            continue
        for i, a in enumerate(labels):
            for j, b in enumerate(labels):
                if i != j:
                    coincidences[(a, b)] += 1.0 / (m - 1)
    totals: dict[str, float] = defaultdict(float)
    for (a, _), v in coincidences.items():
        totals[a] += v
    n = sum(totals.values())
    if n <= 1:
        return None
    disagree = sum(v for (a, b), v in coincidences.items() if a != b)
    expected = sum(totals[a] * totals[b] for a in totals for b in totals if a != b)
    if expected == 0:
        return None
    return 1.0 - (n - 1) * disagree / expected


@dataclass(frozen=True)
class AgreementReport:
    items: int
    disagreements: int
    alpha: float | None
    alpha_by_check: dict[str, float | None]
    items_by_check: dict[str, int]
    kappa_by_pair: dict[Pair, float | None]
    kappa_by_reviewer: dict[str, float | None]
    pairs_by_reviewer: dict[str, int] = field(default_factory=dict)


def agreement_report(ratings: Mapping[str, Mapping[str, Any]]) -> AgreementReport:
    """From ``{request_id: ReviewRating as a dict}``."""
    units: list[list[str]] = []
    by_check: dict[str, list[list[str]]] = defaultdict(list)
    by_pair: dict[Pair, list[Pair]] = defaultdict(list)
    by_reviewer: dict[str, list[Pair]] = defaultdict(list)
    disagreements = 0
    for rating in ratings.values():
        labels: dict[str, str] = dict(rating["labels"])
        if len(labels) < 2:
            continue
        unit = [labels[r] for r in sorted(labels)]
        units.append(unit)
        disagreements += len(set(unit)) > 1
        for check in rating.get("checks", []):
            by_check[check].append(unit)
        for a, b in combinations(sorted(labels), 2):
            by_pair[(a, b)].append((labels[a], labels[b]))
            # Each reviewer's own label first, the other's second.
            by_reviewer[a].append((labels[a], labels[b]))
            by_reviewer[b].append((labels[b], labels[a]))
    return AgreementReport(
        items=len(units),
        disagreements=disagreements,
        alpha=krippendorff_alpha(units),
        alpha_by_check={c: krippendorff_alpha(u) for c, u in sorted(by_check.items())},
        items_by_check={c: len(u) for c, u in sorted(by_check.items())},
        kappa_by_pair={p: cohen_kappa(v) for p, v in sorted(by_pair.items())},
        kappa_by_reviewer={r: cohen_kappa(v) for r, v in sorted(by_reviewer.items())},
        pairs_by_reviewer={r: len(v) for r, v in sorted(by_reviewer.items())},
    )


def format_report(report: AgreementReport) -> str:
    def num(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    lines = [
        f"items with >= 2 reviewers: {report.items}   disagreements (to a lead): "
        f"{report.disagreements}",
        f"Krippendorff's alpha (nominal), all items: {num(report.alpha)}",
        "",
        "per check                      items   alpha",
    ]
    for check, alpha in report.alpha_by_check.items():
        lines.append(f"  {check:<28} {report.items_by_check[check]:>5}   {num(alpha)}")
    lines += ["", "per reviewer (Cohen's kappa vs. the reviewers paired with)   pairs   kappa"]
    for reviewer, kappa in report.kappa_by_reviewer.items():
        lines.append(f"  {reviewer:<58} {report.pairs_by_reviewer[reviewer]:>5}   {num(kappa)}")
    lines += ["", "per pair (Cohen's kappa)"]
    for (a, b), kappa in report.kappa_by_pair.items():
        lines.append(f"  {a} / {b}: {num(kappa)}")
    return "\n".join(lines)
