"""Window-vs-reference drift with Evidently, on pinned methods and calibrated thresholds.

Methods are pinned (Wasserstein normed for numbers, Jensen-Shannon for categories, the
domain-classifier AUC ``abs_text_content_drift`` for text), so a score means the same at every
window size: Evidently's defaults switch method at 1,000 rows (stack notes §4).

Thresholds are not Evidently's defaults, which alarm on windows of a few hundred rows with
no change at all (stack notes §9). They are *calibrated against the reference itself*:
windows of the configured size are drawn from the reference and scored against the rest of
it, and a column's threshold is ``margin`` times the largest such no-change score (measured
above the score of "no difference": 0 for distances, 0.5 for the text AUC; never below a
floor). A column drifts when its score reaches its threshold; a window drifts when at least
``min_columns`` columns do.

Scores come from Evidently's registered statistical tests of the pinned methods (the functions
``DataDriftPreset`` calls per column) inside a small new-API metric,
:class:`ColumnDriftScores`, so each window yields an Evidently snapshot (stored for the console)
without the plot data the preset prepares for every column; the full ``DataDriftPreset`` HTML
is rendered only on demand (:func:`render_html`).
"""

from __future__ import annotations

import contextlib
import math
import random
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.core.metric_types import ByLabelCalculation, ByLabelMetric
from evidently.legacy.calculations.stattests.registry import get_stattest
from evidently.legacy.core import ColumnType
from evidently.presets import DataDriftPreset
from evidently.tests import lte
from sklearn.exceptions import ConvergenceWarning

from vigil.streams.monitoring.exceptions import MonitoringError

NUM_METHOD = "wasserstein"
CAT_METHOD = "jensenshannon"
TEXT_METHOD = "abs_text_content_drift"
# Lowest thresholds: a column constant in the reference has a no-change score of 0, and any
# wobble would otherwise count as drift.
FLOORS = {"numerical": 0.05, "categorical": 0.05, "text": 0.55}
# The score of "no difference at all": distances are 0, the text classifier's AUC is 0.5. The
# margin scales the no-change spread above it, not the score itself.
BASELINES = {"numerical": 0.0, "categorical": 0.0, "text": 0.5}


def threshold_of(kind: str, null_max: float, margin: float, scale: float = 1.0) -> float:
    base = BASELINES[kind]
    return max(FLOORS[kind], base + margin * scale * max(0.0, null_max - base))


@dataclass(frozen=True)
class ColumnSet:
    """The columns compared, by Evidently type."""

    numerical: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    text: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [*self.numerical, *self.categorical, *self.text]

    def kind(self, column: str) -> str:
        if column in self.numerical:
            return "numerical"
        if column in self.categorical:
            return "categorical"
        return "text"

    def method(self, column: str) -> str:
        return {"numerical": NUM_METHOD, "categorical": CAT_METHOD, "text": TEXT_METHOD}[
            self.kind(column)
        ]

    def definition(self) -> DataDefinition:
        return DataDefinition(
            numerical_columns=list(self.numerical),
            categorical_columns=list(self.categorical),
            text_columns=list(self.text),
        )

    def usable(self, frame: pd.DataFrame) -> ColumnSet:
        """Only the columns with data in ``frame`` (e.g. no samples: no self-consistency)."""

        def ok(c: str) -> bool:
            return c in frame.columns and bool(frame[c].notna().any())

        return ColumnSet(
            numerical=tuple(c for c in self.numerical if ok(c)),
            categorical=tuple(c for c in self.categorical if ok(c)),
            text=tuple(c for c in self.text if ok(c)),
        )


_TYPES = {
    "numerical": ColumnType.Numerical,
    "categorical": ColumnType.Categorical,
    "text": ColumnType.Text,
}


def _prepare(frame: pd.DataFrame, columns: ColumnSet) -> pd.DataFrame:
    out = frame.reindex(columns=columns.names).copy()
    for c in columns.numerical:
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    for c in (*columns.categorical, *columns.text):
        out[c] = out[c].astype("object").where(out[c].notna(), None)
    return out


def _clean(series: pd.Series) -> pd.Series:
    # What Evidently's dataset drift does before a test: infinities are missing values.
    return series.replace([-np.inf, np.inf], np.nan).dropna()


def column_scores(
    reference: pd.DataFrame, current: pd.DataFrame, columns: ColumnSet
) -> dict[str, float]:
    """Evidently's registered statistical test of each column's pinned method, on its values.

    The same test functions ``DataDriftPreset`` calls, without the plot data the preset
    prepares for every column (histograms, correlations): those cost 10x the test itself.
    Columns with no values on either side are left out (no score, not "no drift").
    """
    out: dict[str, float] = {}
    with _quiet():
        for column in columns.names:
            kind = columns.kind(column)
            ref, cur = _clean(reference[column]), _clean(current[column])
            if ref.empty or cur.empty:
                continue
            test = get_stattest(ref, cur, _TYPES[kind], columns.method(column))
            out[column] = float(test(ref, cur, _TYPES[kind], None).drift_score)
    return out


