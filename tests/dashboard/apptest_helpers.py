"""Driving the console with Streamlit's AppTest: start, log in, read what is shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
PASSWORD = "test-password"  # see conftest.users_file
HOSTILE = "**bold** ![img](http://example.invalid/x.png) <script>alert(1)</script>"
FIRST_FAULTY = "First faulty step"


def start(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=30)
    if query:
        at.query_params.update(query)
    at.run()
    assert not at.exception, at.exception
    return at


def login(at: AppTest, user: str, password: str = PASSWORD) -> AppTest:
    at.text_input(key="login_user").input(user)
    at.text_input(key="login_password").input(password)
    at.button(key="login_submit").click().run()
    assert not at.exception, at.exception
    return at


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> list[str]:
    return [str(e.value) for e in at.text] + [str(e.value) for e in at.code]


def markdowns(at: AppTest) -> list[str]:
    """Every element whose text is rendered as Markdown (st.markdown/write/caption, titles,
    alerts, metric labels and values)."""
    out = [str(e.value) for e in at.markdown] + [str(e.value) for e in at.caption]
    out += [str(e.value) for e in at.title] + [str(e.value) for e in at.subheader]
    out += [str(e.value) for e in at.header]
    out += [str(e.value) for e in at.success] + [str(e.value) for e in at.info]
    out += [str(e.value) for e in at.warning] + [str(e.value) for e in at.error]
    out += [f"{m.label} {m.value}" for m in at.metric]
    return out


def errors(at: AppTest) -> list[str]:
    """Error boxes, less the faulty-step marker (an st.error too, for its colour)."""
    return [e.value for e in at.error if e.value != FIRST_FAULTY]


def metric(at: AppTest, label: str) -> str:
    return next(str(m.value) for m in at.metric if m.label == label)


def has_button(at: AppTest, key: str) -> bool:
    try:
        at.button(key=key)
    except KeyError:
        return False
    return True


def field(name: str, request_id: str, version: int = 1) -> str:
    """The key of a decision-form field of one item version (dashboard/decision_form.py)."""
    return f"{name}:{request_id}:{version}"


def queue_table(at: AppTest) -> Any:
    """The queue page's list of items (one st.dataframe, keyed ``queue_table:<n>``)."""
    return next(df for df in at.dataframe if (df.key or "").startswith("queue_table"))


def listed(at: AppTest) -> list[str]:
    """The request ids the queue page lists, in order."""
    return [str(r) for r in queue_table(at).value["request"]]


def open_item(at: AppTest, request_id: str) -> AppTest:
    """Select the item's row in the queue table, as a click on it in the browser does."""
    table = queue_table(at)
    row = listed(at).index(request_id)
    at.session_state[table.key] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception
    return at


def claim(at: AppTest) -> AppTest:
    at = click(at, "claim")
    assert errors(at) == [], errors(at)
    return at
