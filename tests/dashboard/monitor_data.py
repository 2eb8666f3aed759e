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
