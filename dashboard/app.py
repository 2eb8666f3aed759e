"""Vigil review console: ``streamlit run dashboard/app.py`` (``vigil up`` starts it on loopback).

A Streamlit script, run top to bottom on every interaction: sign-in, the sidebar, then one
page (queue, item, monitoring, alerts, checks, team). Settings come from ``VIGIL_*``
environment variables (vigil/settings.py). Security rules, for every page: model output,
prompts and check text are hostile and shown with ``st.text``/``st.code``/``st.dataframe``
only; every action is checked against the user's role on the server (``actions.py``,
``roles.py``).
"""

from __future__ import annotations

import streamlit as st

from vigil.dashboard import (
    demo_banner,
    login,
    nav,
    page_alerts,
    page_checks,
    page_item,
    page_monitoring,
    page_queue,
    page_team,
    resources,
)
from vigil.exceptions import ConfigError

st.set_page_config(page_title="Vigil review", page_icon="🔎", layout="wide")

settings = resources.get_settings()
console = settings.console
try:
    users = resources.get_users(settings.users_file)
    mode = login.auth_mode(console.auth, login.secrets_have_auth())
    table = resources.get_reliability(console.check_reliability)
except ConfigError as exc:
    st.error(str(exc))
    st.stop()

nav.follow_url()
user = login.current_user(users, mode, console.oidc_default_role)
if user is None:
    login.render_login(users, mode, console.oidc_provider)
    st.stop()

page_item.mark_active()
with st.sidebar:
    st.text(f"Logged in as {user.name} ({user.role})")
    page = nav.render_sidebar_nav(user)
    if st.button("Log out", key="logout"):
        login.log_out(mode)
    st.caption("Keys: N claim next · A approve · X reject · B back · Alt+S save correction")

demo_banner.render(settings)
queue = resources.get_queue(settings.redis_url)
selected = nav.current_item()
if selected is not None:
    page_item.render(queue, user, settings, selected, table)
elif page == "monitoring":
    store = resources.get_monitor_store(settings.redis_url, settings.monitor.app_id)
    page_monitoring.render(store, user, console.refresh_s)
elif page == "alerts":
    store = resources.get_monitor_store(settings.redis_url, settings.monitor.app_id)
    page_alerts.render(store, queue, console.refresh_s)
elif page == "checks":
    store = resources.get_monitor_store(settings.redis_url, settings.monitor.app_id)
    page_checks.render(queue, user, table, store)
elif page == "team":
    page_team.render(queue, user)
else:
    page_queue.render(queue, user, settings)
