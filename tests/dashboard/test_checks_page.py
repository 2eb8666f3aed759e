"""The checks page through AppTest against the real Redis: precision per check measured by
reviewers next to the offline one, and the miss rate of the random sample of clean results."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis

from tests.dashboard.apptest_helpers import HOSTILE, errors, login, markdowns, metric, start, texts
from tests.dashboard.monitor_data import error_rate_block, window_summary
from tests.reviewers.helpers import decision
from vigil.reviewers.outcomes import RANDOM_SAMPLE
from vigil.reviewers.queue import ReviewQueue
from vigil.streams.monitoring.store import MonitorStore
from vigil_client.contracts import CheckResult, ReviewItem

MakeItem = Callable[..., ReviewItem]
CLEAN = [CheckResult(check="self_consistency", score=0.1, flagged=False)]


def _checks_page(user: str) -> Any:
    at = login(start(), user)
    assert "Checks" in at.sidebar.radio(key="nav").options
    at.sidebar.radio(key="nav").set_value("checks").run()
    assert not at.exception, at.exception
    assert errors(at) == [], errors(at)
    return at


def _table(at: Any, first_column: str) -> Any:
    """The page's table whose first column is ``first_column`` (display tables have no key)."""
    return next(df.value for df in at.dataframe if df.value.columns[0] == first_column)


def _settle(queue: ReviewQueue, item: ReviewItem, kind: str) -> None:
    queue.enqueue(item)
    queue.decide(decision(item, kind, reviewer="reviewer1"))


def test_checks_page_shows_precision_and_the_miss_rate(
    console_env: redis.Redis, make_item: MakeItem
) -> None:
    queue = ReviewQueue(console_env)
    plugin = [CheckResult(check=f"plugin {HOSTILE}", score=0.9, flagged=True)]
    _settle(queue, make_item("f1"), "reject")  # flagged by "arithmetic"
    _settle(queue, make_item("f2", checks=plugin), "approve")
    for rid, version, kind in [
        ("s1", "175b_verification", "approve"),
        ("s2", "175b_verification", "correct"),
        ("s3", "175b_verification", "approve"),
        ("s4", f"6b {HOSTILE}", "approve"),
    ]:
        item = make_item(rid, route=RANDOM_SAMPLE, checks=CLEAN, model_version=version)
        _settle(queue, item, kind)

    at = _checks_page("viewer1")  # every role may see it
    shown = texts(at)
    assert (
        "Items settled in this period: 6. Found wrong by reviewers: 2 (rejected or corrected), "
        "2 of them with a wrong final answer." in shown
    )
    assert metric(at, "Unflagged outputs reviewed") == "4"
    assert metric(at, "Found wrong") == "1"
    assert metric(at, "Miss rate") == "25%"
    # Wilson 95% of 1/4: 0.0456-0.6994.
    assert (
        "Of 4 unflagged outputs reviewed, reviewers found 1 wrong: the checks miss about 25% "
        "(95% CI 5%-70%)." in shown
    )
    miss = _table(at, "model version")
    assert miss.to_dict("records") == [
        {
            "model version": "175b_verification",
            "reviewed": 3,
            "wrong": 1,
            "miss rate": "33%",
            "95% CI": "6%-79%",
        },
        {
            "model version": f"6b {HOSTILE}",
            "reviewed": 1,
            "wrong": 0,
            "miss rate": "0%",
            "95% CI": "0%-79%",
        },
    ]
    rows = {r["check"]: r for r in _table(at, "check").to_dict("records")}
    assert (
        rows["arithmetic"]["flagged, reviewed"] == 1 and rows["arithmetic"]["precision"] == "100%"
    )
    assert rows["arithmetic"]["offline precision"] == ""  # not in the eval
    assert rows[f"plugin {HOSTILE}"]["precision"] == "0%"
    assert rows[f"plugin {HOSTILE}"]["95% CI"] == "0%-79%"
    # Checks measured offline only: the labelled data's precision, nothing reviewed yet.
    offline = rows["step_verification"]
    assert offline["flagged, reviewed"] == 0 and offline["precision"] == ""
    assert offline["offline precision"].endswith("%") and offline["offline flags"] > 0
    assert any(t.startswith("Offline: vigil eval on") for t in shown)
    for value in markdowns(at):
        assert "example.invalid" not in value and "<script>" not in value


def test_checks_page_says_how_to_turn_sampling_on(
    console_env: redis.Redis, make_item: MakeItem
) -> None:
    _settle(ReviewQueue(console_env), make_item("f1"), "approve")
    at = _checks_page("reviewer1")
    assert any(t.startswith("Items settled in this period: 1. ") for t in texts(at))
    (info,) = [i.value for i in at.info if "random-sample" in i.value]
    assert "No random-sample reviews" in info and "clean_rate" in info
    assert "VIGIL_CHECKS_CONFIG" in info
    assert not at.metric


def _error_rate_windows(client: redis.Redis) -> None:
    store = MonitorStore(client, "vigil-monitor")
    for n, at in enumerate((1_700_000_000.0, 1_700_000_600.0), 1):
        summary = window_summary(n, at, drifted=False)
        summary["error_rate"] = error_rate_block(at, n)
        store.put_window(summary["window_id"], at, summary, None, None)


def test_checks_page_shows_the_estimated_error_rate_and_check_agreement(
    console_env: redis.Redis, make_item: MakeItem
) -> None:
    _error_rate_windows(console_env)
    queue = ReviewQueue(console_env)
    _settle(queue, make_item("alarm"), "approve")  # "arithmetic" flagged; reviewers approved
    _settle(queue, make_item("hit"), "reject")
    miss = make_item("miss", route=RANDOM_SAMPLE, checks=CLEAN)
    _settle(queue, miss, "reject")  # self_consistency did not flag; reviewers found it wrong

    at = _checks_page("viewer1")
    # 0.9 x 10 % + 0.1 x 70 % = 16 %, the clean stratum's interval carried over.
    assert metric(at, "Estimated wrong") == "16.0%"
    table = _table(at, "group")
    overall = table.to_dict("records")[0]
    assert overall["group"] == "all" and overall["screened"] == 1000
    assert overall["reviewed"] == 140 and overall["model alone"] == "12.5%"
    assert overall["wrong among reviewed"] == "52.9%"  # 74 of 140: the naive, biased rate
    assert overall["95% CI"] and overall["labels alone 95% CI"]
    assert any(t.startswith("Risk model in use: prior: the hand weights") for t in texts(at))
    assert any(t.startswith("Estimated share wrong over time") for t in texts(at))

    agreement = {
        r["check"]: r
        for df in at.dataframe
        if "Cohen's kappa" in df.value.columns
        for r in df.value.to_dict("records")
    }
    arithmetic = agreement["arithmetic"]
    assert (arithmetic["flagged, found wrong"], arithmetic["flagged, approved"]) == (1, 1)
    consistency = agreement["self_consistency"]
    assert consistency["not flagged, found wrong"] == 2 and consistency["items"] == 3
    # A disagreement opens in the item page.
    at.selectbox(key="agree_check").set_value("arithmetic").run()
    assert at.selectbox(key="agree_item").options == ["alarm  (flagged, approved)"]
    at.button(key="agree_open").click().run()
    assert not at.exception, at.exception
    assert miss.prompt in texts(at)  # the item page, with the item's text
    assert at.query_params["item"] in ("alarm", ["alarm"])
