"""The share of wrong answers in production, per model version, product and segment (pure).

Two strata, because reviewers see them at different rates: **clean** results (the random
sample, ``[sampling] clean_rate``, is a simple random sample of them) and **queued** results
(all of them go to review; the settled ones are taken as a random subset of them). In each,
the screened results' predicted P(wrong) (the risk score of the model in use) is corrected
by the labels (``ppi``), and the strata are combined by their sizes. Results the monitor
sampled for an alert or a probe were picked by other rules: they are not labels here.

Inputs are sums: ``pools`` counts what the monitor screened per window (``window_pools``:
per risk-model version, group and stratum, the count and the sum of predictions), ``labels``
are settled review items already scored by the same model version (``LabelledRow``). A group
is ``all``, ``model:<version>``, ``product:<name>`` or ``<key>=<value>`` for a segment key.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vigil.streams.calibration.ppi import Estimate, LabelSums, Pool, classical, combine, ppi

__all__ = [
    "ALL",
    "STRATA",
    "GroupEstimate",
    "LabelledRow",
    "estimate_groups",
    "groups_of",
    "merge_pools",
    "window_pools",
]

ALL = "all"
STRATA = ("clean", "queued")
# window_pools' shape: version -> group -> stratum -> [count, sum of predictions]
Pools = dict[str, dict[str, dict[str, list[float]]]]


def groups_of(
    model_version: str | None,
    product: str | None,
    metadata: Mapping[str, str],
    segment_keys: Sequence[str],
) -> list[str]:
    out = [ALL, f"model:{model_version or 'unknown'}"]
    if product:
        out.append(f"product:{product}")
    out += [f"{k}={metadata[k]}" for k in segment_keys if metadata.get(k)]
    return out


def window_pools(rows: Iterable[Mapping[str, Any]], segment_keys: Sequence[str]) -> Pools:
    """A window's monitoring rows (``risk_score``, ``verdict``, ``risk_version``,
    ``model_version``, ``product``, ``segments``) as sums per version, group and stratum."""
    out: Pools = {}
    for r in rows:
        version = str(r.get("risk_version") or "prior")
        stratum = "queued" if r.get("verdict") == "queued" else "clean"
        f = float(r.get("risk_score") or 0.0)
        groups = groups_of(
            r.get("model_version"), r.get("product"), r.get("segments") or {}, segment_keys
        )
        by_group = out.setdefault(version, {})
        for g in groups:
            cell = by_group.setdefault(g, {}).setdefault(stratum, [0.0, 0.0])
            cell[0] += 1
            cell[1] += f
    return out


def merge_pools(
    parts: Iterable[Mapping[str, Mapping[str, Sequence[float]]]],
) -> dict[str, dict[str, Pool]]:
    """One version's pools of many windows, added up: group -> stratum -> Pool."""
    out: dict[str, dict[str, Pool]] = defaultdict(dict)
    for part in parts:
        for group, strata in part.items():
            for stratum, (n, f) in strata.items():
                out[group][stratum] = out[group].get(stratum, Pool()) + Pool(int(n), float(f))
    return dict(out)


@dataclass(frozen=True)
class LabelledRow:
    """A settled review item as a label: its stratum, groups, verdict and prediction."""

    stratum: str
    groups: tuple[str, ...]
    wrong: bool
    f: float


@dataclass(frozen=True)
class GroupEstimate:
    group: str
    screened: int
    labelled: int
    ppi: Estimate | None  # None: a stratum with fewer than two labels
    classical: Estimate | None  # the labels alone, same design
    model_only: float  # mean predicted P(wrong): the model uncorrected
    reviewed_wrong: float | None  # the naive rate: share wrong among the reviewed

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "screened": self.screened,
            "labelled": self.labelled,
            "ppi": None if self.ppi is None else self.ppi.to_dict(),
            "classical": None if self.classical is None else self.classical.to_dict(),
            "model_only": self.model_only,
            "reviewed_wrong": self.reviewed_wrong,
        }


def _stratified(
    pools: Mapping[str, Pool], labels: Mapping[str, LabelSums], tuned: bool
) -> Estimate | None:
    parts = []
    for stratum, pool in pools.items():
        if pool.n == 0:
            continue
        got = labels.get(stratum, LabelSums())
        est = ppi(pool, got) if tuned else classical(pool, got)
        if est is None:
            return None
        parts.append(est)
    return combine(parts)


def estimate_groups(
    pools: Mapping[str, Mapping[str, Pool]], labels: Iterable[LabelledRow]
) -> dict[str, GroupEstimate]:
    """Per group that was screened: the PPI estimate and its baselines."""
    sums: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    for row in labels:
        for g in row.groups:
            sums[g][row.stratum].append((1.0 if row.wrong else 0.0, row.f))
    out = {}
    for group, strata in sorted(pools.items()):
        got = {s: LabelSums.of(v) for s, v in sums.get(group, {}).items()}
        screened = sum(p.n for p in strata.values())
        labelled = sum(s.n for s in got.values())
        out[group] = GroupEstimate(
            group=group,
            screened=screened,
            labelled=labelled,
            ppi=_stratified(strata, got, tuned=True),
            classical=_stratified(strata, got, tuned=False),
            model_only=sum(p.f for p in strata.values()) / screened if screened else 0.0,
            reviewed_wrong=sum(s.y for s in got.values()) / labelled if labelled else None,
        )
    return out
