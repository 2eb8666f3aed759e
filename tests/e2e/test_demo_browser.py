"""The demo story in a real browser: ``vigil up --demo-speed 6`` on a stack of its own, until
the silent swap's drift alert; the lead sees the demo banner, the alert on the Alerts page,
and opens its sample, which is in the review queue tagged with the alert.

About two minutes: the minute the swap waits for the stack's start, 25 s of the story at
speed 6, two drifted windows. The traffic is not sped up as much (``--rate``): 6 x 4 req/s
per product outruns a 2-core machine's monitor, and the alert would come minutes late.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import isolated_settings
from vigil.reviewers.queue import ReviewQueue
from vigil.streams.monitoring.store import MonitorStore
from vigil_client.contracts import Alert

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.triton, pytest.mark.browser]

SPEED = 6
RATE = 1.5  # per product, times SPEED: 18 req/s in all
WAIT_MS = 30_000


def _drift_alert(store: MonitorStore) -> Alert | None:
    return next((a for a in store.alerts(50) if a.kind == "drift"), None)


def test_the_demo_raises_a_drift_alert_seen_on_the_alerts_page_with_its_sample_queued(
    tmp_path: Path, browser: Any, artifacts: Path
) -> None:
    settings = isolated_settings(tmp_path)
    t0 = time.monotonic()
    log = (tmp_path / "up.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigil.cli", "up", "--demo-speed", str(SPEED), "--rate", str(RATE)],
        env={**os.environ, **settings.as_env()},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        alert, store, error = None, None, ""
        while alert is None and time.monotonic() - t0 < 200:
            assert proc.poll() is None, (tmp_path / "up.log").read_text()
            time.sleep(2)
            try:
                # Made once Redis is up: the connection reads the secret the stack writes.
                store = store or MonitorStore.connect(
                    settings.redis_connection, settings.monitor.app_id
                )
                alert = _drift_alert(store)
            except Exception as exc:  # Redis not up yet
                store, error = None, repr(exc)
                continue
        assert alert is not None, f"{error}\n" + (tmp_path / "up.log").read_text()
        t_alert = time.monotonic() - t0
        # Same name, same version label: the change was found in the outputs.
        assert alert.model_versions == ["1"], alert.model_versions
        assert alert.sample_request_ids
        queue = ReviewQueue.connect(settings.redis_connection)
        rid = alert.sample_request_ids[0]
        item = queue.get(rid)
        assert item is not None and item.alert_id == alert.alert_id

        context = browser.new_context(viewport={"width": 1400, "height": 2600})
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{settings.console.port}/", wait_until="domcontentloaded")
        page.get_by_label("User").fill("lead")
        page.get_by_label("Password", exact=True).fill("vigil-demo")
        page.get_by_role("button", name="Log in").click()
        page.get_by_text("Logged in as lead").wait_for(timeout=WAIT_MS)
        page.get_by_text("Demo running").first.wait_for(timeout=WAIT_MS)
        page.get_by_text("Alerts", exact=True).click()
        page.get_by_text(f"[raised] drift: {alert.title}").first.wait_for(timeout=WAIT_MS)
        page.wait_for_timeout(500)
        page.screenshot(path=str(artifacts / "demo-alerts.png"))
        # The drift alert's first sample, opened from the alert: the item page of the queue.
        # (Each alert is a container keyed alert-<n>; the sample's id is shown in it.)
        card = (
            page.locator('div[class*="st-key-alert-"]')
            .filter(has_text="[raised] drift:")
            .filter(has_text=rid)
            .first
        )
        card.locator('[class*="-open-0"]').get_by_role("button", name="Open item").click()
        page.get_by_text(rid, exact=True).first.wait_for(timeout=WAIT_MS)
        page.get_by_text("Claim this item").first.wait_for(timeout=WAIT_MS)
        page.screenshot(path=str(artifacts / "demo-alert-sample.png"))
        assert page.get_by_text("Traceback").count() == 0
        context.close()
        print(f"\ndemo x{SPEED}: drift alert {t_alert:.0f}s after `vigil up`")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
