from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import streamlit as st

from tests.redis_fixtures import make_item, redis_client, redis_server
from vigil.dashboard.auth import hash_password

__all__ = ["make_item", "redis_client", "redis_server"]

PASSWORD = "test-password"


@pytest.fixture(scope="session")
def users_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One user per role, all with PASSWORD (hashing once per session: scrypt is slow-ish)."""
    path = tmp_path_factory.mktemp("console") / "users.toml"
    lines = []
    for role in ("viewer", "reviewer", "lead", "admin"):
        lines += [
            f"[users.{role}1]",
            f'role = "{role}"',
            f'password = "{hash_password(PASSWORD)}"',
            "",
        ]
    path.write_text("\n".join(lines))
    return path


@pytest.fixture
def console_env(
    redis_server: str, users_file: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[redis.Redis]:
    """Point the app at the test Redis (db 1, emptied) and users; yield a client on that db.

    The app uses the default key prefix, so each test starts from an empty database. Streamlit's
    resource cache is process-wide and AppTest runs the script in this process, so it is
    cleared too: the next run reads the settings patched here.
    """
    url = redis_server.rsplit("/", 1)[0] + "/1"
    monkeypatch.setenv("VIGIL_REDIS_URL", url)
    monkeypatch.setenv("VIGIL_USERS_FILE", str(users_file))
    client = redis.Redis.from_url(url)
    client.flushdb()
    st.cache_resource.clear()
    try:
        yield client
    finally:
        st.cache_resource.clear()
        client.close()
