"""The reference every window is compared with: built once, calibrated once, stored.

Three sources (``VIGIL_MONITOR_REFERENCE``):

* ``baseline``: the first ``monitor.reference_rows`` product results the monitor sees. The
  right default: "normal" is what this model did on this traffic when monitoring began.
* ``gsm8k-train``: the human-written solutions of GSM8K ``train.jsonl`` run through the same
  features. Model outputs differ from human reasoning, so expect that distance to show as drift
  from the first window: use it to watch the gap to human reasoning, not for regressions.
* a path: a JSONL file of ``InferenceResult`` records (e.g. a day of healthy traffic exported
  with ``vigil tail llm.results``).

The stored form (zlib-compressed JSON of the feature columns, the column types and the
calibration) is what a restarted monitor loads: the reference is never rebuilt per window.
"""

from __future__ import annotations

import functools
import math
import random
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from vigil.exceptions import ContractError
from vigil.streams.monitoring.drift import Calibration, ColumnSet, ReferenceData, calibrate, frame
from vigil.streams.monitoring.exceptions import ReferenceDataError
from vigil.streams.monitoring.features import (
    CATEGORICAL,
    TEXT,
    extract_features,
    numerical_columns,
)
from vigil.streams.monitoring.verdicts import Verdicts
from vigil_client.contracts import InferenceResult

FORMAT_VERSION = 1


def compared_columns(columns: Sequence[str], *, text: bool = True) -> ColumnSet:
    """The feature columns compared for drift, among those present."""
    return ColumnSet(
        numerical=tuple(numerical_columns(columns)),
        categorical=tuple(c for c in CATEGORICAL if c in columns),
        text=tuple(c for c in TEXT if c in columns) if text else (),
    )


@dataclass(frozen=True)
class Reference:
    source: str
    built_at: float
    frame: pd.DataFrame
    columns: ColumnSet
    calibration: Calibration

    @property
    def rows(self) -> int:
        return len(self.frame)

    @functools.cached_property
    def data(self) -> ReferenceData:
        """The rows as Evidently sees them, built once for every window to compare with."""
        return ReferenceData(self.frame)

    def describe(self) -> dict[str, Any]:
        """What the console shows about the reference (no data)."""
        return {
            "source": self.source,
            "built_at": datetime.fromtimestamp(self.built_at, UTC).isoformat(),
            "rows": self.rows,
            "columns": self.columns.names,
            "calibration": self.calibration.to_dict(),
        }

    def to_bytes(self) -> bytes:
        data = {
            c: [None if _missing(v) else v for v in self.frame[c].tolist()]
            for c in self.columns.names
        }
        doc = {
            "format": FORMAT_VERSION,
            "source": self.source,
            "built_at": self.built_at,
            "columns": {
                "numerical": list(self.columns.numerical),
                "categorical": list(self.columns.categorical),
                "text": list(self.columns.text),
            },
            "calibration": self.calibration.to_dict(),
            "data": data,
        }
        return zlib.compress(orjson.dumps(doc), 6)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Reference:
        try:
            doc = orjson.loads(zlib.decompress(raw))
        except (zlib.error, orjson.JSONDecodeError) as exc:
            raise ReferenceDataError(f"stored reference is unreadable: {exc}") from exc
        if doc.get("format") != FORMAT_VERSION:
            raise ReferenceDataError(f"stored reference has format {doc.get('format')!r}")
        cols = doc["columns"]
        columns = ColumnSet(
            numerical=tuple(cols["numerical"]),
            categorical=tuple(cols["categorical"]),
            text=tuple(cols["text"]),
        )
        df = pd.DataFrame(doc["data"])
        for c in columns.numerical:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
        return cls(
            source=str(doc["source"]),
            built_at=float(doc["built_at"]),
            frame=df,
            columns=columns,
            calibration=Calibration.from_dict(doc["calibration"]),
        )


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def build_reference(
    rows: Sequence[Mapping[str, Any]],
    *,
    source: str,
    window_rows: int,
    resamples: int,
    margin: float,
    text: bool = True,
    seed: int = 0,
) -> Reference:
    """Calibrate thresholds for windows of ``window_rows`` on these rows; seconds of work."""
    if not rows:
        raise ReferenceDataError(f"reference {source!r} has no rows")
    df = frame(rows)
    columns = compared_columns(list(df.columns), text=text).usable(df)
    calibration = calibrate(
        df, columns, window_rows=window_rows, resamples=resamples, margin=margin, seed=seed
    )
    kept = ColumnSet(
        numerical=tuple(c for c in columns.numerical if c in calibration.thresholds),
        categorical=tuple(c for c in columns.categorical if c in calibration.thresholds),
        text=tuple(c for c in columns.text if c in calibration.thresholds),
    )
    return Reference(
        source=source,
        built_at=time.time(),
        frame=df[kept.names].reset_index(drop=True),
        columns=kept,
        calibration=calibration,
    )


def solution_result(n: int, question: str, solution: str) -> InferenceResult:
    """A human solution as if a model had written it (``n`` keeps request ids apart)."""
    return InferenceResult(
        request_id=f"reference-{n}",
        request_created_at=datetime.now(UTC),
        prompt=question,
        output=solution,
        model_name="reference",
        model_version="reference",
        latency_ms=0.0,
    )


def judged_rows(results: Sequence[InferenceResult], verdicts: Verdicts) -> list[dict[str, Any]]:
    """The feature rows of ``results``, judged by the worker's checks (``verdicts.py``)."""
    return [extract_features(j.result, j.outcome) for j in verdicts.judge(results)]


def gsm8k_train_rows(
    path: Path, limit: int, verdicts: Verdicts, seed: int = 0
) -> list[dict[str, Any]]:
    """``limit`` solutions drawn at random from GSM8K ``train.jsonl``."""
    if not path.is_file():
        raise ReferenceDataError(f"GSM8K train file not found: {path}")
    pairs: list[tuple[str, str]] = []
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
                pairs.append((str(obj["question"]), str(obj["answer"])))
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                raise ReferenceDataError(f"{path}:{lineno}: not a train row ({exc})") from exc
    rng = random.Random(seed)
    picked = rng.sample(pairs, min(limit, len(pairs)))
    rows = judged_rows([solution_result(n, q, a) for n, (q, a) in enumerate(picked)], verdicts)
    for row in rows:
        # Not measured for a human solution: left out of the comparison (no values).
        row["latency_ms"] = math.nan
        row["model_version"] = None
    return rows


def results_file_rows(path: Path, limit: int, verdicts: Verdicts) -> list[dict[str, Any]]:
    """Rows of a JSONL file of ``InferenceResult`` records (the first ``limit``)."""
    if not path.is_file():
        raise ReferenceDataError(f"reference file not found: {path}")
    results: list[InferenceResult] = []
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if len(results) >= limit:
                break
            if not line.strip():
                continue
            try:
                results.append(InferenceResult.from_json(line))
            except ContractError as exc:
                raise ReferenceDataError(f"{path}:{lineno}: {exc}") from exc
    return judged_rows(results, verdicts)


def load_source_rows(
    source: str, *, limit: int, train_path: Path, verdicts: Verdicts
) -> list[dict[str, Any]] | None:
    """Rows for a file-based source; None for ``baseline`` (built from live traffic).

    ``verdicts``: the worker's checks, with an answer history of the reference's own (its
    answers are not live traffic's earlier answers).
    """
    if source == "baseline":
        return None
    if source == "gsm8k-train":
        return gsm8k_train_rows(train_path, limit, verdicts)
    return results_file_rows(Path(source), limit, verdicts)
