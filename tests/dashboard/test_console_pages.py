"""Monitoring, alerts and team pages, and OIDC sign-in, through AppTest against the real Redis.

The monitor's data is written with the monitor's own store (``MonitorStore``), in the shape
``streams/monitoring/monitor.py`` writes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.dashboard.apptest_helpers import (
    HOSTILE,
    PASSWORD,
    click,
    errors,
    has_button,
    login,
    markdowns,
    metric,
    start,
    texts,
)
from tests.dashboard.monitor_data import window_rows, window_summary
from tests.reviewers.helpers import decision
from vigil.dashboard.auth import hash_password
from vigil.reviewers.queue import ReviewQueue
from vigil.streams.monitoring.store import MonitorStore
from vigil_client.contracts import Alert, AlertSegment, ReviewItem

MakeItem = Callable[..., ReviewItem]
MONITOR = "vigil-monitor"  # the default VIGIL_MONITOR_APP_ID


@pytest.fixture
def monitor_data(console_env: redis.Redis, make_item: MakeItem) -> Alert:
    store = MonitorStore(console_env, MONITOR)
    store.put_reference(b"ref", {"source": "baseline", "rows": 2500, "built_at": "now"})
    t0 = time.time() - 600
    for n in range(1, 5):
        store.put_window(
            f"w{n:08d}", t0 + 60 * n, window_summary(n, t0 + 60 * n, n > 2), None, window_rows(n)
        )
    queue = ReviewQueue(console_env)
    alert = Alert(
        kind="bias",
        monitor=MONITOR,
        title=f"flag rate of locale=de-DE {HOSTILE}",
        summary=f"segment {HOSTILE} flagged 3x as often",
        window_id="w00000004",
        segment=AlertSegment(
            attribute="locale",
            value="de-DE",
            metric="flag_rate",
            segment_value=0.3,
            rest_value=0.1,
            ratio=0.33,
            p_value=1e-5,
            segment_rows=60,
            rest_rows=60,
        ),
        sample_request_ids=["sample-1", "sample-2"],
    )
    for rid in alert.sample_request_ids:
        queue.enqueue(make_item(rid, alert_id=alert.alert_id, tags=["alert", "bias"]))
    store.put_alert(alert)
    return alert


def _page(at: Any, name: str) -> Any:
    at.sidebar.radio(key="nav").set_value(name).run()
    assert not at.exception, at.exception
    return at


def test_monitoring_page_draws_charts_from_the_monitor_store(monitor_data: Alert) -> None:
    at = _page(login(start(), "reviewer1"), "monitoring")
    assert errors(at) == [], errors(at)
    shown = texts(at)
    assert any(t.startswith("4 windows, latest w00000004") for t in shown)
    subheaders = [s.value for s in at.subheader]
    for expected in (
        "Drift over time, per feature",
        "Bias by segment (latest window)",
        "Throughput and check rates",
        "Latency",
        "Mean check score per window",
        "Evidently report",
    ):
        assert expected in subheaders
    charts = at.get("vega_lite_chart")
    assert len(charts) >= 6  # drift, share drifted, bias, rates, latency, check scores
    assert not at.dataframe  # charts, not tables
    for value in markdowns(at):
        assert "example.invalid" not in value and "<script>" not in value
    # The report is asked for on demand; the monitor (not running here) renders it.
    at = click(at, "get_report")
    store = MonitorStore(redis.Redis.from_url(_url(at)), MONITOR)
    assert store.html_requests() == ["w00000004"]
    assert any("rendering the report" in i.value for i in at.info)
    store.put_html("w00000004", "<html><body>report</body></html>")
    at.run()
    at.run()  # the poll sees it and reruns the page once with the report
    assert at.get("download_button")


def _url(at: Any) -> str:
    import os

    return os.environ["VIGIL_REDIS_URL"]


def test_alerts_page_links_open_the_sampled_items(monitor_data: Alert) -> None:
    at = _page(login(start(), "reviewer1"), "alerts")
    shown = texts(at)
    assert f"[raised] bias: flag rate of locale=de-DE {HOSTILE}" in shown
    assert f"segment {HOSTILE} flagged 3x as often" in shown
    assert "Sampled items (2, 2 still in review):" in shown
    for value in markdowns(at):
        assert "example.invalid" not in value
    at = click(at, "alert-0-open-1")
    assert "sample-2" in texts(at) and has_button(at, "claim")


def test_team_page_for_leads_only(console_env: redis.Redis, make_item: MakeItem) -> None:
    queue = ReviewQueue(console_env)
    # Two items reviewed twice (one agreed, one not: that one goes to a lead), one breached.
    for rid in ("t1", "t2"):
        queue.enqueue(make_item(rid, reviews_required=2))
    queue.decide(decision("t1", "approve", "reviewer1"))
    queue.decide(decision("t1", "approve", "reviewer2"))
    queue.decide(decision("t2", "approve", "reviewer1"))
    queue.decide(decision("t2", "reject", "reviewer2"))
    queue.decide(decision("t2", "reject", "lead1"), tiers=("lead",))
    past = datetime.now(UTC) - timedelta(hours=2)
    queue.enqueue(make_item("late", enqueued_at=past, sla_deadline=past + timedelta(minutes=1)))
    assert queue.tick().breached == 1

    reviewer = login(start(), "reviewer1")
    assert "Team" not in reviewer.sidebar.radio(key="nav").options

    at = _page(login(start(), "lead1"), "team")
    assert errors(at) == [], errors(at)
    assert any(t.startswith("5 decisions on 2 items settled") for t in texts(at))
    assert metric(at, "Items with 2+ reviewers") == "2"
    assert metric(at, "Disagreements (to a lead)") == "1"
    assert metric(at, "Items that breached an SLA (retained)") == "1"
    assert "late" in texts(at)
    assert len(at.get("vega_lite_chart")) >= 3
    at = click(at, "breach-open-0")
    assert "late" in texts(at) and has_button(at, "claim")


# --- OIDC ---------------------------------------------------------------------------------

AUTH_SECRETS = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "test-cookie-secret",
    "client_id": "vigil",
    "client_secret": "secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}


@pytest.fixture
def oidc_env(console_env: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    users = tmp_path / "users.toml"
    users.write_text(
        '[users.alice]\nrole = "lead"\nemail = "Alice@Example.com"\n\n'
        f'[users.bob]\nrole = "reviewer"\npassword = "{hash_password(PASSWORD)}"\n'
    )
    monkeypatch.setenv("VIGIL_USERS_FILE", str(users))
    monkeypatch.setenv("VIGIL_CONSOLE_AUTH", "auto")
    return users


def _oidc_app(user: dict[str, Any]) -> Any:
    from streamlit.testing.v1 import AppTest

    from tests.dashboard.apptest_helpers import APP

    at = AppTest.from_file(str(APP), default_timeout=30)
    at.secrets["auth"] = AUTH_SECRETS
    at.user = user
    at.run()
    assert not at.exception, at.exception
    return at


def test_oidc_is_used_when_secrets_configure_it(oidc_env: Path) -> None:
    at = _oidc_app({"is_logged_in": False})
    assert has_button(at, "login_sso")
    assert not at.text_input  # no password form under OIDC

    at = _oidc_app({"is_logged_in": True, "email": "alice@example.com", "email_verified": True})
    assert "Logged in as alice (lead)" in [t.value for t in at.sidebar.text]
    assert "Team" in at.sidebar.radio(key="nav").options

    # An identity the users file does not list gets no role (the default role is empty).
    at = _oidc_app({"is_logged_in": True, "email": "mallory@example.com"})
    assert any("no role in this console" in e for e in errors(at))
    assert not has_button(at, "claim_next")


def test_password_login_when_no_auth_secrets(oidc_env: Path) -> None:
    at = login(start(), "bob")
    assert "Logged in as bob (reviewer)" in [t.value for t in at.sidebar.text]
    # alice signs in through OIDC only: her name has no password.
    at = login(start(), "alice", "")
    assert any("Wrong user name or password" in e.value for e in at.error)
