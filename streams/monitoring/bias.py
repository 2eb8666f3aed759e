"""Per-segment disparity: is one segment of the traffic treated worse than the rest?

Segments are the values of metadata attributes the product sends (locale, plan, a
demographic field...). Over the last few windows pooled, each segment is compared with the
rest of the traffic on:

* ``flag_rate``: share of its results that any check flagged (adverse);
* ``overturn_rate``: share of its reviewed items that reviewers rejected or corrected
  (adverse; only where decisions arrived on ``review.decisions``);
* ``answer_length``: mean length of the reasoning (either direction).

A segment fails when **both** hold: the disparity ratio (lower / higher) is under 0.8, the
four-fifths rule applied to the adverse rate, and the difference is significant at ``alpha``
Bonferroni-corrected over every test made (Fisher's exact test for rates, Mann-Whitney U for
lengths). Segments under ``min_rows`` are not judged: small segments don't alarm.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scipy import stats

from vigil_client.contracts import PROBE_KEY, PROBE_OF_KEY, VERDICTS, ReviewDecision

# An attribute with more values than this is an identifier, not a segment.
MAX_SEGMENT_VALUES = 20
IGNORED_KEYS = frozenset({PROBE_KEY, PROBE_OF_KEY})


@dataclass
class SegmentCounts:
    results: int = 0
    flagged: int = 0
    lengths: list[float] = field(default_factory=list)
    verdicts: int = 0
    overturned: int = 0

    def merge(self, other: SegmentCounts) -> None:
        self.results += other.results
        self.flagged += other.flagged
        self.lengths.extend(other.lengths)
        self.verdicts += other.verdicts
        self.overturned += other.overturned


Segment = tuple[str, str]


@dataclass(frozen=True)
class SegmentFinding:
    attribute: str
    value: str
    metric: str
    segment_value: float
    rest_value: float
    ratio: float
    p_value: float
    segment_rows: int
    rest_rows: int
    disparate: bool

    @property
    def key(self) -> str:
        """The hysteresis key: one alert per (segment, metric) shift."""
        return f"bias:{self.attribute}={self.value}:{self.metric}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "attribute": self.attribute,
            "value": self.value,
            "metric": self.metric,
            "segment_value": self.segment_value,
            "rest_value": self.rest_value,
            "ratio": self.ratio,
            "p_value": self.p_value,
            "segment_rows": self.segment_rows,
            "rest_rows": self.rest_rows,
            "disparate": self.disparate,
        }


def _ratio(a: float, b: float) -> float:
    hi = max(a, b)
    return 1.0 if hi <= 0 else min(a, b) / hi


class BiasTracker:
    """Per-segment counts of the last ``windows`` windows (plus decisions as they come)."""

    def __init__(self, attributes: Sequence[str] = (), windows: int = 5) -> None:
        self.attributes = tuple(attributes)
        self._windows: deque[dict[Segment, SegmentCounts]] = deque(maxlen=windows)
        self._decisions: dict[Segment, SegmentCounts] = {}

    def _segments(self, metadata: Mapping[str, str]) -> list[Segment]:
        keys = self.attributes or tuple(k for k in metadata if k not in IGNORED_KEYS)
        return [(k, str(metadata[k])) for k in keys if k in metadata]

    def add_window(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Count a closed window's rows (and the decisions seen since the last window)."""
        counts: dict[Segment, SegmentCounts] = {}
        for row in rows:
            for seg in self._segments(row.get("segments") or {}):
                c = counts.setdefault(seg, SegmentCounts())
                c.results += 1
                c.flagged += 1 if row.get("flagged") else 0
                length = row.get("reasoning_chars")
                if isinstance(length, int | float) and math.isfinite(length):
                    c.lengths.append(float(length))
        for seg, d in self._decisions.items():
            counts.setdefault(seg, SegmentCounts()).merge(d)
        self._decisions = {}
        self._windows.append(counts)

    def add_decision(self, decision: ReviewDecision) -> None:
        """A reviewer's verdict: ``reject`` or ``correct`` overturns the model's answer."""
        if decision.decision not in VERDICTS or not decision.final:
            return
        for seg in self._segments(decision.metadata):
            c = self._decisions.setdefault(seg, SegmentCounts())
            c.verdicts += 1
            c.overturned += 1 if decision.decision in ("reject", "correct") else 0

    def pooled(self) -> dict[Segment, SegmentCounts]:
        out: dict[Segment, SegmentCounts] = {}
        for window in self._windows:
            for seg, c in window.items():
                out.setdefault(seg, SegmentCounts()).merge(c)
        return out

    def evaluate(self, *, alpha: float, min_rows: int, ratio_limit: float) -> list[SegmentFinding]:
        """Every segment test over the pooled windows; ``disparate`` marks the failures."""
        pooled = self.pooled()
        by_attr: dict[str, dict[str, SegmentCounts]] = {}
        for (attr, value), c in pooled.items():
            by_attr.setdefault(attr, {})[value] = c
        tests: list[_Test] = []
        for attr, segs in sorted(by_attr.items()):
            if len(segs) < 2 or len(segs) > MAX_SEGMENT_VALUES:
                continue
            for value, seg in sorted(segs.items()):
                rest = SegmentCounts()
                for other, c in segs.items():
                    if other != value:
                        rest.merge(c)
                tests.extend(_tests(attr, value, seg, rest, min_rows))
        # Bonferroni: many segments x metrics tested each window would otherwise find
        # "significant" noise somewhere.
        cutoff = alpha / max(1, len(tests))
        return [
            SegmentFinding(
                attribute=t.attribute,
                value=t.value,
                metric=t.metric,
                segment_value=t.segment_value,
                rest_value=t.rest_value,
                ratio=_ratio(t.segment_value, t.rest_value),
                p_value=t.p_value,
                segment_rows=t.segment_rows,
                rest_rows=t.rest_rows,
                disparate=t.worse
                and _ratio(t.segment_value, t.rest_value) < ratio_limit
                and t.p_value < cutoff,
            )
            for t in tests
        ]


