"""Monitor windows in the shape ``streams/monitoring/monitor.py`` stores them (for the console
tests: AppTest and the browser)."""

from __future__ import annotations

import zlib
from typing import Any

import orjson

from tests.dashboard.apptest_helpers import HOSTILE


def window_summary(n: int, closed_at: float, drifted: bool, prefix: str = "w") -> dict[str, Any]:
    score = 0.3 if drifted else 0.05
    return {
        "window_id": f"{prefix}{n:08d}",
        "opened_at": closed_at - 60,
        "closed_at": closed_at,
        "closed_by": "size",
        "rows": 120,
        "flag_rate": 0.25 if drifted else 0.1,
        "model_versions": {"175b_verification": 120},
        "judged": True,
        "drift": {
            "rows": 120,
            "drifted": drifted,
            "share_drifted": 0.4 if drifted else 0.0,
            "min_columns": 2,
            "columns": [
                {
                    "column": c,
                    "kind": "num",
                    "method": "wasserstein",
                    "score": score,
                    "threshold": 0.1,
                    "drifted": drifted,
                }
                for c in ("reasoning_chars", "step_count")
            ],
        },
        "bias": [
            {
                "attribute": "locale",
                "value": f"de-DE {HOSTILE}",
                "metric": "flag_rate",
                "segment_value": 0.3,
                "rest_value": 0.1,
                "ratio": 0.33,
                "p_value": 1e-5,
                "segment_rows": 60,
                "rest_rows": 60,
                "disparate": True,
            }
        ],
        "alerts": [],
        "stats": {"results": 120 * n},
    }


def window_rows(n: int) -> bytes:
    rows = [
        {"latency_ms": 10.0 + i % 10 + n, "check_step_verification": (i % 4) / 4, "flagged": 0.0}
        for i in range(120)
    ]
    return zlib.compress(orjson.dumps(rows))


def error_rate_block(closed_at: float, windows: int) -> dict[str, Any]:
    """The error-rate block the monitor stores with a window, computed by the same code
    (streams/calibration/production.py) from a known population: 900 clean results predicted
    5 % wrong (4 of the 40 sampled found wrong), 100 queued predicted 80 % (70 found wrong)."""
    from vigil.streams.calibration.production import (
        LabelledRow,
        estimate_groups,
        merge_pools,
        window_pools,
    )

    rows = [{"risk_score": 0.05, "verdict": "clean", "model_version": "m1"}] * 900
    rows += [{"risk_score": 0.8, "verdict": "queued", "model_version": "m1"}] * 100
    pools = window_pools(rows, [])["prior"]
    labels = [LabelledRow("clean", ("all", "model:m1"), i < 4, 0.05) for i in range(40)]
    labels += [LabelledRow("queued", ("all", "model:m1"), i < 70, 0.8) for i in range(100)]
    found = estimate_groups(merge_pools([pools]), labels)
    return {
        "model": {"version": "prior"},
        "since": closed_at - 3600,
        "windows": windows,
        "labels": len(labels),
        "groups": [g.to_dict() for g in found.values()],
        "recent": None,
        "earlier": None,
        "risen": False,
    }
