"""Times the demo story: ``vigil up --demo`` on a stack of its own, from the start to the
first queued item, the first drift window (the Monitoring chart's first point), the first
drift alert and the first bias alert. ``python bench/demo_bench.py [--speed S] [--limit-s T]``
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.conftest import isolated_settings
from vigil.reviewers.queue import ReviewQueue
from vigil.streams.monitoring.store import MonitorStore


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--limit-s", type=float, default=420.0)
    args = ap.parse_args()
    run_dir = Path(tempfile.mkdtemp(prefix="vigil-demo-bench-"))
    settings = isolated_settings(run_dir)
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigil.cli", "up", "--demo-speed", str(args.speed)],
        env={**os.environ, **settings.as_env()},
        stdout=(run_dir / "up.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    seen: dict[str, float] = {}
    try:
        queue: ReviewQueue | None = None
        store: MonitorStore | None = None
        while (
            time.monotonic() - t0 < args.limit_s
            and "drift_alert" not in seen
            and proc.poll() is None
        ):
            time.sleep(1.0)
            now = time.monotonic() - t0
            try:
                # Made once Redis is up: the connection reads the secret the stack writes.
                conn = settings.redis_connection
                queue = queue or ReviewQueue.connect(conn)
                store = store or MonitorStore.connect(conn, settings.monitor.app_id)
                if "queued" not in seen and queue.count_pending() > 0:
                    seen["queued"] = now
                if "reference" not in seen and store.reference_meta():
                    seen["reference"] = now
                if "window" not in seen and store.window_ids(1):
                    seen["window"] = now
                for alert in store.alerts(50):
                    key = f"{alert.kind}_alert"
                    if key not in seen:
                        seen[key] = now
                        print(
                            f"  {key}: {alert.title} (versions {alert.model_versions})", flush=True
                        )
                        queued = [queue.get(r) for r in alert.sample_request_ids]
                        in_queue = sum(i is not None and i.alert_id == alert.alert_id
                                       for i in queued)  # fmt: skip
                        print(f"  {key} samples in the review queue: {in_queue}/{len(queued)}")
            except Exception:  # Redis not up yet, or a part restarting: poll again
                queue = store = None
                continue
            print(f"  t={now:5.0f}s {sorted(seen.items(), key=lambda kv: kv[1])}", flush=True)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
    swap_s = settings_swap(run_dir)
    print(f"swap at {swap_s:.0f}s")
    print(f"speed x{args.speed:g}: " + ", ".join(f"{k} {v:.0f}s" for k, v in seen.items()))
    print(f"log: {run_dir / 'up.log'}")
    return 0


def settings_swap(run_dir: Path) -> float:
    """When the Triton child was told to swap (its environment, as the stack passed it)."""
    for line in (run_dir / "up.log").read_text().splitlines():
        if "silent regression" in line:
            clock = line.split()[0]
            m, s = clock.split(":")
            return 0.0 + int(m) * 60 + int(s)
    return float("nan")


if __name__ == "__main__":
    raise SystemExit(main())