@dataclass(frozen=True)
class _Test:
    attribute: str
    value: str
    metric: str
    segment_value: float
    rest_value: float
    p_value: float
    segment_rows: int
    rest_rows: int
    # Whether the segment is on the adverse side (a length difference counts either way).
    worse: bool


def _tests(
    attr: str, value: str, seg: SegmentCounts, rest: SegmentCounts, min_rows: int
) -> list[_Test]:
    out = []
    if seg.results >= min_rows and rest.results >= min_rows:
        p1, p0 = seg.flagged / seg.results, rest.flagged / rest.results
        p = _fisher_greater(seg.flagged, seg.results, rest.flagged, rest.results)
        out.append(_Test(attr, value, "flag_rate", p1, p0, p, seg.results, rest.results, p1 > p0))
    if len(seg.lengths) >= min_rows and len(rest.lengths) >= min_rows:
        m1 = sum(seg.lengths) / len(seg.lengths)
        m0 = sum(rest.lengths) / len(rest.lengths)
        p = float(stats.mannwhitneyu(seg.lengths, rest.lengths, alternative="two-sided").pvalue)
        # Either way is a difference in treatment: much shorter reasoning, or much longer.
        n1, n0 = len(seg.lengths), len(rest.lengths)
        out.append(_Test(attr, value, "answer_length", m1, m0, p, n1, n0, True))
    if seg.verdicts >= min_rows and rest.verdicts >= min_rows:
        o1, o0 = seg.overturned / seg.verdicts, rest.overturned / rest.verdicts
        p = _fisher_greater(seg.overturned, seg.verdicts, rest.overturned, rest.verdicts)
        out.append(
            _Test(attr, value, "overturn_rate", o1, o0, p, seg.verdicts, rest.verdicts, o1 > o0)
        )
    return out


def _fisher_greater(hits: int, n: int, rest_hits: int, rest_n: int) -> float:
    """P-value that the segment's adverse rate is higher than the rest's (exact test)."""
    table = [[hits, n - hits], [rest_hits, rest_n - rest_hits]]
    return float(stats.fisher_exact(table, alternative="greater").pvalue)
