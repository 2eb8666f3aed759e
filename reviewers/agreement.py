"""Agreement: between reviewers on items reviewed by two or more, and of each check with them.

Each multi-reviewer version leaves a rating: reviewer -> verdict (approve, reject, correct)
and the checks that flagged the item. From those: Cohen's kappa for every pair of reviewers
and for each reviewer against everyone they were paired with; Krippendorff's alpha
(nominal) overall and per check. Disagreeing versions went to a lead (decide.lua).
Pure functions; ``agreement_report`` takes the ratings as ``ReviewQueue.ratings()`` gives.

Checks against reviewers (``check_agreement``, from ``outcomes.settled_outcomes``): per check,
over the settled items it ran on, its flag against the final verdict (found wrong: rejected
or corrected): the confusion matrix, Cohen's kappa, and the request ids where they disagree
(the console opens them). Reviewers see every flagged item but only a sample of the clean
ones, so the matrix describes the reviewed items, not all traffic (misses are undercounted).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from vigil.reviewers.outcomes import Outcome

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


# Disagreements kept per check and kind (the console lists them; the counts are exact).
MAX_DISAGREEMENTS = 200


@dataclass(frozen=True)
class CheckAgreement:
    """One check's flags against reviewers' verdicts on the settled items it ran on."""

    check: str
    flagged_wrong: int  # flagged, and reviewers found it wrong (agree)
    flagged_right: int  # flagged, reviewers approved (a false alarm)
    missed_wrong: int  # not flagged, reviewers found it wrong (a miss)
    passed_right: int  # not flagged, approved (agree)
    kappa: float | None
    false_alarms: tuple[str, ...] = ()
    misses: tuple[str, ...] = ()

    @property
    def items(self) -> int:
        return self.flagged_wrong + self.flagged_right + self.missed_wrong + self.passed_right

    @property
    def agreement(self) -> float | None:
        return (self.flagged_wrong + self.passed_right) / self.items if self.items else None


def check_agreement(outcomes: Iterable[Outcome]) -> list[CheckAgreement]:
    """Per check that ran on a settled item (sorted by name), newest disagreements first when
    ``outcomes`` are newest first (as ``settled_outcomes`` reads them)."""
    pairs: dict[str, list[Pair]] = defaultdict(list)
    alarms: dict[str, list[str]] = defaultdict(list)
    misses: dict[str, list[str]] = defaultdict(list)
    for o in outcomes:
        human = "wrong" if o.found_wrong else "right"
        for check in dict.fromkeys((*o.ran, *o.flagged)):
            flag = "wrong" if check in o.flagged else "right"
            pairs[check].append((flag, human))
            if flag != human:
                (alarms if flag == "wrong" else misses)[check].append(o.request_id)
    out = []
    for check, labelled in sorted(pairs.items()):
        counts = Counter(labelled)
        out.append(
            CheckAgreement(
                check=check,
                flagged_wrong=counts[("wrong", "wrong")],
                flagged_right=counts[("wrong", "right")],
                missed_wrong=counts[("right", "wrong")],
                passed_right=counts[("right", "right")],
                kappa=cohen_kappa(labelled),
                false_alarms=tuple(alarms[check][:MAX_DISAGREEMENTS]),
                misses=tuple(misses[check][:MAX_DISAGREEMENTS]),
            )
        )
    return out
