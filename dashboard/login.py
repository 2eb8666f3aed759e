"""Who is using the console: a password form against the users file, or OIDC (``st.login``).

``VIGIL_CONSOLE_AUTH``: ``password``, ``oidc``, or ``auto`` (the default: OIDC when the
console's ``.streamlit/secrets.toml`` has an ``[auth]`` section, which ``st.login`` needs,
else passwords). Under OIDC the identity provider proves the e-mail; the users file maps it
to a role (``email = ...``), and an unlisted identity gets ``VIGIL_CONSOLE_OIDC_DEFAULT_ROLE``
or is refused. Either way the role is looked up again at every rerun, so removing a user or
changing a role takes effect at once. Passwords are never logged or kept in the session.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from vigil.dashboard.auth import User, UserDirectory
from vigil.dashboard.roles import ROLES, Role
from vigil.exceptions import ConfigError

AuthMode = Literal["password", "oidc"]
USER_KEY = "user"
# Session keys dropped at log-out (the navigation and form state of the previous user).
SESSION_KEYS = (USER_KEY, "page", "item", "nav", "flash", "queue_page", "queue_view", "url_item")


def auth_mode(setting: str, secrets_have_auth: bool) -> AuthMode:
    """Which sign-in the console uses (pure, so the switch is unit-tested)."""
    if setting == "password":
        return "password"
    if setting == "oidc":
        if not secrets_have_auth:
            raise ConfigError(
                "VIGIL_CONSOLE_AUTH=oidc needs an [auth] section in .streamlit/secrets.toml "
                "(redirect_uri, cookie_secret, client_id, client_secret, server_metadata_url)"
            )
        return "oidc"
    if setting == "auto":
        return "oidc" if secrets_have_auth else "password"
    raise ConfigError(f"VIGIL_CONSOLE_AUTH={setting!r}: use auto, password or oidc")


def oidc_user(users: UserDirectory, claims: Mapping[str, Any], default_role: str) -> User | None:
    """The console user of an OIDC identity (its ID-token claims), or None if refused.

    Only a verified e-mail identifies someone: a provider that says ``email_verified: false``
    is not trusted with it.
    """
    email = claims.get("email")
    if not isinstance(email, str) or not email.strip():
        return None
    if claims.get("email_verified") is False:
        return None
    listed = users.by_email(email)
    if listed is not None:
        return listed
    if default_role in ROLES:
        return User(email.strip().lower(), cast(Role, default_role))
    return None


def secrets_have_auth() -> bool:
    try:
        return "auth" in st.secrets
    except StreamlitSecretNotFoundError:  # no secrets.toml at all (stack notes §5, pitfall 1)
        return False


def current_user(users: UserDirectory, mode: AuthMode, default_role: str) -> User | None:
    if mode == "oidc":
        if not st.user.is_logged_in:
            return None
        return oidc_user(users, st.user.to_dict(), default_role)
    name = st.session_state.get(USER_KEY)
    return users.get(name) if isinstance(name, str) else None


def render_login(users: UserDirectory, mode: AuthMode, provider: str) -> None:
    st.title("Vigil review console")
    if mode == "oidc":
        if st.user.is_logged_in:
            # Signed in at the provider, but no role here: say so, offer to switch accounts.
            st.error("Your account has no role in this console. Ask an admin to add you.")
            if st.button("Log out", key="logout"):
                st.logout()
            return
        if st.button("Log in with single sign-on", key="login_sso", type="primary"):
            st.login(provider) if provider else st.login()
        return
    with st.form("login"):
        name = st.text_input("User", key="login_user")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Log in", key="login_submit")
    if not submitted:
        return
    user = users.authenticate(name.strip(), password)
    if user is None:
        st.error("Wrong user name or password.")
        return
    st.session_state[USER_KEY] = user.name
    st.rerun()


def log_out(mode: AuthMode) -> None:
    for key in SESSION_KEYS:
        st.session_state.pop(key, None)
    if mode == "oidc":
        st.logout()
    st.rerun()