def raw_scores(
    reference: pd.DataFrame, current: pd.DataFrame, columns: ColumnSet
) -> dict[str, float]:
    """The per-column scores without a report or snapshot (calibration uses it)."""
    usable = columns.usable(reference).usable(current)
    return column_scores(_prepare(reference, usable), _prepare(current, usable), usable)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Evidently's internal noise: its text classifier's SGD stops at 50 iterations by design."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        yield


class ColumnDriftScores(ByLabelMetric):
    """Evidently metric: the pinned-method drift score of each column (label = column)."""

    numerical: list[str] = []
    categorical: list[str] = []
    text: list[str] = []
    # Pydantic (v1) fields: the defaults are copied per instance. Thresholds are recorded in
    # the snapshot (and as one test per column) so a stored result explains itself.
    thresholds: dict[str, float] = {}


class ColumnDriftScoresCalculation(ByLabelCalculation[ColumnDriftScores]):
    def calculate(self, context: Any, current_data: Any, reference_data: Any) -> Any:
        if reference_data is None:
            raise MonitoringError("drift needs a reference dataset")
        m = self.metric
        columns = ColumnSet(tuple(m.numerical), tuple(m.categorical), tuple(m.text))
        scores = column_scores(reference_data.as_dataframe(), current_data.as_dataframe(), columns)
        return self.result(scores)

    def display_name(self) -> str:
        return "Drift score by column (pinned methods, calibrated thresholds)"


