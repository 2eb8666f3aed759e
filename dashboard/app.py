"""Vigil review console: ``streamlit run dashboard/app.py`` (``vigil up`` starts it on loopback).

A Streamlit script, run top to bottom on every interaction; the work is in ``views``.
Settings come from ``VIGIL_*`` environment variables (see vigil/settings.py).
"""

from __future__ import annotations

import streamlit as st

from dashboard import views
from vigil.exceptions import ConfigError

st.set_page_config(page_title="Vigil review", page_icon="🔎", layout="wide")

settings = views.get_settings()
try:
    users = views.get_users(settings.users_file)
except ConfigError as exc:
    st.error(str(exc))
    st.stop()

user = views.current_user(users)
if user is None:
    views.render_login(users)
    st.stop()

views.render_sidebar(user)
queue = views.get_queue(settings.redis_url)
selected = views.open_item()
if selected is None:
    st.title("Review queue")
    views.render_queue(queue)
else:
    views.render_item(queue, selected, user)
