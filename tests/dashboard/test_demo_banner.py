"""The demo's banner on the console (AppTest, real Redis): shown on every page while the
stack's demo file exists, with where the story is now and what comes next; gone without it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.dashboard.apptest_helpers import login, markdowns, start
from vigil.demo import demo_plan
from vigil.settings import load_settings


def _page(at: Any, name: str) -> Any:
    at.sidebar.radio(key="nav").set_value(name).run()
    assert not at.exception, at.exception
    return at


def _banner(at: Any) -> list[str]:
    return [str(i.value) for i in at.info if "Demo running" in str(i.value)]


@pytest.fixture
def run_dir(console_env: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VIGIL_RUN_DIR", str(tmp_path))
    return tmp_path


def test_the_banner_says_where_the_demo_is_on_every_page(run_dir: Path) -> None:
    started = time.time() - 70
    plan = demo_plan(load_settings(), speed=2, now=started, reviewers=2)
    # Traffic from 10 s in: the reference (240 rows at 16/s) came at ~25 s, the swap is due
    # at 60 + 75 = 135 s.
    plan.write(load_settings(run_dir=run_dir).demo_file, started, started + 10)
    at = login(start(), "reviewer1")
    for page in ("queue", "monitoring", "alerts", "checks"):
        at = _page(at, page)
        (banner,) = _banner(at)
        assert "speed x2" in banner, page
        assert "Now: bias finding" in banner or "Now: monitor reference ready" in banner
        assert "Next, at 2:15: silent regression" in banner
        assert "same name, same version label" in banner
    captions = [str(c.value) for c in at.caption]
    assert any("sim-reviewer-1, sim-reviewer-2" in c and "not by people" in c for c in captions)
    timeline = [c for c in captions if c.startswith(("✓", "·"))]
    assert len(timeline) == 5 and timeline[0].startswith("✓ 0:10 traffic")
    assert any(c.startswith("· ~") and "drift alert" in c for c in timeline)


def test_no_banner_without_a_demo(run_dir: Path) -> None:
    at = login(start(), "reviewer1")
    assert _banner(at) == [] and not any("Demo" in m for m in markdowns(at))
    # An unreadable file (a half-written one, an old format) shows nothing, not an error.
    load_settings(run_dir=run_dir).demo_file.write_text("{not json")
    at.run()
    assert not at.exception and _banner(at) == []