@dataclass(frozen=True)
class Calibration:
    """Per-column thresholds from no-change windows drawn out of the reference."""

    window_rows: int
    resamples: int
    margin: float
    thresholds: dict[str, float]
    null_max: dict[str, float]
    null_mean: dict[str, float]
    kinds: dict[str, str]

    def for_rows(self, rows: int) -> dict[str, float]:
        """Thresholds for a window of ``rows`` rows (a time window may close short or long).

        Sampling noise of these distances shrinks about as 1/sqrt(n), so the calibrated
        thresholds are scaled by sqrt(calibrated rows / rows); floors still apply.
        """
        if rows <= 0 or rows == self.window_rows:
            return dict(self.thresholds)
        scale = math.sqrt(self.window_rows / rows)
        return {
            c: threshold_of(self.kinds[c], self.null_max[c], self.margin, scale)
            for c in self.thresholds
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "window_rows": self.window_rows,
            "resamples": self.resamples,
            "margin": self.margin,
            "thresholds": self.thresholds,
            "null_max": self.null_max,
            "null_mean": self.null_mean,
            "kinds": self.kinds,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Calibration:
        return cls(
            window_rows=int(raw["window_rows"]),
            resamples=int(raw["resamples"]),
            margin=float(raw["margin"]),
            thresholds={k: float(v) for k, v in raw["thresholds"].items()},
            null_max={k: float(v) for k, v in raw["null_max"].items()},
            null_mean={k: float(v) for k, v in raw["null_mean"].items()},
            kinds={k: str(v) for k, v in raw["kinds"].items()},
        )


def calibrate(
    reference: pd.DataFrame,
    columns: ColumnSet,
    *,
    window_rows: int,
    resamples: int,
    margin: float,
    seed: int = 0,
) -> Calibration:
    """Score ``resamples`` no-change windows of ``window_rows`` drawn from the reference.

    Each window is scored against the *rest* of the reference (not against rows it contains),
    so the no-change scores are what an independent window of the same traffic would get.
    """
    n = len(reference)
    if window_rows < 2 or n < 2 * window_rows:
        raise MonitoringError(
            f"a reference of {n} rows cannot calibrate windows of {window_rows} rows "
            f"(it needs at least twice as many)"
        )
    usable = columns.usable(reference)
    rng = random.Random(seed)
    scores: dict[str, list[float]] = {c: [] for c in usable.names}
    index = list(range(n))
    for _ in range(resamples):
        picked = set(rng.sample(index, window_rows))
        window = reference.iloc[sorted(picked)]
        rest = reference.iloc[[i for i in index if i not in picked]]
        for column, score in raw_scores(rest, window, usable).items():
            if math.isfinite(score):
                scores[column].append(score)
    thresholds: dict[str, float] = {}
    null_max: dict[str, float] = {}
    null_mean: dict[str, float] = {}
    for column, values in scores.items():
        if not values:
            continue
        null_max[column] = max(values)
        null_mean[column] = sum(values) / len(values)
        thresholds[column] = threshold_of(usable.kind(column), null_max[column], margin)
    return Calibration(
        window_rows=window_rows,
        resamples=resamples,
        margin=margin,
        thresholds=thresholds,
        null_max=null_max,
        null_mean=null_mean,
        kinds={c: usable.kind(c) for c in thresholds},
    )


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    kind: str
    method: str
    score: float
    threshold: float

    @property
    def drifted(self) -> bool:
        return self.score >= self.threshold

    @property
    def excess(self) -> float:
        """Score over threshold: > 1 means drifted; used to rank the features that moved."""
        return self.score / self.threshold if self.threshold > 0 else math.inf


@dataclass(frozen=True)
class DriftResult:
    rows: int
    columns: list[ColumnDrift]
    min_columns: int
    snapshot_json: str = field(repr=False)

    @property
    def drifted_columns(self) -> list[ColumnDrift]:
        """The columns that moved, strongest first."""
        return sorted((c for c in self.columns if c.drifted), key=lambda c: -c.excess)

    @property
    def share_drifted(self) -> float:
        return len(self.drifted_columns) / len(self.columns) if self.columns else 0.0

    @property
    def drifted(self) -> bool:
        return len(self.drifted_columns) >= self.min_columns

    def summary(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "drifted": self.drifted,
            "share_drifted": self.share_drifted,
            "min_columns": self.min_columns,
            "columns": [
                {
                    "column": c.column,
                    "kind": c.kind,
                    "method": c.method,
                    "score": c.score,
                    "threshold": c.threshold,
                    "drifted": c.drifted,
                }
                for c in self.columns
            ],
        }


class ReferenceData:
    """The reference rows, with their Evidently dataset built once per column set.

    Building a ``Dataset`` collects per-column statistics; for the reference, which never
    changes, that is done once instead of at every window.
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._datasets: dict[tuple[tuple[str, ...], ...], Dataset] = {}

    def dataset(self, columns: ColumnSet) -> Dataset:
        key = (columns.numerical, columns.categorical, columns.text)
        if key not in self._datasets:
            self._datasets[key] = Dataset.from_pandas(
                _prepare(self.frame, columns), data_definition=columns.definition()
            )
        return self._datasets[key]


def evaluate(
    reference: pd.DataFrame | ReferenceData,
    window: pd.DataFrame,
    columns: ColumnSet,
    calibration: Calibration,
    *,
    min_columns: int,
) -> DriftResult:
    """One window against the reference: an Evidently snapshot and the per-column verdicts."""
    usable = ColumnSet(
        numerical=tuple(c for c in columns.numerical if c in calibration.thresholds),
        categorical=tuple(c for c in columns.categorical if c in calibration.thresholds),
        text=tuple(c for c in columns.text if c in calibration.thresholds),
    ).usable(window)
    thresholds = calibration.for_rows(len(window))
    thresholds = {c: thresholds[c] for c in usable.names}
    metric = ColumnDriftScores(
        numerical=list(usable.numerical),
        categorical=list(usable.categorical),
        text=list(usable.text),
        thresholds=thresholds,
        tests={c: [lte(t)] for c, t in thresholds.items()},
    )
    ref = reference if isinstance(reference, ReferenceData) else ReferenceData(reference)
    with _quiet():
        snapshot = Report([metric]).run(
            Dataset.from_pandas(_prepare(window, usable), data_definition=usable.definition()),
            ref.dataset(usable),
        )
    values = _values(snapshot.dict())
    result_columns = [
        ColumnDrift(
            column=c,
            kind=usable.kind(c),
            method=usable.method(c),
            score=float(values[c]),
            threshold=thresholds[c],
        )
        for c in usable.names
        if c in values
    ]
    return DriftResult(
        rows=len(window),
        columns=result_columns,
        min_columns=min_columns,
        snapshot_json=snapshot.json(),
    )


def _values(snapshot: Mapping[str, Any]) -> dict[str, float]:
    for metric in snapshot.get("metrics", []):
        if metric.get("config", {}).get("type", "").endswith(":ColumnDriftScores"):
            return {k: float(v) for k, v in metric["value"].items()}
    raise MonitoringError("the Evidently snapshot holds no ColumnDriftScores result")


def render_html(
    reference: pd.DataFrame,
    window: pd.DataFrame,
    columns: ColumnSet,
    calibration: Calibration,
) -> str:
    """The full Evidently ``DataDriftPreset`` page for one window (self-contained, ~4 MB).

    Same pinned methods and calibrated thresholds as the stored result; rendered on demand
    only, because it draws a plot per column.
    """
    usable = ColumnSet(
        numerical=tuple(c for c in columns.numerical if c in calibration.thresholds),
        categorical=tuple(c for c in columns.categorical if c in calibration.thresholds),
        text=tuple(c for c in columns.text if c in calibration.thresholds),
    ).usable(window)
    thresholds = calibration.for_rows(len(window))
    preset = DataDriftPreset(
        columns=usable.names,
        num_method=NUM_METHOD,
        cat_method=CAT_METHOD,
        text_method=TEXT_METHOD,
        per_column_threshold={c: thresholds[c] for c in usable.names},
    )
    definition = usable.definition()
    with _quiet():
        snapshot = Report([preset]).run(
            Dataset.from_pandas(_prepare(window, usable), data_definition=definition),
            Dataset.from_pandas(_prepare(reference, usable), data_definition=definition),
        )
        return str(snapshot.get_html_str(as_iframe=False))


def frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Feature rows as a DataFrame (one row per result)."""
    return pd.DataFrame.from_records(list(rows))
