"""Where the user is: the page, and the open item; mirrored in the URL (``?item=<id>``).

Alerts and webhooks link sample items as ``<console>/?item=<request_id>``: such a link
opens the item (after the login, since the query string stays in the address). The session
state is the source of truth; the URL follows it so that an address can be shared.
"""

from __future__ import annotations

import streamlit as st

from vigil.dashboard.auth import User
from vigil.dashboard.roles import allowed

PAGES: dict[str, str] = {
    "queue": "Queue",
    "monitoring": "Monitoring",
    "alerts": "Alerts",
    "checks": "Checks",
    "team": "Team",
}
_PAGE, _ITEM, _NAV, _URL_ITEM, _FLASH = "page", "item", "nav", "url_item", "flash"


def pages_for(user: User) -> list[str]:
    return [p for p in PAGES if p != "team" or allowed(user.role, "view_team")]


def follow_url() -> None:
    """Open the item a ``?item=`` link names, once per link (going back to the queue
    clears the parameter, so the link does not re-open it)."""
    linked = st.query_params.get("item")
    if linked and linked != st.session_state.get(_URL_ITEM):
        st.session_state[_URL_ITEM] = linked
        st.session_state[_ITEM] = linked


def open_item(request_id: str) -> None:
    st.session_state[_ITEM] = request_id
    st.session_state[_URL_ITEM] = request_id
    st.session_state.pop(_FLASH, None)
    st.query_params["item"] = request_id


def close_item() -> None:
    st.session_state.pop(_ITEM, None)
    st.session_state.pop(_FLASH, None)
    st.query_params.pop("item", None)


def go(page: str) -> None:
    """Switch to a list page (closing any open item); for buttons' ``on_click``."""
    close_item()
    st.session_state[_NAV] = page


def current_item() -> str | None:
    value = st.session_state.get(_ITEM)
    return value if isinstance(value, str) and value else None


def render_sidebar_nav(user: User) -> str:
    """The page menu (only the pages this role may see); returns the chosen page."""
    options = pages_for(user)
    if st.session_state.get(_NAV) not in options:
        st.session_state[_NAV] = "queue"
    return str(
        st.radio(
            "Page",
            options,
            format_func=PAGES.__getitem__,
            key=_NAV,
            on_change=close_item,
        )
    )


def flash(message: str) -> None:
    """A one-time confirmation shown at the top of the next run of the item page."""
    st.session_state[_FLASH] = message


def take_flash() -> str | None:
    value = st.session_state.get(_FLASH)
    return str(value) if value else None
